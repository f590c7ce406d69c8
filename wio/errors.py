"""Exception classes raised by wio.

Every exception says what was wrong and where: the node (by name and path),
the instance id and the event sequence number, whichever apply. All derive
from `WioError`; the journal's errors too, which is why the root is defined by
the journal (it imports nothing from the rest of wio) and re-exported here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from wio.journal.errors import DeterministicError, UndecodablePayload, UnstorableValue, WioError

if TYPE_CHECKING:
    from wio.replayer import Verdict

__all__ = [
    "DefinitionError",
    "DeterministicError",
    "InstanceAlreadyExists",
    "InstanceNotFound",
    "JournalEventError",
    "JournalSequenceError",
    "NotWaitingForEvent",
    "RecordedError",
    "ReplayDiverged",
    "StepFailed",
    "UnknownEventType",
    "UnknownVersion",
    "UndecodablePayload",
    "UnmatchedEventError",
    "UnstorableValue",
    "WioError",
    "WrongWorkflow",
]


class DefinitionError(DeterministicError):
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


class JournalEventError(DeterministicError):
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


class JournalSequenceError(JournalEventError):
    """Raised when an instance's events are not numbered 1, 2, 3, ... without a gap
    (rows deleted or written by hand): replaying them would apply a wrong history.
    Nothing is changed; the instance fails with this reason."""

    def __init__(self, instance_id: str, seq: int, event_type: str, expected: int) -> None:
        problem = f"is out of sequence: expected event #{expected} next" + (
            f"; events #{expected} to #{seq - 1} are missing"
            if seq > expected
            else " (sequence numbers start at 1 and never repeat)"
        )
        super().__init__(instance_id, seq, event_type, problem)
        self.expected = expected


class InvalidSetting(WioError):
    """Raised when a worker or server setting is out of range (say, a negative lease
    time) or cannot be used (a port already in use)."""


class InvalidInstanceId(WioError):
    """Raised when an instance is created with an id that is empty, blank or not a string."""


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


class UnknownVersion(WioError):
    """Raised when a command or worker is asked for a workflow version that none of
    the definitions it was given is (or when several workflows leave the choice open)."""


class UnknownEventType(WioError):
    """Raised by `wio deliver` when the instance's workflow version has no event
    class under the type name given; nothing was recorded."""


class ReplayDiverged(WioError, AssertionError):
    """Raised by `wio.testing.assert_replays` when stored instances do not replay
    against the code; lists where each one diverges. An `AssertionError`, so it
    fails a test as an assertion does."""

    def __init__(self, diverged: Sequence[Verdict], replayed: int) -> None:
        lines = "\n".join(f"  {v.instance_id}: {v}" for v in diverged)
        super().__init__(
            f"{len(diverged)} of {replayed} instance(s) do not replay against the code:\n{lines}"
        )
        self.diverged = list(diverged)
