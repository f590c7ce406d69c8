"""Parallel sections: the envelope that routes each flow's events back to it.

The flows of a `WIO.parallel` section record their events in whatever order
they happen to run. Each one is journaled inside an `InFlow` envelope naming
its flow by model path (nested parallel sections nest envelopes), so replay
hands every event to the flow that recorded it, whatever the interleaving.
"""

from __future__ import annotations

from typing import Any

from attrs import frozen

from wio.for_each import ElementHop, InElement
from wio.undecoded import UndecodedEvent

IN_FLOW = "wio.InFlow"


@frozen
class InFlow:
    """``event``, recorded by the parallel flow at model path ``flow`` (e.g. ``/2/1``)."""

    flow: str
    event: Any


def in_flows(route: tuple[str | ElementHop, ...], event: Any) -> Any:
    """``event`` inside one envelope per enclosing flow or for-each element of
    ``route``, outermost first."""
    for hop in reversed(route):
        if isinstance(hop, ElementHop):
            event = InElement(hop.section, hop.key, event)
        else:
            event = InFlow(hop, event)
    return event


def innermost(event: Any) -> Any:
    """The event inside any envelopes."""
    while type(event) in (InFlow, InElement):
        event = event.event
    return event


def innermost_flow(event: Any) -> str | None:
    """The model path of the innermost parallel flow or for-each section an event
    was recorded in, if any."""
    flow = None
    while type(event) in (InFlow, InElement):
        flow = event.flow if type(event) is InFlow else event.section
        event = event.event
    return flow


def describe_event(event: Any) -> str:
    """An event's type for messages: ``Charged in flow /1/0`` for a flow's event,
    ``Charged in element 'a' of /1`` for a for-each element's."""
    where = ""
    while type(event) in (InFlow, InElement):
        if type(event) is InFlow:
            where = f" in flow {event.flow}"
        else:
            where = f" in element {event.key!r} of {event.section}"
        event = event.event
    name = event.type if isinstance(event, UndecodedEvent) else type(event).__name__
    return f"{name}{where}"
