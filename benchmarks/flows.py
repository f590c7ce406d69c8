"""The workflows the benchmarks run: sequences of no-op durable steps."""

from __future__ import annotations

from typing import Any

from attrs import frozen

from wio import WIO, Workflow


@frozen
class Stepped:
    count: int


def step(count: int) -> Stepped:
    return Stepped(count + 1)


def steps(n: int) -> WIO[Any, Any, Any]:
    """``n`` no-op run steps, each recording one event."""
    return WIO.sequence(*(WIO.run(step, lambda _, e: e.count).named(f"Step {i}") for i in range(n)))


def durable(n: int, name: str = "steps") -> Workflow[int, int]:
    return Workflow(steps(n), name=f"{name}_{n}", input_type=int)


ten_steps = durable(10, "ten")  # for `wio worker --workflows benchmarks/flows.py:ten_steps`
