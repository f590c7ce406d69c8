"""The journal protocol: what every journal implementation provides."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from .records import (
    FINAL_STATUSES,
    Family,
    InstanceFilter,
    InstanceRecord,
    InstanceStatus,
    Lease,
    NewEvent,
    StatusUpdate,
    StoredEvent,
    WorkflowRecord,
)


@runtime_checkable
class Journal(Protocol):
    """Durable storage of events and of the instance registry.

    All methods are thread-safe. Times come from the caller (``now``) so that
    runtimes can inject a clock.
    """

    url: str

    def upgrade(self) -> list[int]:
        """Apply missing schema migrations; returns the versions applied (idempotent)."""

    def create_instance(
        self,
        record: InstanceRecord,
        events: Sequence[NewEvent] = (),
        *,
        parent: str | None = None,
    ) -> None:
        """Register a new instance; raises `DuplicateInstance` if the id is taken.

        ``events`` (say, a fork's copy of another journal) are its first events,
        written in the same transaction: no process ever sees it without them.
        ``parent`` makes it that instance's child: when the child's status becomes
        final, a waiting parent is made running in the same transaction.
        """

    def append(
        self,
        instance_id: str,
        expected_seq: int,
        events: Sequence[NewEvent],
        now: datetime,
        update: StatusUpdate | None = None,
        *,
        lease: Lease | None = None,
    ) -> int:
        """Append events after ``expected_seq`` (optimistic concurrency), atomically.

        Returns the new last sequence number. Raises `ConcurrencyConflict`,
        writing nothing, if the instance's last event is not ``expected_seq``.
        With ``lease`` (fencing) it raises `LeaseLost`, writing nothing, unless the
        instance's lease is still that owner's at that epoch.
        """

    def read(
        self, instance_id: str, after_seq: int = 0, *, times: bool = True
    ) -> list[StoredEvent]:
        """The instance's events with ``seq > after_seq``, in order.

        With ``times=False`` their ``recorded_at`` is None: replay does not need
        it, and parsing a timestamp per row is a large part of reading one.
        """

    def family(self, instance_id: str) -> Family:
        """The instance's parent and children (`create_instance(parent=...)`)."""

    def read_many(self, instance_ids: Sequence[str]) -> dict[str, list[StoredEvent]]:
        """The events of several instances at once, by id, without times.

        One query for many small instances (as `wio replay` reads them); an
        unknown id maps to no events.
        """

    def get_instance(self, instance_id: str) -> InstanceRecord:
        """The registry row; raises `UnknownInstance`."""

    def list_instances(
        self,
        status: InstanceStatus | None = None,
        workflow: str | None = None,
        *,
        version: int | None = None,
        after: str | None = None,
        limit: int | None = None,
        matching: InstanceFilter | None = None,
    ) -> list[InstanceRecord]:
        """Registry rows, oldest first (by creation time, then id), optionally filtered.

        A page at a time: ``after`` (an instance id) starts after that row, and
        ``limit`` bounds the rows; an index keeps pages fast at any size.
        ``matching`` adds filters on the id, the times and the tags.
        """

    def tags_of(self, instance_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        """The tags of these instances (name to value), by id; an instance without
        tags, or an unknown id, maps to an empty dict."""

    def count_instances(
        self,
        workflow: str | None = None,
        *,
        version: int | None = None,
        matching: InstanceFilter | None = None,
    ) -> dict[InstanceStatus, int]:
        """How many instances have each status (statuses with none are left out),
        among those `list_instances` selects with the same filters: the counts by
        status of what a filter matches, whatever status is chosen besides."""

    def last_updated(self) -> datetime | None:
        """The latest ``updated_at`` of any instance (None without instances): a
        cheap cursor, read from an index, that moves when an instance's registry
        row changes (the console's live pages watch it)."""

    def update_instance(
        self,
        instance_id: str,
        update: StatusUpdate,
        now: datetime,
        *,
        expected_seq: int | None = None,
        expected_status: InstanceStatus | None = None,
        expected_attempts: int | None = None,
    ) -> None:
        """Change an instance's status fields without appending events.

        With ``expected_seq``, ``expected_status`` or ``expected_attempts`` the change
        is a compare-and-set: unless the last event is #``expected_seq``, the status
        ``expected_status`` and the failed attempts ``expected_attempts``, it raises
        `InstanceChanged` and writes nothing (so a stale process never sets a retry
        count back).
        """

    def acquire_lease(
        self, instance_id: str, owner: str, now: datetime, ttl: timedelta
    ) -> InstanceRecord:
        """Take or renew the lease; raises `LeaseHeld` if another owner's is unexpired.

        Taking a lease that was free or expired bumps its ``lease_epoch``; renewing
        one that ``owner`` holds unexpired keeps it."""

    def release_lease(self, instance_id: str, owner: str) -> None:
        """Give the lease up, if ``owner`` holds it."""

    def renew_leases(self, owner: str, now: datetime, ttl: timedelta) -> int:
        """Extend every lease ``owner`` holds; returns how many."""

    def claim_runnable(
        self,
        owner: str,
        now: datetime,
        ttl: timedelta,
        limit: int,
        workflows: Sequence[tuple[str, int]] | None = None,
    ) -> list[InstanceRecord]:
        """Lease up to ``limit`` running instances that are due and not leased.

        Due means running with no ``wakeup_at`` or one in the past, or waiting
        with a ``wakeup_at`` in the past (a timeout ran out). Expired leases count
        as free, which is how the work of a dead process is picked up again.
        Instances ``owner`` already holds are not returned again. Each claimed
        instance's ``lease_epoch`` is bumped.
        """

    def prune(
        self,
        finished_before: datetime,
        statuses: Iterable[InstanceStatus] = FINAL_STATUSES,
        *,
        batch_size: int = 1000,
        dry_run: bool = False,
    ) -> int:
        """Delete the instances in ``statuses`` (final ones only: finished, failed)
        last updated before ``finished_before``, with their events, in transactions
        of at most ``batch_size`` instances so that no lock is held long. Returns how
        many were deleted; with ``dry_run``, how many would be, deleting nothing."""
        ...

    def register_workflow(self, name: str, version: int, model: Any, now: datetime) -> None:
        """Record that a worker runs this workflow version, with its model JSON, at ``now``."""

    def list_workflows(self) -> list[WorkflowRecord]:
        """The registered workflow versions, by name and version."""

    def workflow_model(self, name: str, version: int) -> Any | None:
        """The model JSON a worker registered for this workflow version, or None."""

    def wait_for_work(self, timeout: float) -> None:
        """Block until new work may be available or ``timeout`` seconds pass."""

    def wake(self) -> None:
        """Make this process's `wait_for_work` calls return now (e.g. to shut down)."""

    def fit_concurrency(self, concurrency: int) -> None:
        """Get ready for ``concurrency`` threads of this process calling at once (a
        worker's, an `AsyncRuntime`'s): on PostgreSQL a connection for each, and
        their single-event appends committed together (group commit) unless the
        URL sets ``group_commit``. Never shrinks what it has."""

    def ping(self, timeout: float = 1.0) -> None:
        """Raise `JournalUnavailable` unless the database answers within about
        ``timeout`` seconds, on a connection of its own (a health probe must not
        wait behind the journal's other work)."""

    def close(self) -> None: ...

    def __enter__(self) -> Journal: ...

    def __exit__(self, *exc: object) -> None: ...
