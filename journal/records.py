"""What a journal stores: encoded events and the instance registry.

Journals know nothing of wio's types: events arrive already encoded (a stable
type name, a version and a JSON payload), so storage and domain stay apart.
Times are timezone-aware UTC datetimes, supplied by the caller's clock.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from attrs import frozen

from .errors import InstanceChanged, NotPrunable, UnstorableValue


class InstanceStatus(enum.StrEnum):
    """Where an instance stands. The one status enum of wio: the interpreter, the
    runtimes and the registry share it, and it is defined here because the journal
    imports nothing from the rest of wio."""

    RUNNING = "running"  # an effect is due (or a failed step awaits its retry)
    WAITING = "waiting"  # blocked until something outside delivers an event
    FINISHED = "finished"
    FAILED = "failed"  # a business error escaped the workflow, or a step gave up
    CANCELLED = "cancelled"  # by an operator: never runs another step


# The statuses an instance never leaves, whose instances `prune` may delete.
FINAL_STATUSES = frozenset(
    {InstanceStatus.FINISHED, InstanceStatus.FAILED, InstanceStatus.CANCELLED}
)


def prunable(statuses: Iterable[InstanceStatus]) -> list[str]:
    """The statuses to prune, as stored; raises `NotPrunable` for one that is not final."""
    chosen = sorted({InstanceStatus(status) for status in statuses})
    for status in chosen:
        if status not in FINAL_STATUSES:
            raise NotPrunable(str(status))
    return [str(status) for status in chosen]


@frozen
class NewEvent:
    """An event to append: its registered type name, type version and JSON payload,
    and the model path of the node that recorded it (e.g. ``/1/0``), if known."""

    type: str
    version: int
    payload: Any  # JSON-compatible value
    node: str | None = None


class StoredEvent(NamedTuple):
    instance_id: str
    seq: int
    type: str
    version: int
    payload: Any
    recorded_at: datetime | None  # None when read with times=False
    # The model path of the node that recorded the event; None for events written
    # before journals kept it (schema version 4).
    node: str | None = None


@frozen
class InstanceRecord:
    id: str
    workflow: str
    workflow_version: int
    status: InstanceStatus
    input: Any  # JSON-compatible value
    created_at: datetime
    updated_at: datetime
    wakeup_at: datetime | None = None
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    last_error: str | None = None
    attempts: int = 0
    last_seq: int = 0
    # The W3C traceparent of the span that created the instance, if one was current:
    # whichever process runs its steps continues that trace.
    trace_context: str | None = None
    # The fencing token: bumped each time the lease changes hands (a claim, or an
    # acquisition of a free or expired lease), never by a renewal (schema version 5).
    lease_epoch: int = 0
    # When an operator's cancel was recorded (the first, if several), kept in the row so
    # that a second cancel need not read the journal (schema version 10).
    cancelled_at: datetime | None = None


@frozen
class Family:
    """An instance's links to other instances: the one that started it as a child
    (`WIO.child`), if any, and those it started, by id."""

    parent: str | None = None
    children: tuple[str, ...] = ()


@frozen
class Lease:
    """A lease as its holder knows it: an append fenced with it is refused
    (`LeaseLost`) once the instance's lease has another owner or epoch."""

    owner: str
    epoch: int


@frozen
class StatusUpdate:
    """A change to an instance's registry row, written with an append or alone."""

    status: InstanceStatus
    wakeup_at: datetime | None = None
    last_error: str | None = None
    attempts: int = 0
    release_lease: bool = False
    workflow_version: int | None = None  # move the instance to this version (a migration)
    # Replace the instance's tags with these (name, value) pairs; None leaves them as they are.
    tags: tuple[tuple[str, str], ...] | None = None
    # The append records a cancellation: set ``cancelled_at`` to now unless it is set.
    cancelled: bool = False


@frozen
class InstanceFilter:
    """What `Journal.list_instances` selects beyond status, workflow and version.

    Times are inclusive ranges; ``tags`` are (name, value) pairs an instance must
    all carry. Each filter has an index, so a page stays fast at any size.
    """

    id_prefix: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    updated_from: datetime | None = None
    updated_to: datetime | None = None
    tags: tuple[tuple[str, str], ...] = ()


@frozen
class WorkflowRecord:
    """A workflow version a worker serves; workers renew ``registered_at`` as they run."""

    name: str
    version: int
    registered_at: datetime


def check_storable(value: Any, where: str, field: str) -> None:
    """Raise `UnstorableValue` naming the first field of ``value`` (a JSON value) that
    PostgreSQL or JSON cannot hold: every journal refuses the same data, so that a
    workflow behaves the same on SQLite, PostgreSQL and in memory."""
    if isinstance(value, str):
        if "\x00" in value:
            raise UnstorableValue(where, field, "contains a NUL character (\\x00)")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise UnstorableValue(where, field, f"is {value!r}, not a finite number")
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and "\x00" in key:
                raise UnstorableValue(where, f"a key of {field}", "contains a NUL character")
            check_storable(item, where, f"{field}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            check_storable(item, where, f"{field}[{index}]")


def check_instance_storable(record: InstanceRecord) -> None:
    """`check_storable` for a new registry row: its id and its input."""
    check_storable(record.id, "a new instance", "its id")
    check_storable(record.input, f"instance {record.id!r}", "its input")


def check_events_storable(instance_id: str, after_seq: int, events: Sequence[NewEvent]) -> None:
    """`check_storable` for events about to be appended after ``after_seq``."""
    for seq, event in enumerate(events, start=after_seq + 1):
        check_storable(
            event.payload,
            f"instance {instance_id!r}: event #{seq} of type {event.type!r}",
            "payload",
        )


def check_expected(
    record: InstanceRecord,
    expected_seq: int | None,
    expected_status: InstanceStatus | None,
    expected_attempts: int | None = None,
) -> None:
    """Raise `InstanceChanged` unless the row is at ``expected_seq`` with
    ``expected_status`` and ``expected_attempts``."""
    if expected_seq is not None and record.last_seq != expected_seq:
        raise InstanceChanged(
            record.id, f"its last event to be #{expected_seq}", f"#{record.last_seq}"
        )
    if expected_status is not None and record.status != expected_status:
        raise InstanceChanged(
            record.id, f"status {str(expected_status)!r}", f"status {str(record.status)!r}"
        )
    if expected_attempts is not None and record.attempts != expected_attempts:
        raise InstanceChanged(
            record.id, f"{expected_attempts} failed attempt(s)", f"{record.attempts}"
        )


def _same(value: Any) -> Any:
    return value


def instance_from_row(
    row: tuple[Any, ...],
    *,
    load: Callable[[Any], Any] = _same,
    moment: Callable[[Any], datetime | None] = _same,
) -> InstanceRecord:
    """An `InstanceRecord` from a row of the registry's columns, in table order, then
    the last seq, the trace context, the lease epoch and the cancellation time.

    ``load`` turns the stored input into JSON values and ``moment`` a stored
    time into a datetime, for databases that store them as text or numbers.
    """
    (id_, workflow, version, status, input_, created, updated, wakeup, owner, expires, error,
     attempts, last_seq, trace_context, lease_epoch, cancelled) = row  # fmt: skip
    created_at, updated_at = moment(created), moment(updated)
    assert created_at is not None and updated_at is not None
    return InstanceRecord(
        id=id_,
        workflow=workflow,
        workflow_version=version,
        status=InstanceStatus(status),
        input=load(input_),
        created_at=created_at,
        updated_at=updated_at,
        wakeup_at=moment(wakeup),
        lease_owner=owner,
        lease_expires_at=moment(expires),
        last_error=error,
        attempts=attempts,
        last_seq=last_seq,
        trace_context=trace_context,
        lease_epoch=lease_epoch,
        cancelled_at=moment(cancelled),
    )
