"""DBOS Transact, the peer we compare with, measured on the same PostgreSQL server.

DBOS keeps global state per process, so each measurement runs this module in
a subprocess of the benchmark run: ``python -m benchmarks.dbos_driver MODE ...``.
It prints one JSON object.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

from dbos import DBOS, DBOSConfig, SetWorkflowID

SYSTEM_URL = os.environ["WIO_BENCH_DBOS_URL"]

DBOS(
    config=DBOSConfig(
        name="wio-bench",
        system_database_url=SYSTEM_URL,
        log_level="WARNING",
        console_log_level="WARNING",
    )
)


@DBOS.step()
def noop(i: int) -> int:
    return i


@DBOS.step()
def maybe_crash(i: int) -> int:
    if os.environ.get("WIO_BENCH_CRASH") == "1":
        os._exit(0)  # the process dies after every earlier step was recorded
    return i


@DBOS.workflow()
def sequential(n: int) -> int:
    for i in range(n):
        noop(i)
    return n


@DBOS.workflow()
def crashing(n: int) -> int:
    for i in range(n):
        noop(i)
    maybe_crash(n)
    return n


def main(mode: str, *args: str) -> dict[str, Any]:
    launched = time.perf_counter()
    DBOS.launch()  # also starts recovering this executor's unfinished workflows
    if mode.startswith("queue"):
        # Polled every 0.1 s rather than DBOS's default second, to be fair to DBOS.
        queue = DBOS.register_queue("bench", worker_concurrency=8, polling_interval_sec=0.1)
    if mode == "steps":
        n, repeats = int(args[0]), int(args[1])
        samples = []
        for _ in range(repeats):
            started = time.perf_counter()
            sequential(n)
            samples.append(time.perf_counter() - started)
        return {"seconds": samples}
    if mode == "queue":
        instances, steps = int(args[0]), int(args[1])
        started = time.perf_counter()
        handles = [queue.enqueue(sequential, steps) for _ in range(instances)]
        for handle in handles:
            handle.get_result()
        return {"seconds": time.perf_counter() - started}
    if mode == "queue-worker":
        time.sleep(float(args[0]))  # serve the queue alongside the enqueuer, then leave
        return {}
    if mode == "crash":
        with SetWorkflowID(args[1]):
            crashing(int(args[0]))
        return {}
    if mode == "recover":
        # From launch, which began recovering the crashed workflow, to its result.
        result: Any = DBOS.retrieve_workflow(args[0]).get_result()
        return {"seconds": time.perf_counter() - launched, "result": result}
    raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    output = main(*sys.argv[1:])
    print(json.dumps(output), flush=True)
    DBOS.destroy()
