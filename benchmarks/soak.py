"""``python -m benchmarks.soak [--minutes 30] [--rate 20]``: a worker's memory over a soak.

One `wio worker` process serves `benchmarks.flows.soak_workflow` on PostgreSQL
while this process creates ``rate`` instances a second and sends a signal to
every other one (the rest time out); every instance then waits on a timer.
The worker's resident memory (RSS) is read at one minute and at the end: a
worker that kept the instances it no longer holds would grow with the
instances served. A benchmark, not a test: it runs for half an hour.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import uuid
from collections import deque
from pathlib import Path

from benchmarks.flows import Ping, ping, soak_workflow
from benchmarks.suites import ROOT, fresh_schema, postgres_journal_url
from wio import Runtime, WioError
from wio.journal import InstanceStatus, open_journal


def rss_kib(pid: int) -> int:
    """The resident set size of process ``pid``, in KiB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def soak(minutes: float, per_second: int) -> dict[str, object]:
    with fresh_schema() as schema:
        url = postgres_journal_url(schema)
        with open_journal(url) as journal:
            runtime = Runtime(soak_workflow, journal=journal, owner="soak-driver")
            command = [
                sys.executable, "-m", "wio.cli", "worker", "--journal", url,
                "--workflows", "benchmarks/flows.py:soak_workflow", "--poll-interval", "0.2",
            ]  # fmt: skip
            worker = subprocess.Popen(
                command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            started = time.monotonic()
            to_signal: deque[tuple[float, str]] = deque()
            created = signalled = missed = 0
            samples: list[tuple[float, int]] = []
            rss_at_one_minute: int | None = None
            try:
                while (elapsed := time.monotonic() - started) < minutes * 60:
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
                    if rss_at_one_minute is None and elapsed >= 60:
                        rss_at_one_minute = rss_kib(worker.pid)
                    if not samples or elapsed - samples[-1][0] >= 60:
                        samples.append((elapsed, rss_kib(worker.pid)))
                    time.sleep(max(0.0, 1 - (time.monotonic() - started - elapsed)))
                rss_at_end = rss_kib(worker.pid)
                counts = journal.count_instances()
            finally:
                worker.terminate()
                worker.wait(timeout=60)
    return {
        "minutes": minutes,
        "instances created": created,
        "signals delivered": signalled,
        "signals missed (timed out or not waiting yet)": missed,
        "finished": counts.get(InstanceStatus.FINISHED, 0),
        "rss kib at 1 minute": rss_at_one_minute,
        "rss kib at the end": rss_at_end,
        "rss end / 1 minute": None if not rss_at_one_minute else rss_at_end / rss_at_one_minute,
        "rss kib each minute": [kib for _, kib in samples],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--rate", type=int, default=20, help="instances created per second")
    args = parser.parse_args(argv)
    print(json.dumps(soak(args.minutes, args.rate), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
