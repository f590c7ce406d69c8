"""Exceptions raised by journals. Each names the instance and what went wrong."""

from __future__ import annotations


# The root of wio's errors lives here, at the bottom layer, because the journal
# imports nothing from the rest of wio while every wio error, the journal's
# included, must derive from one root; `wio.errors` re-exports it.
class WioError(Exception):
    """Base class of every error wio raises: ``except wio.WioError`` catches them all."""


class DeterministicError(WioError):
    """Base class of the errors that the same definition and data raise again: a
    step that fails with one is not retried, its instance fails at once (with the
    node path), whatever its `RetryPolicy` says."""


class UnstorableValue(DeterministicError):
    """Raised, before anything is written, for a value no journal can store the
    same way: a string with a NUL character (PostgreSQL refuses it in text and
    JSON), or a float that is NaN or infinite (not JSON). Names the field."""

    def __init__(self, where: str, field: str, problem: str) -> None:
        super().__init__(
            f"{where}: {field} {problem}, which a journal cannot store; nothing was written"
        )
        self.where = where
        self.field = field


class UndecodablePayload(DeterministicError):
    """Raised when a stored event's payload is not JSON (a row written by hand, say):
    names the instance, the seq and the event type. Nothing is changed."""

    def __init__(self, instance_id: str, seq: int, event_type: str, problem: str) -> None:
        super().__init__(
            f"instance {instance_id!r}: event #{seq} of type {event_type!r} has a payload "
            f"that is not JSON ({problem})"
        )
        self.instance_id = instance_id
        self.seq = seq
        self.event_type = event_type


class JournalError(WioError):
    """Base class of the errors a journal raises about its storage or its records."""


class JournalUnavailable(JournalError):
    """Raised when the database cannot be reached, opened or upgraded."""


class JournalNotFound(JournalError):
    """Raised when a command that only uses an existing journal finds none at its URL
    (nothing is created)."""


class NotPrunable(JournalError):
    """Raised by `prune` when asked to delete instances in a status that is not
    final (running or waiting): those instances still have work to do."""

    def __init__(self, status: str) -> None:
        super().__init__(
            f"cannot prune {status} instances: only finished or failed instances can be pruned"
        )
        self.status = status


class InvalidJournalURL(JournalError):
    """Raised by `open_journal` when a journal URL or one of its options is malformed."""


class ConcurrencyConflict(JournalError):
    """Raised by an append whose expected sequence number was stale: another writer
    appended first. Nothing was written."""

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
    """Raised when a conditional registry update finds the instance changed since it was
    read (another event, or another status); nothing is written."""

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
    """Raised when a journal is asked about an instance id it has not registered."""

    def __init__(self, instance_id: str) -> None:
        super().__init__(f"no instance {instance_id!r} in the journal")
        self.instance_id = instance_id


class DuplicateInstance(JournalError):
    """Raised when a journal is asked to register an instance id it has already."""

    def __init__(self, instance_id: str) -> None:
        super().__init__(f"instance {instance_id!r} exists already")
        self.instance_id = instance_id


class LeaseHeld(JournalError):
    """Raised when a process asks for an instance's lease while another holds it."""

    def __init__(self, instance_id: str, owner: str | None) -> None:
        super().__init__(f"instance {instance_id!r} is being advanced by {owner!r}")
        self.instance_id = instance_id
        self.owner = owner


class LeaseLost(LeaseHeld):
    """Raised by an append fenced by a lease (owner and epoch) that is no longer the
    instance's: another process took the instance over meanwhile (or the lease ran
    out and was taken again). Nothing was written; the stale writer must stop
    advancing the instance."""

    def __init__(
        self, instance_id: str, owner: str, epoch: int, holder: str | None, held_epoch: int
    ) -> None:
        JournalError.__init__(
            self,
            f"instance {instance_id!r}: the lease of {owner!r} at epoch {epoch} was lost "
            f"(now {'free' if holder is None else f'held by {holder!r}'} at epoch {held_epoch}); "
            "nothing was written",
        )
        self.instance_id = instance_id
        self.owner = owner
        self.epoch = epoch
        self.holder = holder
        self.held_epoch = held_epoch
