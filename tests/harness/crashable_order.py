"""The order example, instrumented for tests that span processes.

Side effects are appended to the file ``$WIO_EFFECTS_LOG`` as "<pid> <effect>"
lines, so a test can count them across processes. ``$WIO_BLOCK`` makes one
effect misbehave: ``email:before`` hangs before the email is sent,
``email:after`` hangs after it was sent but before its event is recorded,
``email:slow`` takes ``$WIO_SLOW_SECONDS``, ``email:gil`` waits at the gate (below),
then holds the GIL that long (one C call, during which no other thread of the
process runs), ``email:gate`` waits before sending
until the file ``$WIO_EFFECTS_LOG.go`` exists, and ``inventory:raise`` always
fails. A hang first creates ``$WIO_EFFECTS_LOG.blocked``. ``$WIO_MAX_ATTEMPTS``
sets the retry policy's attempts (3 by default).
"""

from __future__ import annotations

import itertools
import os
import time
from pathlib import Path

from wio.definition import Workflow
from wio.loading import load_module
from wio.retry import RetryPolicy

order = load_module(str(Path(__file__).resolve().parents[2] / "docs" / "examples" / "order.py"))


class FileEffects(list[str]):
    def __init__(self, path: str, block: str) -> None:
        super().__init__()
        self.path = Path(path)
        self.block = block

    def append(self, effect: str) -> None:
        kind = effect.split()[0]
        if self.block == f"{kind}:before":
            self._hang()
        if self.block in (f"{kind}:gate", f"{kind}:gil"):
            self._wait_for_gate()
        if self.block == f"{kind}:slow":
            time.sleep(float(os.environ.get("WIO_SLOW_SECONDS", "2")))
        if self.block == f"{kind}:gil":
            hold_the_gil(float(os.environ.get("WIO_SLOW_SECONDS", "2")))
        self._write(effect)
        if self.block == f"{kind}:raise":
            raise ConnectionError(f"{kind} service unavailable")
        if self.block == f"{kind}:after":
            self._hang()

    def _write(self, effect: str) -> None:
        with self.path.open("a") as log:
            log.write(f"{os.getpid()} {effect}\n")
            log.flush()
            os.fsync(log.fileno())

    def _wait_for_gate(self) -> None:
        Path(f"{self.path}.blocked").write_text(str(os.getpid()))
        gate = Path(f"{self.path}.go")
        while not gate.exists():
            time.sleep(0.02)

    def _hang(self) -> None:
        Path(f"{self.path}.blocked").write_text(str(os.getpid()))
        time.sleep(3600)


def hold_the_gil(seconds: float) -> None:
    """Keep the GIL for about ``seconds``: `sum` over `itertools.repeat` runs in C
    and never lets another thread in."""
    sample = 2_000_000
    started = time.perf_counter()
    sum(itertools.repeat(1, sample))
    rate = sample / max(time.perf_counter() - started, 1e-6)
    sum(itertools.repeat(1, int(rate * seconds)))


order.side_effects = FileEffects(os.environ["WIO_EFFECTS_LOG"], os.environ.get("WIO_BLOCK", ""))

workflow = Workflow(
    order.order_workflow,
    name="order",
    retry=RetryPolicy(
        max_attempts=int(os.environ.get("WIO_MAX_ATTEMPTS", "3")), initial_delay=0.05, multiplier=2
    ),
)
