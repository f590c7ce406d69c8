"""Parallel sections: the envelope that routes each flow's events back to it.

The flows of a `WIO.parallel` section record their events in whatever order
they happen to run. Each one is journaled inside an `InFlow` envelope naming
its flow by model path (nested parallel sections nest envelopes), so replay
hands every event to the flow that recorded it, whatever the interleaving.
"""

from __future__ import annotations

from typing import Any

from attrs import frozen

IN_FLOW = "wio.InFlow"


@frozen
class InFlow:
    """``event``, recorded by the parallel flow at model path ``flow`` (e.g. ``/2/1``)."""

    flow: str
    event: Any


def in_flows(route: tuple[str, ...], event: Any) -> Any:
    """``event`` inside one envelope per enclosing flow of ``route``, outermost first."""
    for flow in reversed(route):
        event = InFlow(flow, event)
    return event


def innermost(event: Any) -> Any:
    """The event inside any envelopes."""
    while type(event) is InFlow:
        event = event.event
    return event


def describe_event(event: Any) -> str:
    """An event's type for messages: ``Charged in flow /1/0`` for a flow's event."""
    flows = []
    while type(event) is InFlow:
        flows.append(event.flow)
        event = event.event
    where = f" in flow {flows[-1]}" if flows else ""
    return f"{type(event).__name__}{where}"
