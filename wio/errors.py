"""Exception classes raised by wio.

Every exception says what was wrong and where: the node (by name and path),
the instance id and the event sequence number, whichever apply.
"""

from __future__ import annotations


class WioError(Exception):
    """Base class of every error wio raises."""


class DefinitionError(WioError):
    """A workflow definition is malformed (found while building or running it)."""


class StepFailed(WioError):
    """User code inside a step raised an exception.

    The instance stays at that step; nothing was recorded for it.
    """

    def __init__(self, node: str, path: str, cause: BaseException) -> None:
        super().__init__(f"step {node!r} at {path} raised {type(cause).__name__}: {cause}")
        self.node = node
        self.path = path
        self.cause = cause


class JournalEventError(WioError):
    """A recorded event cannot be used; says which instance, event number and type."""

    def __init__(self, instance_id: str, seq: int, event_type: str, problem: str) -> None:
        super().__init__(f"instance {instance_id!r}: event #{seq} of type {event_type!r} {problem}")
        self.instance_id = instance_id
        self.seq = seq
        self.event_type = event_type


class UnmatchedEventError(JournalEventError):
    """Replay met an event that no node of the workflow accepts (strict replay)."""

    def __init__(self, instance_id: str, seq: int, event_type: str, expected: str) -> None:
        super().__init__(
            instance_id, seq, event_type, f"matches no node; the workflow was {expected}"
        )
        self.expected = expected


class InvalidSetting(WioError):
    """A runtime or worker setting is out of range (say, a negative lease time)."""


class InvalidInstanceId(WioError):
    """An instance id is empty, blank or not a string."""


class InstanceNotFound(WioError):
    """No instance with that id exists."""


class InstanceAlreadyExists(WioError):
    """An instance with that id exists already."""


class NotWaitingForEvent(WioError):
    """An event was delivered that the instance cannot accept now."""


class RecordedError(WioError):
    """An error an earlier process recorded in the journal; only its text survives."""


class WrongWorkflow(WioError):
    """An instance in the journal belongs to another workflow or version."""
