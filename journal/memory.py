"""The in-memory journal: for tests and for trying things out. Nothing survives the process."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import attrs

from .errors import ConcurrencyConflict, DuplicateInstance, LeaseHeld, LeaseLost, UnknownInstance
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
    check_events_storable,
    check_expected,
    check_instance_storable,
    prunable,
)


class MemoryJournal:
    def __init__(self, url: str = "memory://") -> None:
        self.url = url
        self._lock = threading.Condition()
        self._instances: dict[str, InstanceRecord] = {}
        self._events: dict[str, list[StoredEvent]] = {}
        self._workflows: dict[tuple[str, int], tuple[Any, datetime]] = {}
        self._tags: dict[str, dict[str, str]] = {}
        self._parents: dict[str, str] = {}  # child id -> parent id

    def create_instance(
        self,
        record: InstanceRecord,
        events: Sequence[NewEvent] = (),
        *,
        parent: str | None = None,
    ) -> None:
        check_instance_storable(record)
        check_events_storable(record.id, 0, events)
        with self._lock:
            if record.id in self._instances:
                raise DuplicateInstance(record.id)
            if parent is not None:
                if parent not in self._instances:
                    raise UnknownInstance(parent)
                self._parents[record.id] = parent
            self._instances[record.id] = attrs.evolve(record, last_seq=len(events))
            self._events[record.id] = [
                StoredEvent(record.id, seq, e.type, e.version, e.payload, record.created_at, e.node)
                for seq, e in enumerate(events, start=1)
            ]
            self._lock.notify_all()

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
        check_events_storable(instance_id, expected_seq, events)
        with self._lock:
            stored = self._events_of(instance_id)
            holder = self._instances[instance_id]
            if lease is not None and (holder.lease_owner, holder.lease_epoch) != (
                lease.owner,
                lease.epoch,
            ):
                raise LeaseLost(
                    instance_id, lease.owner, lease.epoch, holder.lease_owner, holder.lease_epoch
                )
            if len(stored) != expected_seq:
                raise ConcurrencyConflict(instance_id, expected_seq, len(stored))
            for offset, event in enumerate(events, start=1):
                stored.append(
                    StoredEvent(
                        instance_id,
                        expected_seq + offset,
                        event.type,
                        event.version,
                        event.payload,
                        now,
                        event.node,
                    )
                )
            record = self._instances[instance_id]
            record = attrs.evolve(record, last_seq=len(stored), updated_at=now)
            if update is not None:
                record = self._updated(record, update, now)
                self._set_tags(instance_id, update)
            self._instances[instance_id] = record
            return len(stored)

    def family(self, instance_id: str) -> Family:
        with self._lock:
            children = sorted(c for c, p in self._parents.items() if p == instance_id)
            return Family(self._parents.get(instance_id), tuple(children))

    def _updated(
        self, record: InstanceRecord, update: StatusUpdate, now: datetime
    ) -> InstanceRecord:
        """``record`` updated; a child's end makes its waiting parent runnable."""
        parent = self._parents.get(record.id)
        if update.status in FINAL_STATUSES and parent is not None:
            waiting = self._instances.get(parent)
            if waiting is not None and waiting.status == InstanceStatus.WAITING:
                self._instances[parent] = attrs.evolve(
                    waiting, status=InstanceStatus.RUNNING, wakeup_at=None, updated_at=now
                )
                self._lock.notify_all()
        return _updated(record, update, now)

    def read(
        self, instance_id: str, after_seq: int = 0, *, times: bool = True
    ) -> list[StoredEvent]:
        with self._lock:
            events = self._events_of(instance_id)
            # Numbered 1, 2, 3, ...: the position is the seq (a negative one reads all).
            return list(events[max(after_seq, 0) :])

    def read_many(self, instance_ids: Sequence[str]) -> dict[str, list[StoredEvent]]:
        with self._lock:
            return {
                i: [e._replace(recorded_at=None) for e in self._events.get(i, ())]
                for i in instance_ids
            }

    def get_instance(self, instance_id: str) -> InstanceRecord:
        with self._lock:
            try:
                return self._instances[instance_id]
            except KeyError:
                raise UnknownInstance(instance_id) from None

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
        where = matching or InstanceFilter()
        with self._lock:
            rows = sorted(self._instances.values(), key=lambda r: (r.created_at, r.id))
            start = self._instances.get(after) if after is not None else None
            if after is not None and start is None:
                return []  # as in SQL: no row comes after a row that is not there
            found = [
                r
                for r in rows
                if (status is None or r.status == status)
                and (workflow is None or r.workflow == workflow)
                and (version is None or r.workflow_version == version)
                and (start is None or (r.created_at, r.id) > (start.created_at, start.id))
                and self._matches(r, where)
            ]
            return found if limit is None else found[:limit]

    def _matches(self, record: InstanceRecord, where: InstanceFilter) -> bool:
        tags = self._tags.get(record.id, {})
        return (
            (where.id_prefix is None or record.id.startswith(where.id_prefix))
            and (where.created_from is None or record.created_at >= where.created_from)
            and (where.created_to is None or record.created_at <= where.created_to)
            and (where.updated_from is None or record.updated_at >= where.updated_from)
            and (where.updated_to is None or record.updated_at <= where.updated_to)
            and all(tags.get(name) == value for name, value in where.tags)
        )

    def _set_tags(self, instance_id: str, update: StatusUpdate) -> None:
        if update.tags is not None:
            self._tags[instance_id] = dict(update.tags)

    def tags_of(self, instance_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        with self._lock:
            return {i: dict(self._tags.get(i, {})) for i in instance_ids}

    def prune(
        self,
        finished_before: datetime,
        statuses: Iterable[InstanceStatus] = FINAL_STATUSES,
        *,
        batch_size: int = 1000,
        dry_run: bool = False,
    ) -> int:
        # Documented on `Journal.prune` (protocol.py).
        chosen = prunable(statuses)
        with self._lock:
            doomed = [
                r.id
                for r in self._instances.values()
                if r.status in chosen and r.updated_at < finished_before
            ]
            if not dry_run:
                for instance_id in doomed:
                    del self._instances[instance_id]
                    del self._events[instance_id]
                    self._tags.pop(instance_id, None)
                    self._parents.pop(instance_id, None)
                gone = set(doomed)
                self._parents = {c: p for c, p in self._parents.items() if p not in gone}
        return len(doomed)

    def count_instances(
        self,
        workflow: str | None = None,
        *,
        version: int | None = None,
        matching: InstanceFilter | None = None,
    ) -> dict[InstanceStatus, int]:
        counts: dict[InstanceStatus, int] = {}
        for record in self.list_instances(None, workflow, version=version, matching=matching):
            counts[record.status] = counts.get(record.status, 0) + 1
        return counts

    def last_updated(self) -> datetime | None:
        with self._lock:
            return max((r.updated_at for r in self._instances.values()), default=None)

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
        with self._lock:
            record = self.get_instance(instance_id)
            check_expected(record, expected_seq, expected_status, expected_attempts)
            self._instances[instance_id] = self._updated(record, update, now)
            self._set_tags(instance_id, update)

    def acquire_lease(
        self, instance_id: str, owner: str, now: datetime, ttl: timedelta
    ) -> InstanceRecord:
        with self._lock:
            record = self.get_instance(instance_id)
            if not _lease_free(record, owner, now):
                raise LeaseHeld(instance_id, record.lease_owner)
            renewed = record.lease_owner == owner and not _lease_free(record, None, now)
            record = attrs.evolve(
                record,
                lease_owner=owner,
                lease_expires_at=now + ttl,
                lease_epoch=record.lease_epoch + (0 if renewed else 1),
            )
            self._instances[instance_id] = record
            return record

    def release_lease(self, instance_id: str, owner: str) -> None:
        with self._lock:
            record = self.get_instance(instance_id)
            if record.lease_owner == owner:
                self._instances[instance_id] = attrs.evolve(
                    record, lease_owner=None, lease_expires_at=None
                )
                self._lock.notify_all()

    def renew_leases(self, owner: str, now: datetime, ttl: timedelta) -> int:
        with self._lock:
            held = [r for r in self._instances.values() if r.lease_owner == owner]
            for record in held:
                self._instances[record.id] = attrs.evolve(record, lease_expires_at=now + ttl)
            return len(held)

    def claim_runnable(
        self,
        owner: str,
        now: datetime,
        ttl: timedelta,
        limit: int,
        workflows: Sequence[tuple[str, int]] | None = None,
    ) -> list[InstanceRecord]:
        with self._lock:
            accepted = None if workflows is None else set(workflows)
            claimed: list[InstanceRecord] = []
            for record in sorted(self._instances.values(), key=lambda r: (r.updated_at, r.id)):
                if len(claimed) >= limit:
                    break
                due = record.wakeup_at is None or record.wakeup_at <= now
                woken = record.wakeup_at is not None and record.wakeup_at <= now
                if (
                    (
                        (record.status == InstanceStatus.RUNNING and due)
                        or (record.status == InstanceStatus.WAITING and woken)
                    )
                    and (accepted is None or (record.workflow, record.workflow_version) in accepted)
                    and _lease_free(record, None, now)
                ):
                    leased = attrs.evolve(
                        record,
                        lease_owner=owner,
                        lease_expires_at=now + ttl,
                        lease_epoch=record.lease_epoch + 1,
                    )
                    self._instances[record.id] = leased
                    claimed.append(leased)
            return claimed

    def upgrade(self) -> list[int]:
        return []  # nothing to migrate in memory

    def register_workflow(self, name: str, version: int, model: Any, now: datetime) -> None:
        with self._lock:
            self._workflows[(name, version)] = (model, now)

    def list_workflows(self) -> list[WorkflowRecord]:
        with self._lock:
            return [
                WorkflowRecord(name, version, registered_at)
                for (name, version), (_, registered_at) in sorted(self._workflows.items())
            ]

    def workflow_model(self, name: str, version: int) -> Any | None:
        with self._lock:
            registered = self._workflows.get((name, version))
        return None if registered is None else registered[0]

    def wait_for_work(self, timeout: float) -> None:
        with self._lock:
            self._lock.wait(timeout)

    def wake(self) -> None:
        with self._lock:
            self._lock.notify_all()

    def fit_concurrency(self, concurrency: int) -> None:
        return None  # in memory: nothing to size, each append is immediate

    def ping(self, timeout: float = 1.0) -> None:
        return None

    def close(self) -> None:
        return None

    def __enter__(self) -> MemoryJournal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _events_of(self, instance_id: str) -> list[StoredEvent]:
        try:
            return self._events[instance_id]
        except KeyError:
            raise UnknownInstance(instance_id) from None


def _lease_free(record: InstanceRecord, owner: str | None, now: datetime) -> bool:
    return (
        record.lease_owner is None
        or record.lease_owner == owner
        or (record.lease_expires_at is not None and record.lease_expires_at <= now)
    )


def _updated(record: InstanceRecord, update: StatusUpdate, now: datetime) -> InstanceRecord:
    lease = {"lease_owner": None, "lease_expires_at": None} if update.release_lease else {}
    if update.cancelled and record.cancelled_at is None:
        record = attrs.evolve(record, cancelled_at=now)
    if update.workflow_version is not None:
        record = attrs.evolve(record, workflow_version=update.workflow_version)
    return attrs.evolve(
        record,
        status=update.status,
        wakeup_at=update.wakeup_at,
        last_error=update.last_error,
        attempts=update.attempts,
        updated_at=now,
        **lease,  # type: ignore[arg-type]
    )
