"""The workflows the benchmarks run: no-op durable steps, then (optionally) signals."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Never

from attrs import frozen

from wio import WIO, Signal, Workflow


@frozen
class Stepped:
    count: int


def step(count: int) -> Stepped:
    return Stepped(count + 1)


def steps(n: int) -> WIO[Any, Any, Any]:
    """``n`` no-op run steps, each recording one event."""
    return WIO.sequence(*(WIO.run(step, lambda _, e: e.count).named(f"Step {i}") for i in range(n)))


def durable(n: int, name: str = "steps") -> Workflow[int, Never, int]:
    return Workflow(steps(n), name=f"{name}_{n}", input_type=int)


@frozen
class Ping:
    number: int


@frozen
class Pinged:
    number: int


ping = Signal("Ping", request=Ping, response=int)


def pinged(_state: int, request: Ping) -> Pinged:
    return Pinged(request.number)


def signalled(n: int) -> Workflow[int, Never, int]:
    """``n`` steps, then a wait that handles `ping` signals forever: one event each."""
    answer = WIO.handle_signal(ping, pinged, lambda _, e: e.number, lambda _, e, __: e.number)
    forever = WIO.repeat(answer).until(lambda _: False, name="Stop?")
    return Workflow(steps(n) >> forever, name=f"signalled_{n}", input_type=int)


ten_steps = durable(10, "ten")  # for `wio worker --workflows benchmarks/flows.py:ten_steps`


def looped(n: int) -> WIO[Any, Any, Any]:
    """A loop of ``n`` iterations, each one run step recording one event."""
    body = WIO.run(step, lambda _, e: e.count).named("Step")
    return WIO.repeat(body).until(lambda count: count >= n, name="Done?")


def fanned(flows: int, n: int) -> WIO[Any, Any, Any]:
    """A parallel section of ``flows`` flows sharing ``n`` run steps between them."""
    section = WIO.parallel("Fan out")
    for flow in range(flows):
        section = section.flow(f"Flow {flow}", steps(n // flows))
    return section


def each_element(elements: int, n: int) -> WIO[Any, Any, Any]:
    """A for-each section over ``elements`` elements sharing ``n`` run steps between them."""
    return WIO.for_each(lambda _: range(elements), steps(n // elements), name="Each")


@frozen
class Settled:
    count: int


def sections(
    iterations: int, steps_per_section: int, *, checkpointed: bool
) -> Workflow[int, Any, int]:
    """A loop of ``iterations`` sections of ``steps_per_section`` run steps; with
    ``checkpointed`` each section is checkpointed, so a replay skips its steps."""
    section = steps(steps_per_section)
    if checkpointed:
        section = section.checkpointed(
            lambda _, out: Settled(out), lambda _, e: e.count, event=Settled
        )
    loop = WIO.repeat(section).until(lambda count: count >= iterations * steps_per_section)
    kind = "checkpointed" if checkpointed else "plain"
    return Workflow(loop, name=f"{kind}_sections", input_type=int, events=(Settled,))


def soaked() -> Workflow[int, Never, int]:
    """A step, a wait of at most two seconds for `ping`, a pause of 200 ms, a step:
    each instance exercises a signal or a timeout, and a timer."""
    answer = WIO.handle_signal(ping, pinged, lambda _, e: e.number, lambda _, e, __: e.number)
    first = WIO.run(step, lambda _, e: e.count).named("First")
    last = WIO.run(step, lambda _, e: e.count).named("Last")
    flow = (
        first
        >> answer.timeout(timedelta(seconds=2), name="No Ping")
        >> WIO.await_for(timedelta(milliseconds=200), name="Pause")
        >> last
    )
    return Workflow(flow, name="soaked", input_type=int)


soak_workflow = soaked()  # for `wio worker --workflows benchmarks/flows.py:soak_workflow`


def timed_step(seconds: float) -> Workflow[int, Never, int]:
    """A timer of ``seconds``, then one step."""
    wait: WIO[Any, Any, Any] = WIO.await_for(timedelta(seconds=seconds), name="Wait")
    return Workflow(wait >> steps(1), name="timed_step", input_type=int)


timer_workflow = timed_step(0.5)  # for `wio worker --workflows benchmarks/flows.py:timer_workflow`
one_step = durable(1, "one")
