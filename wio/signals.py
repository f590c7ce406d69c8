"""Signals: typed messages from outside that a waiting workflow handles.

A `Signal` names a message and its request and response types. A workflow
waits for it with `WIO.handle_signal`; a runtime delivers it with
`Instance.signal`. The journal records a delivery as one `SignalHandled`
event holding the request, the handler's event and the response, so a
redelivered signal gets its stored response and no side effect runs again.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from attrs import frozen

from wio.errors import WioError

Req = TypeVar("Req")
Resp = TypeVar("Resp")


@frozen
class Signal(Generic[Req, Resp]):
    """``Signal("Approve", request=Approval, response=Receipt)``."""

    name: str
    request: type[Req]
    response: type[Resp]


@frozen
class SignalHandled:
    """The journal's record of one delivered signal."""

    signal: str
    request: Any
    event: Any
    response: Any
    key: str | None = None  # the sender's idempotency key, if it gave one


class UnexpectedSignal(WioError):
    """Raised by `signal` when the instance is not waiting for that signal now;
    nothing was recorded."""


class SignalKeyReused(WioError):
    """Raised when a signal's idempotency key is sent again with a different request;
    nothing was recorded."""


class SignalRequestError(WioError):
    """Raised by `signal` when the request does not fit the signal's request type;
    nothing was recorded."""
