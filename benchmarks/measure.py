"""Timing, results and the machine they were measured on."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import psycopg
from attrs import asdict, define

POSTGRES_URL = os.environ.get("WIO_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@define
class Figure:
    """One measured figure, and how it compares with its baseline."""

    benchmark: str
    name: str
    value: float
    unit: str
    baseline: str | None = None
    baseline_value: float | None = None
    ratio: float | None = None  # value / baseline_value
    samples: list[float] | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def median_seconds(run: Callable[[], object], repeats: int) -> tuple[float, list[float]]:
    """The median wall time of ``run`` over ``repeats`` calls."""
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples), samples


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def machine() -> dict[str, Any]:
    with psycopg.connect(POSTGRES_URL) as conn:
        row = conn.execute("SHOW server_version").fetchone()
        sync = conn.execute("SHOW synchronous_commit").fetchone()
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "memory_gib": round(memory / 2**30, 1),
        "python": platform.python_version(),
        "postgresql": row[0] if row else "unknown",
        "postgresql_synchronous_commit": sync[0] if sync else "unknown",
        "platform": platform.platform(),
    }
