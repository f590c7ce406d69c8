"""Exception classes raised by wio.

Every exception says what was wrong and where: the node (by name and path),
the instance id and the event sequence number, whichever apply. All derive
from `WioError`; the journal's errors too, which is why the root is defined by
the journal (it imports nothing from the rest of wio) and re-exported here.
"""

from __future__ import annotations

from wio.journal.errors import WioError

__all__ = [
    "DefinitionError",
    "InstanceAlreadyExists",
    "InstanceNotFound",
    "JournalEventError",
    "NotWaitingForEvent",
    "RecordedError",
    "StepFailed",
    "UnmatchedEventError",
    "WioError",
    "WrongWorkflow",
]


class DefinitionError(WioError):
    """Raised when a workflow definition is malformed: while building it, or when
    running it meets what only running can reveal (e.g. an effect returning the
    wrong event type)."""


class StepFailed(WioError):
    """Raised when an event handler (user code) raised while applying a recorded
    or delivered event; a live step that raises is retried instead, and shows
    in `last_error`.

    The instance stays at that step; nothing was recorded for it.
    """

    def __init__(self, node: str, path: str, cause: BaseException) -> None:
        super().__init__(f"step {node!r} at {path} raised {type(cause).__name__}: {cause}")
        self.node = node
        self.path = path
        self.cause = cause


class JournalEventError(WioError):
    """Raised when a recorded event cannot be used; says which instance, event
    number and type."""

    def __init__(self, instance_id: str, seq: int, event_type: str, problem: str) -> None:
        super().__init__(f"instance {instance_id!r}: event #{seq} of type {event_type!r} {problem}")
        self.instance_id = instance_id
        self.seq = seq
        self.event_type = event_type


class UnmatchedEventError(JournalEventError):
    """Raised by strict replay on an event that no node of the workflow accepts, or
    that does not belong to the checkpointed section it was recorded in.

    ``node`` is the model path of the node that recorded it, when the journal
    knows it.
    """

    def __init__(
        self, instance_id: str, seq: int, event_type: str, expected: str, node: str | None = None
    ) -> None:
        where = "" if node is None else f"recorded by node {node} "
        super().__init__(
            instance_id, seq, event_type, f"{where}matches no node; the workflow was {expected}"
        )
        self.expected = expected
        self.node = node


class InstanceNotFound(WioError):
    """Raised by a runtime asked for an instance id that it does not know."""


class InstanceAlreadyExists(WioError):
    """Raised by a runtime asked to create an instance whose id is taken."""


class NotWaitingForEvent(WioError):
    """Raised by `deliver` when the instance cannot accept the event now; nothing
    was recorded."""


class RecordedError(WioError):
    """Never raised: it stands, in `last_error`, for an error an earlier process
    recorded in the journal, of which only the text survives."""


class WrongWorkflow(WioError):
    """Raised when loading an instance that the journal records under another
    workflow or version than the runtime's."""
