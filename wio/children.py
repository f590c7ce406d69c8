"""Child instances: the events a parent records about a child it started and awaited.

A `WIO.run_child` node starts another workflow as a separate instance in the
same journal (its own id, history and lease; any worker serving its workflow
runs it) and waits, durably, for its end. The parent records two events:
`ChildStarted` once the child exists (created if absent, so a replay or a
crash between the creation and this event never makes a second child), and
`ChildFinished` with the child's result or business error, which completes
the wait. A child's final status makes its waiting parent runnable in the
same journal transaction, so a worker picks the parent up at once.
"""

from __future__ import annotations

from typing import Any

from attrs import frozen

from wio.codec import event
from wio.errors import WioError


@event("wio.ChildStarted")
@frozen
class ChildStarted:
    child: str  # the child instance's id
    node: str = ""  # the path of the node that started it, so that two are told apart


@event("wio.ChildFinished")
@frozen
class ChildFinished:
    """The child's end: its result (as JSON), or the business error it failed with
    (``error_type`` names its class, ``error`` is its JSON form)."""

    child: str
    node: str = ""
    result: Any = None
    error_type: str | None = None
    error: Any = None


class ChildDidNotFinish(WioError):
    """Raised (and recorded as the parent's step failure) when a child instance ended
    without a result or a business error: an operator cancelled it, or a step of it
    gave up. The parent's wait fails as a step does, retried per its policy (an
    operator may resume or replace the child)."""


class ChildIdTaken(WioError):
    """Raised (and recorded as the parent's step failure) when the id a `WIO.run_child`
    node gives its child belongs to an instance that is not this parent's child
    (another workflow's, or another parent's)."""


def child_id(parent_id: str, suffix: str) -> str:
    """The child's instance id: its parent's id, then the node's ``id_of`` result,
    so that two parents' children never share an id."""
    return f"{parent_id}/{suffix}"
