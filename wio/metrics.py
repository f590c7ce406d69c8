"""Prometheus metrics of the runtimes and workers, served at ``/metrics``.

The worker's health port and `wio serve` expose them in Prometheus' text
format. Counters are updated where things happen (a step recorded or failed,
an event appended, a journal replayed, a claim); the number of instances by
status is read from the journal when Prometheus scrapes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from wio.journal import group_commit

try:
    from prometheus_client import (
        CONTENT_TYPE_LATEST,
        REGISTRY,
        CollectorRegistry,
        Counter,
        Histogram,
        generate_latest,
    )
    from prometheus_client.core import GaugeMetricFamily
    from prometheus_client.registry import Collector
except ImportError:  # pragma: no cover - a dependency, but wio still imports without it
    from wio._no_metrics import (  # type: ignore[assignment]
        CONTENT_TYPE_LATEST,
        REGISTRY,
        Collector,
        CollectorRegistry,
        Counter,
        GaugeMetricFamily,
        Histogram,
        generate_latest,
    )

_FAST = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

STEPS = Counter(
    "wio_steps_total",
    "Steps performed, by outcome: recorded (its event was written), failed (it raised; "
    "a retry is scheduled) or gave_up (it raised on its last attempt)",
    ["outcome"],
)
# Bound once: looking a label up on every step costs more than counting.
RECORDED, FAILED, GAVE_UP = (STEPS.labels(outcome) for outcome in ("recorded", "failed", "gave_up"))
RETRIED = Counter("wio_steps_retried_total", "Attempts of a step after it had failed")
EVENT_APPEND = Histogram(
    "wio_event_append_seconds", "Time to append one step's event to the journal", buckets=_FAST
)
REPLAY = Histogram(
    "wio_replay_seconds", "Time to load and replay an instance's journal", buckets=_FAST
)
CLAIM = Histogram(
    "wio_claim_seconds", "Time a worker takes to claim a batch of runnable instances",
    buckets=_FAST,
)  # fmt: skip
CLAIMED = Histogram(
    "wio_claim_batch_size", "Instances claimed per claim", buckets=(0, 1, 2, 4, 8, 16, 32, 64)
)
INSTANCE_RUNS = Counter("wio_instance_runs_total", "Instances a worker advanced until they blocked")
GROUP_COMMIT_BATCH = Histogram(
    "wio_group_commit_batch_size",
    "Appends committed together per group commit (PostgreSQL, a worker with concurrency > 1)",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)
group_commit.batch_observers.append(GROUP_COMMIT_BATCH.observe)


class InstancesByStatus(Collector):
    """``wio_instances{status=...}``, counted in the journal at scrape time."""

    def __init__(self, count: Callable[[], dict[str, int]]) -> None:
        self.count = count

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "wio_instances", "Instances in the journal by status", labels=["status"]
        )
        try:
            counts = self.count()
        except Exception:  # an unreachable journal: /health says so; omit the gauge
            return
        for status, number in sorted(counts.items()):
            family.add_metric([status], number)
        yield family


def count_by_status(journal: Any) -> Callable[[], dict[str, int]]:
    def count() -> dict[str, int]:
        return {str(status): n for status, n in journal.count_instances().items()}

    return count


def exposition(journal: Any | None = None) -> tuple[bytes, str]:
    """The metrics in Prometheus' text format, with the instance counts of ``journal``."""
    registry: CollectorRegistry = REGISTRY
    if journal is not None:
        registry = CollectorRegistry()
        registry.register(_Everything())
        registry.register(InstancesByStatus(count_by_status(journal)))
    return generate_latest(registry), CONTENT_TYPE_LATEST


class _Everything(Collector):
    """The process-wide metrics, inside a per-journal registry."""

    def collect(self) -> Iterator[Any]:
        yield from REGISTRY.collect()
