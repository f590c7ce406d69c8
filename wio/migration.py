"""Move running instances to another version of their workflow, after checking each.

Each instance is checked by strict replay of its journal against the new
version. If it replays, one transaction appends a `Migrated` event (when, from
which version, to which) and moves its registry row to the new version, under
the instance's lease and at the journal position the check read, so a worker
advancing it at the same time makes the migration refuse, never interleave.
An instance that does not replay is refused with where it diverges, and
nothing about it changes.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from attrs import frozen

from wio.clock import Clock, SystemClock
from wio.definition import Workflow
from wio.journal import (
    ConcurrencyConflict,
    InstanceRecord,
    InstanceStatus,
    Journal,
    LeaseHeld,
    StatusUpdate,
    UnknownInstance,
)
from wio.replayer import recovery_waits
from wio.runtime.base import default_owner
from wio.runtime.core import InstanceCore
from wio.runtime.persistence import registry_view
from wio.runtime.replay import Divergence, replay_strictly
from wio.versions import Migrated

UNFINISHED = (InstanceStatus.RUNNING, InstanceStatus.WAITING)


class Outcome(enum.StrEnum):
    MIGRATED = "migrated"
    WOULD_MIGRATE = "would migrate"  # a dry run's verdict
    REFUSED = "refused"
    SKIPPED = "skipped"  # nothing to do: finished, failed, or at the version already


@frozen
class MigrationResult:
    """What happened to one instance, and why."""

    instance_id: str
    outcome: Outcome
    from_version: int | None
    to_version: int
    reason: str = ""
    divergence: Divergence | None = None

    def __str__(self) -> str:
        moved = "" if self.from_version is None else f" v{self.from_version} -> v{self.to_version}"
        reason = f": {self.reason}" if self.reason else ""
        return f"{self.instance_id}: {self.outcome}{moved}{reason}"


def migrate(
    journal: Journal,
    target: Workflow[Any, Any, Any],
    *,
    from_version: int | None = None,
    instance_ids: Iterable[str] = (),
    dry_run: bool = False,
    allow_recovery_wait: bool = False,
    owner: str | None = None,
    clock: Clock | None = None,
    lease_ttl: float = 30.0,
) -> list[MigrationResult]:
    """Move instances of ``target``'s workflow to ``target``'s version.

    With ``instance_ids`` those instances, otherwise every running or waiting
    instance of the workflow at another version (only ``from_version``, if given).
    An instance that replays but would then wait at a `recover` node (no step
    records its event: only ``wio deliver`` can) is refused unless
    ``allow_recovery_wait``.
    """
    migration = _Migration(
        journal,
        target,
        owner or f"wio-migrate:{default_owner()}",
        clock or SystemClock(),
        timedelta(seconds=lease_ttl),
        allow_recovery_wait,
    )
    ids = list(instance_ids)
    if ids:
        chosen = [(instance_id, _record(journal, instance_id)) for instance_id in ids]
    else:
        chosen = [
            (r.id, r)
            for r in journal.list_instances(workflow=target.name)
            if r.status in UNFINISHED and r.workflow_version != target.version
        ]
    results = []
    for instance_id, record in chosen:
        if record is None:
            results.append(
                MigrationResult(
                    instance_id, Outcome.REFUSED, None, target.version, "no such instance"
                )
            )
        elif (skip := migration.skip_reason(record, from_version)) is not None:
            outcome = Outcome.REFUSED if record.workflow != target.name else Outcome.SKIPPED
            results.append(migration.result(record, outcome, skip))
        else:
            results.append(migration.check(record) if dry_run else migration.move(record.id))
    return results


def _record(journal: Journal, instance_id: str) -> InstanceRecord | None:
    try:
        return journal.get_instance(instance_id)
    except UnknownInstance:
        return None


@frozen
class _Migration:
    journal: Journal
    target: Workflow[Any, Any, Any]
    owner: str
    clock: Clock
    ttl: timedelta
    allow_recovery_wait: bool

    def skip_reason(self, record: InstanceRecord, from_version: int | None) -> str | None:
        if record.workflow != self.target.name:
            return (
                f"it runs workflow {record.workflow!r}, not {self.target.name!r}; nothing changed"
            )
        if record.workflow_version == self.target.version:
            return f"it runs version {self.target.version} already"
        if from_version is not None and record.workflow_version != from_version:
            return f"it runs version {record.workflow_version}, not {from_version} (--from)"
        if record.status not in UNFINISHED:
            return f"it is {record.status}; only running and waiting instances move"
        return None

    def check(self, record: InstanceRecord) -> MigrationResult:
        """A dry run: replay only; takes no lease and writes nothing."""
        core = self._replayed(record)
        if isinstance(core, MigrationResult):
            return core
        return self.result(record, Outcome.WOULD_MIGRATE, f"then {core.waiting_for()}")

    def move(self, instance_id: str) -> MigrationResult:
        """Check and move one instance, atomically, under its lease."""
        try:
            record = self.journal.acquire_lease(instance_id, self.owner, self.clock.now(), self.ttl)
        except LeaseHeld as exc:
            return MigrationResult(
                instance_id,
                Outcome.REFUSED,
                None,
                self.target.version,
                f"it is being advanced by {exc.owner!r}; nothing changed, try again",
            )
        moved = False
        try:
            skip = self.skip_reason(record, None)  # it may have moved on before the lease
            if skip is not None:
                return self.result(record, Outcome.SKIPPED, skip)
            core = self._replayed(record)
            if isinstance(core, MigrationResult):
                return core
            view = registry_view(core)
            now = self.clock.now()
            migrated = Migrated(record.workflow_version, self.target.version, now)
            update = StatusUpdate(
                status=view.status,
                wakeup_at=view.wakeup_at,
                last_error=None,
                attempts=0,
                release_lease=True,
                workflow_version=self.target.version,
            )
            try:
                self.journal.append(
                    record.id,
                    record.last_seq,
                    [self.target.codec.encode(migrated)],
                    now,
                    update,
                )
            except ConcurrencyConflict:
                return self.result(
                    record,
                    Outcome.REFUSED,
                    "its journal grew while it was checked; nothing changed, try again",
                )
            moved = True
            return self.result(record, Outcome.MIGRATED, f"now {core.waiting_for()}")
        finally:
            if not moved:
                self.journal.release_lease(instance_id, self.owner)

    def _replayed(self, record: InstanceRecord) -> InstanceCore | MigrationResult:
        """The instance as the target version replays it, or why it cannot move."""
        verdict, core = replay_strictly(
            self.target, record.id, record.input, self.journal.read(record.id, times=False)
        )
        if verdict.divergence is not None or core is None:
            return self._refused(record, verdict.divergence)
        return self._stranded(record, core) or core

    def _stranded(self, record: InstanceRecord, core: InstanceCore) -> MigrationResult | None:
        waits = recovery_waits(core.cursor)
        if not waits or self.allow_recovery_wait:
            return None
        return self.result(
            record,
            Outcome.REFUSED,
            f"it would wait at recover node {', '.join(waits)}, which only an operator's "
            "`wio deliver` can provide; nothing changed (allow it with --allow-recovery-wait)",
        )

    def _refused(self, record: InstanceRecord, divergence: Divergence | None) -> MigrationResult:
        reason = f"{divergence}; nothing changed" if divergence else "it does not replay"
        return MigrationResult(
            record.id,
            Outcome.REFUSED,
            record.workflow_version,
            self.target.version,
            reason,
            divergence,
        )

    def result(self, record: InstanceRecord, outcome: Outcome, reason: str) -> MigrationResult:
        return MigrationResult(
            record.id, outcome, record.workflow_version, self.target.version, reason
        )
