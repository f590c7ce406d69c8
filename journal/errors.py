"""Exceptions raised by journals. Each names the instance and what went wrong."""

from __future__ import annotations


class JournalError(Exception):
    """Base class of journal errors."""


class JournalUnavailable(JournalError):
    """The database cannot be reached or opened."""


class JournalNotFound(JournalError):
    """A command that only uses an existing journal found none at its URL."""


class InvalidJournalURL(JournalError):
    """A journal URL or option is malformed."""


class ConcurrencyConflict(JournalError):
    """An append's expected sequence number was stale; nothing was written."""

    def __init__(self, instance_id: str, expected_seq: int, actual_seq: int | None = None) -> None:
        actual = "" if actual_seq is None else f", the journal is at #{actual_seq}"
        super().__init__(
            f"instance {instance_id!r}: append expected the last event to be #{expected_seq}"
            f"{actual}; another writer got there first, and nothing was written"
        )
        self.instance_id = instance_id
        self.expected_seq = expected_seq
        self.actual_seq = actual_seq


class InstanceChanged(ConcurrencyConflict):
    """A conditional registry update found the instance changed since it was read."""

    def __init__(self, instance_id: str, expected: str, actual: str) -> None:
        JournalError.__init__(
            self,
            f"instance {instance_id!r}: expected {expected}, found {actual}; another writer "
            "got there first, and nothing was written",
        )
        self.instance_id = instance_id
        self.expected = expected
        self.actual = actual
        self.expected_seq = -1
        self.actual_seq = None


class UnknownInstance(JournalError):
    """No instance with that id is registered."""

    def __init__(self, instance_id: str) -> None:
        super().__init__(f"no instance {instance_id!r} in the journal")
        self.instance_id = instance_id


class DuplicateInstance(JournalError):
    """An instance with that id is registered already."""

    def __init__(self, instance_id: str) -> None:
        super().__init__(f"instance {instance_id!r} exists already")
        self.instance_id = instance_id


class LeaseHeld(JournalError):
    """Another process holds the instance's lease."""

    def __init__(self, instance_id: str, owner: str | None) -> None:
        super().__init__(f"instance {instance_id!r} is being advanced by {owner!r}")
        self.instance_id = instance_id
        self.owner = owner
