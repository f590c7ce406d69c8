"""Stand-ins for prometheus_client when it is not installed: metrics cost nothing, and
``/metrics`` says what to install."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import nullcontext
from typing import Any

CONTENT_TYPE_LATEST = "text/plain; charset=utf-8"


class Counter:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def labels(self, *args: Any) -> Counter:
        return self

    def inc(self, amount: float = 1) -> None:
        pass


class Histogram(Counter):
    def time(self) -> nullcontext[None]:
        return nullcontext()

    def observe(self, value: float) -> None:
        pass


class Collector:
    def collect(self) -> Iterator[Any]:
        yield from ()


class GaugeMetricFamily:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def add_metric(self, *args: Any) -> None:
        pass


class CollectorRegistry:
    def register(self, collector: Any) -> None:
        pass

    def collect(self) -> Iterator[Any]:
        yield from ()


REGISTRY = CollectorRegistry()


def generate_latest(registry: Any) -> bytes:
    return b"# metrics need prometheus-client: pip install prometheus-client\n"
