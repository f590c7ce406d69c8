"""``wio demo``: the order example on the embedded SQLite journal, through a crash.

A child process runs order A-1 and is killed with SIGKILL while it sends the
confirmation email. A fresh runtime on the same journal then replays the
recorded steps (handlers only, no side effects), runs the interrupted step
again and finishes the order. A second order shows a declined payment being
handled by cancelling it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wio.definition import Workflow
from wio.errors import WioError
from wio.interpreter import format_path
from wio.loading import load_module
from wio.runtime import Runtime

EXAMPLE = Path(__file__).resolve().parent.parent / "docs" / "examples" / "order.py"
CRASH_MARKER = "sending the confirmation email"
LEASE_TTL = 1.0


def _example() -> Any:
    if not EXAMPLE.is_file():
        raise WioError(f"the demo runs {EXAMPLE}, which needs a source checkout of wio")
    return load_module(str(EXAMPLE))


def _definition(example: Any) -> Workflow[Any, Any, Any]:
    return Workflow(example.order_workflow, name="order")


class _PrintedEffects(list[str]):
    """Side effects, printed as they happen; the email one hangs, so the child can be killed."""

    def __init__(self, say: Callable[[str], None], hang_on_email: bool) -> None:
        super().__init__()
        self.say = say
        self.hang_on_email = hang_on_email

    def append(self, effect: str) -> None:
        if self.hang_on_email and effect.startswith("email"):
            self.say(f"{CRASH_MARKER} ... (slow mail server)")
            time.sleep(60)
        self.say(f"side effect: {effect}")
        super().append(effect)


def run_child(url: str) -> None:
    """The worker process that gets killed: runs order A-1 on the journal at ``url``."""

    def say(line: str) -> None:
        print(line, flush=True)

    example = _example()
    example.side_effects = _PrintedEffects(say, hang_on_email=True)
    with Runtime(_definition(example), journal=url, lease_ttl=LEASE_TTL) as runtime:
        runtime.create("A-1", example.Order("A-1", "ada@example.com", 4_200, ("book", "lamp")))
        runtime.get("A-1").advance()


def run_demo(say: Callable[[str], None]) -> int:
    example = _example()
    with tempfile.TemporaryDirectory(prefix="wio-demo-") as folder:
        url = f"sqlite:///{Path(folder) / 'demo.db'}"
        say(f"== journal: {url} (SQLite, the embedded default)\n")
        say("== 1. a worker process runs order A-1, and is killed mid-step")
        _crash_child(url, say)

        definition = _definition(example)
        with Runtime(definition, journal=url) as runtime:
            journal = runtime.journal
            assert journal is not None
            recorded = journal.read("A-1")
            say(f"   the journal holds {len(recorded)} event(s):")
            for stored in recorded:
                say(f"     #{stored.seq} {stored.type} {stored.payload}")

            say(f"\n== 2. this process resumes A-1 when the child's {LEASE_TTL:g}s lease expires")
            time.sleep(LEASE_TTL + 0.2)
            example.side_effects = _PrintedEffects(lambda line: say(f"   {line}"), False)
            instance = runtime.get("A-1")
            for step in instance.progress:
                if step.event_seq is not None:
                    say(f"   replayed: {step.name} (event #{step.event_seq}; handler only)")
            done = len(instance.progress)
            status = instance.advance()
            for step in instance.progress[done:]:
                say(f"   ran:      {step.name} (event #{step.event_seq})")
            say(f"   -> {status}: order is {instance.state.status}")
            types = [e.type for e in journal.read("A-1")]
            say(f"   journal: {', '.join(types)}: each event exactly once: {len(set(types)) == 3}")

            say("\n== 3. order B-2 is declined; the error handler cancels it")
            example.side_effects = _PrintedEffects(lambda line: say(f"   {line}"), False)
            declined = runtime.create(
                "B-2", example.Order("B-2", "bob@example.com", 250_000, ("piano",))
            )
            declined.advance()
            for step in declined.progress:
                outcome = "ok" if step.ok else f"error {step.value!r}"
                say(f"   {format_path(step.path):8} {step.name or step.kind:16} {outcome}")
            say(f"   -> {declined.status}: order is {declined.state.status}")
        ok = instance.state.status == "fulfilled" and declined.state.status == "cancelled"
        return 0 if ok else 1


def _crash_child(url: str, say: Callable[[str], None]) -> None:
    child = subprocess.Popen(
        [sys.executable, "-m", "wio.demo", url],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert child.stdout is not None
    try:
        for line in child.stdout:
            say(f"   child {child.pid} | {line.rstrip()}")
            if CRASH_MARKER in line:
                child.send_signal(signal.SIGKILL)
                break
        else:
            raise WioError("the demo's child process ended before the crash point")
    finally:
        if child.poll() is None:  # e.g. our reader went away: leave no orphan behind
            child.kill()
        child.wait(timeout=30)
        child.stdout.close()
    say(f"   killed child {child.pid} with SIGKILL while it was sending the email")


if __name__ == "__main__":
    run_child(sys.argv[1])
