"""Delivering a signal, as pure functions of an instance's cursor and events.

A delivery is, in order: check the request (`signal_request`), look for an
earlier delivery it repeats (`redelivered`), find the handler that takes it
(`signal_effect`), let the runtime call the handler, then validate what the
handler returned and compute the response (`signal_record`). Nothing here
performs I/O or changes anything; `wio.runtime.procedures.signal` drives it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from wio.codec import InputError, decode_input
from wio.errors import DefinitionError
from wio.for_each import ElementHop
from wio.interpreter import Cursor, DeliverSignal, describe_wait, expected_signals
from wio.interpreter.state import signal_handlers
from wio.parallel import innermost
from wio.runtime.core import RecordedEvent
from wio.signals import (
    Signal,
    SignalHandled,
    SignalKeyReused,
    SignalRequestError,
    UnexpectedSignal,
)


def signal_request(instance_id: str, signal: Signal[Any, Any], request: Any) -> Any:
    """The request as an instance of the signal's request type, or `SignalRequestError`."""
    if isinstance(request, signal.request):
        return request
    where = f"instance {instance_id!r}, signal {signal.name!r}"
    try:
        return decode_input(request, signal.request, where, "request")
    except InputError as exc:
        raise SignalRequestError(str(exc)) from None


def redelivered(
    instance_id: str,
    cursor: Cursor,
    events: Sequence[RecordedEvent],
    signal: Signal[Any, Any],
    request: Any,
    key: str | None,
) -> SignalHandled | None:
    """The recorded delivery a signal repeats, if it repeats one.

    With a key, any delivery of this signal with the same key (with another
    request, `SignalKeyReused`: a key names one request). Without
    one, a delivery of the same request while the instance no longer
    waits for the signal (waiting again, it takes the request anew).
    """
    if key is None and signal in expected_signals(cursor):
        return None
    for recorded in reversed(events):
        handled = innermost(recorded.event)
        if not isinstance(handled, SignalHandled) or handled.signal != signal.name:
            continue
        if key is None and handled.request == request:
            return handled
        if key is not None and handled.key == key:
            if handled.request != request:
                raise SignalKeyReused(
                    f"instance {instance_id!r}, signal {signal.name!r}: key {key!r} was used "
                    "for another request "
                    f"(event #{recorded.seq}: {handled.request!r}, now {request!r}); "
                    "nothing was recorded"
                )
            return handled
    return None


def signal_effect(
    instance_id: str,
    cursor: Cursor,
    signal: Signal[Any, Any],
    request: Any,
    element: str | None = None,
) -> DeliverSignal:
    """The effect of the handler that takes ``signal`` now, or `UnexpectedSignal`: the
    first handler waiting for it, or with ``element`` the first one in the body of
    the for-each element of that key."""
    for handler in signal_handlers(cursor):
        if handler.node.signal == signal and (
            element is None
            or any(isinstance(hop, ElementHop) and hop.key == element for hop in handler.route)
        ):
            node, input, path, route = handler
            return DeliverSignal(node, input, path, request, route)
    expected = ", ".join(repr(s.name) for s in expected_signals(cursor)) or "none"
    addressed = "" if element is None else f" in element {element!r}"
    raise UnexpectedSignal(
        f"instance {instance_id!r} is not waiting for signal {signal.name!r}{addressed} "
        f"(it is {describe_wait(cursor)}; signals expected now: {expected}); "
        "nothing was recorded"
    )


def signal_record(effect: DeliverSignal, event: Any, key: str | None) -> SignalHandled:
    """Validate the handler's event and compute the response, before anything is written."""
    node = effect.node
    if not isinstance(event, node.event_type):
        raise DefinitionError(
            f"the handler of signal {node.signal.name!r} returned {type(event).__name__}, "
            f"expected an event of type {node.event_type.__name__}"
        )
    response = node.respond(effect.input, event, effect.request)
    if not isinstance(response, node.signal.response):
        raise DefinitionError(
            f"signal {node.signal.name!r} responded with {type(response).__name__}, "
            f"expected {node.signal.response.__name__}"
        )
    return SignalHandled(node.signal.name, effect.request, event, response, key)
