"""What operators do to instances: retry, cancel and fork, one at a time or in bulk.

Each action works on the journal alone (it needs no workflow code) and is
safe while workers run: it is one conditional write, a compare-and-set on the
instance's last event and status, or an append at the next sequence number
(optimistic concurrency). When a worker or another operator changed the
instance in between, the action is retried against the new state or refused
with the reason; nothing is lost or written twice.

- `retry` moves a failed instance back to running at the step that failed,
  with its attempts reset; a worker with the fixed code (or upcaster) runs it.
- `cancel` records a `wio.Cancelled` event: the instance stops at the next
  event boundary, its timers and signal waits are dropped, and it never runs
  another step of its workflow. A step in flight then may finish its side
  effect, but its event is refused (at-least-once, as after a crash). A
  workflow with a cleanup flow (`Workflow.on_cancel`) stays running while a
  worker runs that flow, and ends cancelled after it.
- `fork` creates a new instance whose journal is a copy of the first events
  of another; a worker runs it on under the current (or a named) version.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from attrs import frozen

from wio.cancellation import Cancelled, declares_cleanup
from wio.codec import EventCodec, InputError
from wio.errors import WioError
from wio.journal import (
    ConcurrencyConflict,
    DuplicateInstance,
    InstanceRecord,
    InstanceStatus,
    Journal,
    NewEvent,
    StatusUpdate,
    UnknownInstance,
)
from wio.journal.records import FINAL_STATUSES

_CODEC = EventCodec([Cancelled])
CANCELLED = _CODEC.name_of(Cancelled)
_CONFLICT_RETRIES = 20  # a worker keeps appending: try again against its newer state


class OperationRefused(WioError):
    """Raised when an operator action (retry, cancel, fork) cannot apply to an instance,
    with the reason; nothing was written."""

    def __init__(self, instance_id: str, problem: str) -> None:
        super().__init__(f"instance {instance_id!r}: {problem}; nothing was written")
        self.instance_id = instance_id
        self.problem = problem


class NoSuchInstance(OperationRefused):
    """Raised when the instance an operator action names is not in the journal."""


class BulkSelectionChanged(WioError):
    """Raised when a bulk action's confirmation count is not the number of instances
    selected now: the selection changed since it was counted, so nothing is done."""

    def __init__(self, verb: str, confirmed: int, selected: int) -> None:
        super().__init__(
            f"{verb}: confirm says {confirmed} instance(s) but {selected} are selected now; "
            "nothing was written (count them again with a dry run)"
        )


class MigrationRefused(WioError):
    """Raised when the one instance a migrate request names is refused or skipped, with
    the reason (where it diverges, or why it does not move)."""

    def __init__(self, instance_id: str, outcome: str, reason: str) -> None:
        super().__init__(f"instance {instance_id!r}: {outcome}: {reason}")
        self.instance_id = instance_id
        self.reason = reason


def retry(journal: Journal, instance_id: str, *, now: datetime | None = None) -> InstanceRecord:
    """Move a failed instance back to running at the step that failed, attempts reset."""
    record = _get(journal, instance_id)
    if record.status != InstanceStatus.FAILED:
        raise OperationRefused(
            instance_id, f"it is {record.status}, not failed: only failed instances are retried"
        )
    if record.last_error is None:
        raise OperationRefused(
            instance_id,
            "it ended with a business error the workflow raised, which is its final result; "
            "fork it at an earlier event to run it again",
        )
    try:
        journal.update_instance(
            instance_id,
            StatusUpdate(InstanceStatus.RUNNING, release_lease=True),
            now or datetime.now(UTC),
            expected_seq=record.last_seq,
            expected_status=InstanceStatus.FAILED,
        )
    except ConcurrencyConflict as exc:
        raise OperationRefused(instance_id, f"it changed meanwhile ({exc})") from None
    return journal.get_instance(instance_id)


def cancel(
    journal: Journal, instance_id: str, reason: str, *, now: datetime | None = None
) -> InstanceRecord:
    """Record a cancellation: the instance stops at the next event boundary for good.

    Its child instances (`WIO.run_child`) that have not ended are cancelled first,
    and theirs before them: if this is interrupted, cancelling again finishes the job
    (a parent is never left cancelled with children running).

    When the workflow version declares a cleanup flow (`Workflow.on_cancel`, as the
    workers serving it registered), the instance stays running after the event until
    a worker has run that flow; cancelling it again meanwhile changes nothing and
    returns it as it is. An instance that has ended is refused, with how it ended:
    finished, cancelled, failed with a business error (its final result), or failed
    in its cleanup (`retry` runs the cleanup again). One that failed at a step of its
    workflow (it awaits a retry) is cancelled, so that nobody retries it.

    Whether a cancellation is recorded is read from the registry row (its
    ``cancelled_at``, written with the event), never from the journal."""
    moment = now or datetime.now(UTC)
    record = _get(journal, instance_id)
    if _cancelled_already(record):
        return record  # its cleanup is running: the first cancellation stands
    cleans_up = declares_cleanup(journal.workflow_model(record.workflow, record.workflow_version))
    for child in journal.family(instance_id).children:
        if _get(journal, child).status in FINAL_STATUSES:
            continue
        why = f"its parent {instance_id!r} was cancelled: {reason}"
        with contextlib.suppress(OperationRefused):  # it ended meanwhile
            cancel(journal, child, why, now=now)
    event = _CODEC.encode(Cancelled(reason, moment))
    # With a cleanup flow, running: a worker claims it, replays the cancellation and runs it.
    final = InstanceStatus.RUNNING if cleans_up else InstanceStatus.CANCELLED
    update = StatusUpdate(final, release_lease=True, cancelled=True)
    for _ in range(_CONFLICT_RETRIES):
        record = _get(journal, instance_id)
        if _cancelled_already(record):
            return record
        try:
            # At the seq the row was read at: a cancellation recorded meanwhile (with its
            # ``cancelled_at``) makes this a conflict, and the next round returns it.
            journal.append(instance_id, record.last_seq, [event], moment, update)
        except ConcurrencyConflict:
            continue  # a worker recorded an event meanwhile: cancel after it
        return journal.get_instance(instance_id)
    raise OperationRefused(instance_id, "it kept changing while it was being cancelled")


def fork(
    journal: Journal,
    instance_id: str,
    at: int,
    new_id: str,
    *,
    version: int | None = None,
    now: datetime | None = None,
) -> InstanceRecord:
    """A new instance ``new_id`` whose journal is the first ``at`` events of another.

    It runs under ``version`` of the workflow, by default the newest one a
    worker registered (or the original's); the original is left untouched.
    """
    if not new_id.strip():
        raise OperationRefused(instance_id, f"the fork's id {new_id!r} is blank")
    record = _get(journal, instance_id)
    if not 0 <= at <= record.last_seq:
        raise OperationRefused(
            instance_id, f"it has events #1 to #{record.last_seq}: cannot fork at #{at}"
        )
    registered = [w.version for w in journal.list_workflows() if w.name == record.workflow]
    if version is None:
        version = max(registered, default=record.workflow_version)
    elif version not in registered and version != record.workflow_version:
        known = ", ".join(map(str, registered)) or "none"
        raise OperationRefused(
            instance_id,
            f"no worker registered version {version} of {record.workflow!r} (registered: "
            f"{known}); start a worker with that version first",
        )
    stored = journal.read(instance_id)[:at]
    if any(e.type == CANCELLED for e in stored):
        raise OperationRefused(
            instance_id, f"event #{at} is its cancellation: fork at an earlier event"
        )
    moment = now or datetime.now(UTC)
    forked = InstanceRecord(
        id=new_id,
        workflow=record.workflow,
        workflow_version=version,
        status=InstanceStatus.RUNNING,
        input=record.input,
        created_at=moment,
        updated_at=moment,
    )
    try:
        journal.create_instance(
            forked, [NewEvent(e.type, e.version, e.payload, e.node) for e in stored]
        )
    except DuplicateInstance:
        raise OperationRefused(
            instance_id, f"cannot fork as {new_id!r}: it exists already"
        ) from None
    return journal.get_instance(new_id)


def select(
    journal: Journal,
    *,
    status: InstanceStatus | None = None,
    workflow: str | None = None,
    version: int | None = None,
    since: datetime | None = None,
) -> list[InstanceRecord]:
    """The instances a bulk action works on: filtered by status, workflow, version and
    last update (at or after ``since``), oldest first."""
    return [
        record
        for record in journal.list_instances(status, workflow, version=version)
        if since is None or record.updated_at >= since
    ]


@frozen(kw_only=True)
class Selection:
    """Which instances a bulk action works on, the same for every verb and face (the
    Python API, the CLI's ``--status/--workflow/--version/--since``, the HTTP API's
    bulk bodies): at least one filter, so that no action selects everything by
    omission. A ``since`` without a timezone is UTC."""

    status: InstanceStatus | None = None
    workflow: str | None = None
    version: int | None = None
    since: datetime | None = None  # updated at or after this moment

    def records(self, journal: Journal, verb: str) -> list[InstanceRecord]:
        """The instances selected now, oldest first; `InputError` if nothing filters."""
        if all(f is None for f in (self.status, self.workflow, self.version, self.since)):
            raise InputError(
                f"{verb}: select instances with at least one of status, workflow, version, since"
            )
        since = self.since
        if since is not None and since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        return select(
            journal, status=self.status, workflow=self.workflow, version=self.version, since=since
        )


def check_confirmed(verb: str, selected: Sequence[InstanceRecord], confirm: int | None) -> None:
    """Raise `BulkSelectionChanged` unless ``confirm`` (when given) is the number selected:
    the selection changed since it was counted, and nothing is to be done."""
    if confirm is not None and confirm != len(selected):
        raise BulkSelectionChanged(verb, confirm, len(selected))


def bulk(
    journal: Journal,
    verb: str,
    selection: Selection,
    action: Callable[[InstanceRecord], InstanceRecord],
    *,
    confirm: int | None = None,
) -> list[Outcome]:
    """``action`` on each instance ``selection`` selects, each on its own (see `each`).

    With ``confirm``, the number a dry run (``selection.records``) counted, a selection
    that grew or shrank since is refused whole (`BulkSelectionChanged`)."""
    chosen = selection.records(journal, verb)
    check_confirmed(verb, chosen, confirm)
    return each(chosen, action)


@frozen
class Outcome:
    """What a bulk action did to one instance: done, or refused with the reason."""

    instance_id: str
    done: bool
    detail: str


def each(
    records: Sequence[InstanceRecord], action: Callable[[InstanceRecord], InstanceRecord]
) -> list[Outcome]:
    """Apply ``action`` to every instance on its own: one refusal stops no other."""
    outcomes = []
    for record in records:
        try:
            after = action(record)
        except (WioError, UnknownInstance) as exc:
            outcomes.append(Outcome(record.id, False, str(exc)))
        else:
            outcomes.append(Outcome(record.id, True, f"{after.id}: {after.status}"))
    return outcomes


def _cancelled_already(record: InstanceRecord) -> bool:
    """Whether a cancellation of ``record`` is recorded and its cleanup runs (there is
    nothing more to do); raises `OperationRefused` if the instance has ended."""
    ended = {
        InstanceStatus.FINISHED: "it is finished already",
        InstanceStatus.CANCELLED: "it is cancelled already",
    }.get(record.status)
    if record.status == InstanceStatus.FAILED:
        if record.cancelled_at is not None:
            ended = (
                f"it was cancelled at {record.cancelled_at.isoformat()} and failed in its "
                f"cleanup ({record.last_error}); retry it to run the cleanup again"
            )
        elif record.last_error is None:
            ended = (
                "it ended with a business error the workflow raised, which is its final "
                "result: there is nothing to cancel"
            )
    if ended is not None:
        raise OperationRefused(record.id, ended)
    return record.cancelled_at is not None


def _get(journal: Journal, instance_id: str) -> InstanceRecord:
    if not instance_id:
        raise OperationRefused(instance_id, "the instance id is empty")
    try:
        return journal.get_instance(instance_id)
    except UnknownInstance:
        raise NoSuchInstance(instance_id, "no such instance in the journal") from None
