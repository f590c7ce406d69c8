"""``python -m benchmarks.soak [--minutes 30] [--rate 10] [--max-backlog 100]``: a worker's
memory over a soak.

One `wio worker` process serves `benchmarks.flows.soak_workflow` on PostgreSQL
while this process creates up to ``rate`` instances a second and sends a
signal to every other one (the rest time out); every instance then waits on a
timer. The generator holds back in any second that starts with more than
``max-backlog`` unfinished instances, so the backlog stays bounded even when
the worker (on a loaded machine) serves fewer than ``rate`` a second: the
worker's memory then cannot grow with a backlog, only with what it keeps.

The worker's resident memory (RSS) is read every minute, with the backlog.
At one minute and at the end the worker also counts its garbage-collected
objects by type (and, with ``--tracemalloc``, takes a tracemalloc snapshot,
which costs memory of its own): the report lists what grew in between. The
result goes to benchmarks/soak.json, which `python -m benchmarks` reads for
target (6). A benchmark, not a test: it runs for half an hour.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections import Counter, deque
from pathlib import Path
from types import FrameType
from typing import Any

from benchmarks.flows import Ping, ping, soak_workflow
from benchmarks.suites import ROOT, fresh_schema, postgres_journal_url
from wio import Runtime, WioError
from wio.journal import InstanceStatus, open_journal

RESULT = ROOT / "benchmarks" / "soak.json"
UNFINISHED = (InstanceStatus.RUNNING, InstanceStatus.WAITING)
TOP = 15  # the types (and tracemalloc lines) reported as grown


def rss_kib(pid: int) -> int:
    """The resident set size of process ``pid``, in KiB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


# -- inside the worker process --------------------------------------------------------


def serve(probe: Path, worker_args: list[str]) -> int:
    """Run `wio worker` with ``worker_args``; on SIGUSR1 write to ``probe`` the
    gc-tracked objects by type and, when tracemalloc traces, its growth since the
    first SIGUSR1 (the snapshot stays in this process: nothing is pickled)."""
    from wio.cli import main as wio_main

    first: list[tracemalloc.Snapshot] = []

    def on_probe(_signum: int, _frame: FrameType | None) -> None:
        gc.collect()
        by_type = Counter(type(o).__qualname__ for o in gc.get_objects())
        report: dict[str, Any] = {"gc objects by type": dict(by_type.most_common())}
        if tracemalloc.is_tracing():
            snapshot = tracemalloc.take_snapshot().filter_traces(
                [tracemalloc.Filter(False, tracemalloc.__file__)]
            )
            if first:
                report["tracemalloc growth"] = [
                    {"where": str(s.traceback), "kib": s.size_diff / 1024, "count": s.count_diff}
                    for s in snapshot.compare_to(first[0], "lineno")[:TOP]
                ]
            else:
                first.append(snapshot)
        partial = probe.with_suffix(".partial")
        partial.write_text(json.dumps(report))
        partial.replace(probe)  # the driver never reads half a file

    signal.signal(signal.SIGUSR1, on_probe)
    return wio_main(["worker", *worker_args])


# -- the driver ---------------------------------------------------------------------


class Worker:
    """The `wio worker` process under the soak, and its probe."""

    def __init__(self, url: str, probe: Path, traced: bool) -> None:
        self.probe = probe
        command = [
            sys.executable, "-m", "benchmarks.soak", "serve", "--probe", str(probe), "--",
            "--journal", url, "--workflows", "benchmarks/flows.py:soak_workflow",
            "--poll-interval", "0.2",
        ]  # fmt: skip
        env = {**os.environ, **({"PYTHONTRACEMALLOC": "1"} if traced else {})}
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def sample(self, elapsed: float, backlog: int) -> dict[str, float]:
        return {"minute": elapsed / 60, "rss kib": rss_kib(self.process.pid), "backlog": backlog}

    def objects(self) -> dict[str, Any]:
        """What the worker's probe reports (it answers between two steps)."""
        self.probe.unlink(missing_ok=True)
        self.process.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 120
        while not self.probe.exists():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("the worker did not answer the probe")
            time.sleep(0.1)
        answer: dict[str, Any] = json.loads(self.probe.read_text())
        return answer

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)


def grown(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """The types whose count grew most from ``before`` to ``after``."""
    growth = {name: after.get(name, 0) - before.get(name, 0) for name in before.keys() | after}
    ranked = sorted(((g, n) for n, g in growth.items() if g > 0), reverse=True)
    return {name: g for g, name in ranked[:TOP]}


def soak(minutes: float, per_second: int, max_backlog: int, traced: bool) -> dict[str, object]:
    with fresh_schema() as schema, tempfile.TemporaryDirectory() as folder:
        url = postgres_journal_url(schema)
        with open_journal(url) as journal:
            runtime = Runtime(soak_workflow, journal=journal, owner="soak-driver")
            worker = Worker(url, Path(folder) / "probe.json", traced)

            def backlog() -> int:
                counts = journal.count_instances()
                return sum(counts.get(status, 0) for status in UNFINISHED)

            started = time.monotonic()
            to_signal: deque[tuple[float, str]] = deque()
            created = signalled = missed = held_back = 0
            samples: list[dict[str, float]] = []
            at_one_minute: dict[str, Any] | None = None
            try:
                while (elapsed := time.monotonic() - started) < minutes * 60:
                    waiting = backlog()
                    if waiting > max_backlog:
                        held_back += 1
                    else:
                        for _ in range(per_second):
                            instance_id = uuid.uuid4().hex
                            runtime.create(instance_id, created)
                            runtime.forget(instance_id)  # the driver keeps nothing either
                            created += 1
                            if created % 2:
                                to_signal.append((time.monotonic() + 0.5, instance_id))
                    while to_signal and to_signal[0][0] <= time.monotonic():
                        _, instance_id = to_signal.popleft()
                        try:
                            runtime.get(instance_id).signal(ping, Ping(1), advance=False)
                            signalled += 1
                        except WioError:  # not waiting yet, or timed out already
                            missed += 1
                        runtime.forget(instance_id)
                    if at_one_minute is None and elapsed >= 60:
                        at_one_minute = worker.objects()
                    if not samples or elapsed - samples[-1]["minute"] * 60 >= 60:
                        samples.append(worker.sample(elapsed, waiting))
                    time.sleep(max(0.0, 1 - (time.monotonic() - started - elapsed)))
                at_end = worker.objects()
                samples.append(worker.sample(elapsed, backlog()))
                counts = journal.count_instances()
            finally:
                worker.stop()
    # The first sample is the worker starting up; the second is at one minute.
    first, at_minute, last = samples[0], samples[1], samples[-1]
    assert at_one_minute is not None  # a soak shorter than a minute measures nothing
    result: dict[str, object] = {
        "minutes": minutes,
        "rate asked (instances/s)": per_second,
        "max backlog": max_backlog,
        "seconds held back (backlog over the max)": held_back,
        "instances created": created,
        "finished": counts.get(InstanceStatus.FINISHED, 0),
        "signals delivered": signalled,
        "signals missed (timed out or not waiting yet)": missed,
        "backlog at 1 minute": at_minute["backlog"],
        "backlog at the end": last["backlog"],
        "largest backlog": max(s["backlog"] for s in samples),
        "rss kib at the start": first["rss kib"],
        "rss kib at 1 minute": at_minute["rss kib"],
        "rss kib at the end": last["rss kib"],
        "rss end / 1 minute": last["rss kib"] / at_minute["rss kib"],
        "samples each minute": samples,
        "gc objects at 1 minute": sum(at_one_minute["gc objects by type"].values()),
        "gc objects at the end": sum(at_end["gc objects by type"].values()),
        "gc object types grown most from 1 minute to the end": grown(
            at_one_minute["gc objects by type"], at_end["gc objects by type"]
        ),
    }
    if traced:
        result["tracemalloc growth from 1 minute to the end"] = at_end["tracemalloc growth"]
    return result


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:  # the worker process (see `Worker`)
        split = argv.index("--")
        return serve(Path(argv[argv.index("--probe") + 1]), argv[split + 1 :])
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--rate", type=int, default=10, help="instances created per second")
    parser.add_argument(
        "--max-backlog", type=int, default=100, help="hold back while more are unfinished"
    )
    parser.add_argument(
        "--tracemalloc", action="store_true", help="trace the worker's allocations (costs memory)"
    )
    parser.add_argument("--output", type=Path, default=RESULT)
    args = parser.parse_args(argv)
    result = soak(args.minutes, args.rate, args.max_backlog, args.tracemalloc)
    text = json.dumps(result, indent=2)
    args.output.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
