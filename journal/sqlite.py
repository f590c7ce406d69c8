"""The SQLite journal: the embedded default. One file, WAL mode, stdlib ``sqlite3``.

Several processes may share the file: writes take SQLite's write lock
(``BEGIN IMMEDIATE``) and wait up to ``busy_timeout`` for it. Workers find
new work by polling.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .errors import (
    ConcurrencyConflict,
    DuplicateInstance,
    InvalidJournalURL,
    JournalNotFound,
    JournalUnavailable,
    LeaseHeld,
    LeaseLost,
    UndecodablePayload,
    UnknownInstance,
)
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
    instance_from_row,
    prunable,
)

MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        """
        CREATE TABLE instances (
            id TEXT PRIMARY KEY,
            workflow TEXT NOT NULL,
            workflow_version INTEGER NOT NULL,
            status TEXT NOT NULL,
            input TEXT NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            wakeup_at REAL,
            lease_owner TEXT,
            lease_expires_at REAL,
            last_error TEXT,
            attempts INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX instances_due ON instances (status, wakeup_at);
        CREATE TABLE events (
            instance_id TEXT NOT NULL REFERENCES instances (id),
            seq INTEGER NOT NULL,
            type TEXT NOT NULL,
            version INTEGER NOT NULL,
            payload TEXT NOT NULL,
            recorded_at REAL NOT NULL,
            PRIMARY KEY (instance_id, seq)
        ) WITHOUT ROWID;
        CREATE TABLE workflows (
            name TEXT NOT NULL,
            version INTEGER NOT NULL,
            model TEXT NOT NULL,
            registered_at REAL NOT NULL,
            PRIMARY KEY (name, version)
        );
        """,
    ),
    (
        2,
        # The claim reads each status in its own index, in claim order, and stops
        # after a batch: its cost does not grow with the backlog.
        """
        CREATE INDEX instances_runnable ON instances (wakeup_at, updated_at)
            WHERE status = 'running';
        CREATE INDEX instances_waiting_due ON instances (wakeup_at) WHERE status = 'waiting';
        """,
    ),
    # Listing a page of instances in creation order, without sorting them all.
    (
        3,
        """
        CREATE INDEX instances_created ON instances (created_at, id);
        CREATE INDEX instances_status_created ON instances (status, created_at, id)
        """,
    ),
    # Each event names the node that recorded it, so that replay can tell the
    # events a checkpoint covers from foreign ones without decoding them.
    (4, "ALTER TABLE events ADD COLUMN node TEXT"),
    # The fencing token: bumped whenever the lease changes hands, and checked by the
    # appends of its holder, so that a stale holder's append is refused.
    (5, "ALTER TABLE instances ADD COLUMN lease_epoch INTEGER NOT NULL DEFAULT 0"),
    # Tags (values a workflow declares from its state) and an index for each filter
    # the console's list offers. Numbered 6: 5 is another change's, and the runner
    # applies whichever of them is missing, in order, independently.
    (
        6,
        """
        CREATE TABLE instance_tags (
            instance_id TEXT NOT NULL REFERENCES instances (id),
            name TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (instance_id, name)
        ) WITHOUT ROWID;
        CREATE INDEX instance_tags_lookup ON instance_tags (name, value, instance_id);
        CREATE INDEX instances_updated ON instances (updated_at, id);
        CREATE INDEX instances_workflow_created ON instances (workflow, created_at, id)
        """,
    ),
    # The trace that created an instance, continued by the worker that runs it.
    (7, "ALTER TABLE instances ADD COLUMN trace_context TEXT"),
    # Child instances: which instance started which (`create_instance(parent=...)`),
    # so that a child's end wakes its parent and `wio inspect` shows both ways.
    (
        8,
        """
        CREATE TABLE instance_children (
            child_id TEXT PRIMARY KEY REFERENCES instances (id),
            parent_id TEXT NOT NULL REFERENCES instances (id)
        ) WITHOUT ROWID;
        CREATE INDEX instance_children_parent ON instance_children (parent_id, child_id)
        """,
    ),
    # When an operator's cancel was recorded, set with its event, so that cancelling again
    # reads one row, not the journal; backfilled from the cancellations recorded so far.
    (
        10,
        """
        ALTER TABLE instances ADD COLUMN cancelled_at REAL;
        UPDATE instances SET cancelled_at = (SELECT MIN(recorded_at) FROM events
            WHERE events.instance_id = instances.id AND events.type = 'wio.Cancelled')
        WHERE id IN (SELECT instance_id FROM events WHERE type = 'wio.Cancelled')
        """,
    ),
]

SYNCHRONOUS = ("off", "normal", "full", "extra")
_INSTANCE_COLUMNS = (
    "id, workflow, workflow_version, status, input, created_at, updated_at, wakeup_at, "
    "lease_owner, lease_expires_at, last_error, attempts, "
    "(SELECT COALESCE(MAX(seq), 0) FROM events e WHERE e.instance_id = instances.id), "
    "trace_context, lease_epoch, cancelled_at"
)


_ACCEPTED = (
    "(json(:accepted) = 'null' OR EXISTS (SELECT 1 FROM json_each(:accepted) w"
    " WHERE w.value ->> 0 = workflow AND w.value ->> 1 = workflow_version))"
)
# Each status in its own partial index, in claim order (NULL wakeups first), so each
# branch stops after a batch; an OR across the statuses would sort the whole backlog.
CLAIM_RUNNABLE = f"""
UPDATE instances SET lease_owner = :owner, lease_expires_at = :expires,
    lease_epoch = lease_epoch + 1 WHERE id IN (
    SELECT id FROM (
        SELECT * FROM (
            SELECT id, wakeup_at, updated_at FROM instances INDEXED BY instances_runnable
            WHERE status = 'running' AND (wakeup_at IS NULL OR wakeup_at <= :now)
            AND (lease_owner IS NULL OR lease_expires_at <= :now) AND {_ACCEPTED}
            ORDER BY wakeup_at, updated_at LIMIT :limit)
        UNION ALL
        SELECT * FROM (
            SELECT id, wakeup_at, updated_at FROM instances INDEXED BY instances_waiting_due
            WHERE status = 'waiting' AND wakeup_at <= :now
            AND (lease_owner IS NULL OR lease_expires_at <= :now) AND {_ACCEPTED}
            ORDER BY wakeup_at LIMIT :limit))
    ORDER BY wakeup_at, updated_at LIMIT :limit)
RETURNING id"""


class SQLiteJournal:
    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: str = "full",
        busy_timeout: float = 30.0,
        upgrade: bool = True,
        create: bool = True,
    ) -> None:
        if synchronous not in SYNCHRONOUS:
            raise InvalidJournalURL(
                f"synchronous={synchronous!r}: expected one of {', '.join(SYNCHRONOUS)}"
            )
        self.path = Path(path)
        self.url = f"sqlite:///{self.path}"
        if not self.path.parent.is_dir():
            raise JournalUnavailable(f"cannot open SQLite journal {self.path}: no such folder")
        if not create and not self.path.is_file():
            raise JournalNotFound(f"no journal at {self.url}: the file {self.path} does not exist")
        try:
            self._db = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=busy_timeout
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={synchronous}")
            self._db.execute("PRAGMA foreign_keys=ON")
        except sqlite3.Error as exc:
            raise JournalUnavailable(f"cannot open SQLite journal {self.path}: {exc}") from exc
        if not create and not self._has_tables():
            self._db.close()
            raise JournalNotFound(f"no journal at {self.url}: {self.path} has no wio tables")
        # One connection shared by the worker's threads; sqlite3 needs us to serialize.
        self._lock = threading.RLock()
        self._woken = threading.Event()
        if upgrade:
            self.upgrade()

    # -- schema ---------------------------------------------------------------

    def _has_tables(self) -> bool:
        query = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'instances'"
        return self._db.execute(query).fetchone() is not None

    def upgrade(self) -> list[int]:
        """Apply missing migrations; returns the versions applied (idempotent)."""
        with self._write() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)"
            )
            done = {row[0] for row in db.execute("SELECT version FROM schema_migrations")}
            applied = []
            for version, script in MIGRATIONS:
                if version in done:
                    continue
                for statement in filter(str.strip, script.split(";")):
                    db.execute(statement)
                db.execute("INSERT INTO schema_migrations VALUES (?, ?)", (version, time.time()))
                applied.append(version)
            return applied

    # -- events ---------------------------------------------------------------

    def create_instance(
        self,
        record: InstanceRecord,
        events: Sequence[NewEvent] = (),
        *,
        parent: str | None = None,
    ) -> None:
        check_instance_storable(record)
        check_events_storable(record.id, 0, events)
        with self._write() as db:
            try:
                db.execute(
                    "INSERT INTO instances (id, workflow, workflow_version, status, input, "
                    "created_at, updated_at, wakeup_at, lease_owner, lease_expires_at, "
                    "last_error, attempts, trace_context) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        record.id,
                        record.workflow,
                        record.workflow_version,
                        str(record.status),
                        _dumps(record.input),
                        _ts(record.created_at),
                        _ts(record.updated_at),
                        _ts(record.wakeup_at),
                        record.lease_owner,
                        _ts(record.lease_expires_at),
                        record.last_error,
                        record.attempts,
                        record.trace_context,
                    ),
                )
            except sqlite3.IntegrityError:
                raise DuplicateInstance(record.id) from None
            if parent is not None:
                try:
                    db.execute("INSERT INTO instance_children VALUES (?, ?)", (record.id, parent))
                except sqlite3.IntegrityError:  # the foreign key: no such parent
                    raise UnknownInstance(parent) from None
            db.executemany(
                "INSERT INTO events (instance_id, seq, type, version, payload, recorded_at, node) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        record.id,
                        seq,
                        e.type,
                        e.version,
                        _dumps(e.payload),
                        _ts(record.created_at),
                        e.node,
                    )
                    for seq, e in enumerate(events, start=1)
                ],
            )

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
        with self._write() as db:
            # Under the write lock: no claim can take the lease over before the commit.
            holder = db.execute(
                "SELECT lease_owner, lease_epoch FROM instances WHERE id = ?", (instance_id,)
            ).fetchone()
            if holder is None:
                raise UnknownInstance(instance_id)
            if lease is not None and tuple(holder) != (lease.owner, lease.epoch):
                raise LeaseLost(instance_id, lease.owner, lease.epoch, holder[0], holder[1])
            seq = expected_seq
            for event in events:
                seq += 1
                # The WHERE makes the check and the insert one statement.
                try:
                    cursor = db.execute(
                        "INSERT INTO events (instance_id, seq, type, version, payload, "
                        "recorded_at, node) SELECT ?, ?, ?, ?, ?, ?, ? WHERE "
                        "(SELECT COALESCE(MAX(seq), 0) FROM events WHERE instance_id = ?) = ?",
                        (
                            instance_id,
                            seq,
                            event.type,
                            event.version,
                            _dumps(event.payload),
                            _ts(now),
                            event.node,
                            instance_id,
                            seq - 1,
                        ),
                    )
                except sqlite3.IntegrityError:  # the foreign key: no such instance
                    raise UnknownInstance(instance_id) from None
                if cursor.rowcount != 1:
                    raise self._conflict(db, instance_id, expected_seq)
            if update is not None:
                self._update(db, instance_id, update, now)
            return seq

    def read(
        self, instance_id: str, after_seq: int = 0, *, times: bool = True
    ) -> list[StoredEvent]:
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, type, version, payload, recorded_at, node FROM events "
                "WHERE instance_id = ? AND seq > ? ORDER BY seq",
                (instance_id, after_seq),
            ).fetchall()
        if not rows and after_seq <= 0:
            self.get_instance(instance_id)  # raises UnknownInstance
        convert = _dt if times else _no_time
        return [
            StoredEvent(
                instance_id,
                seq,
                type_,
                version,
                _payload(instance_id, seq, type_, payload),
                convert(recorded),
                node,
            )
            for seq, type_, version, payload, recorded, node in rows
        ]

    def family(self, instance_id: str) -> Family:
        with self._lock:
            parent = self._db.execute(
                "SELECT parent_id FROM instance_children WHERE child_id = ?", (instance_id,)
            ).fetchone()
            children = self._db.execute(
                "SELECT child_id FROM instance_children WHERE parent_id = ? ORDER BY child_id",
                (instance_id,),
            ).fetchall()
        return Family(None if parent is None else parent[0], tuple(c for (c,) in children))

    def read_many(self, instance_ids: Sequence[str]) -> dict[str, list[StoredEvent]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT instance_id, seq, type, version, payload, node FROM events "
                "WHERE instance_id IN (SELECT value FROM json_each(?)) ORDER BY instance_id, seq",
                (json.dumps(list(instance_ids)),),
            ).fetchall()
        events: dict[str, list[StoredEvent]] = {i: [] for i in instance_ids}
        for instance_id, seq, type_, version, payload, node in rows:
            events[instance_id].append(
                StoredEvent(
                    instance_id,
                    seq,
                    type_,
                    version,
                    _payload(instance_id, seq, type_, payload),
                    None,
                    node,
                )
            )
        return events

    # -- registry -------------------------------------------------------------

    def get_instance(self, instance_id: str) -> InstanceRecord:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_INSTANCE_COLUMNS} FROM instances WHERE id = ?", (instance_id,)
            ).fetchone()
        if row is None:
            raise UnknownInstance(instance_id)
        return instance_from_row(row, load=json.loads, moment=_optional_dt)

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
        where, params = _selection_sql(status, workflow, version, matching)
        with self._lock:
            if after is not None:
                start = self._db.execute(
                    "SELECT created_at FROM instances WHERE id = ?", (after,)
                ).fetchone()
                if start is None:
                    return []  # no row comes after a row that is not there
                # A plain range on created_at: the index then serves a page at any
                # position, without scanning the rows before it.
                where.append("created_at >= :start AND (created_at > :start OR id > :after)")
                params.update(start=start[0], after=after)
            rows = self._db.execute(
                f"SELECT {_INSTANCE_COLUMNS} FROM instances "
                f"WHERE {' AND '.join(where) or '1'} ORDER BY created_at, id LIMIT :limit",
                {**params, "limit": -1 if limit is None else limit},
            ).fetchall()
        return [instance_from_row(row, load=json.loads, moment=_optional_dt) for row in rows]

    def tags_of(self, instance_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT instance_id, name, value FROM instance_tags "
                "WHERE instance_id IN (SELECT value FROM json_each(?)) ORDER BY instance_id, name",
                (json.dumps(list(instance_ids)),),
            ).fetchall()
        found: dict[str, dict[str, str]] = {i: {} for i in instance_ids}
        for instance_id, name, value in rows:
            found[instance_id][name] = value
        return found

    def count_instances(
        self,
        workflow: str | None = None,
        *,
        version: int | None = None,
        matching: InstanceFilter | None = None,
    ) -> dict[InstanceStatus, int]:
        where, params = _selection_sql(None, workflow, version, matching)
        with self._lock:
            rows = self._db.execute(
                f"SELECT status, COUNT(*) FROM instances WHERE {' AND '.join(where) or '1'} "
                "GROUP BY status",
                params,
            )
            return {InstanceStatus(status): count for status, count in rows.fetchall()}

    def last_updated(self) -> datetime | None:
        with self._lock:
            row = self._db.execute("SELECT MAX(updated_at) FROM instances").fetchone()
        return _optional_dt(row[0])

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
        with self._write() as db:
            if (
                expected_seq is not None
                or expected_status is not None
                or (expected_attempts is not None)
            ):
                row = db.execute(
                    f"SELECT {_INSTANCE_COLUMNS} FROM instances WHERE id = ?", (instance_id,)
                ).fetchone()
                if row is None:
                    raise UnknownInstance(instance_id)
                record = instance_from_row(row, load=json.loads, moment=_optional_dt)
                check_expected(record, expected_seq, expected_status, expected_attempts)
            self._update(db, instance_id, update, now)

    def acquire_lease(
        self, instance_id: str, owner: str, now: datetime, ttl: timedelta
    ) -> InstanceRecord:
        with self._write() as db:
            cursor = db.execute(
                "UPDATE instances SET lease_owner = :owner, lease_expires_at = :expires, "
                "lease_epoch = lease_epoch "
                "+ (lease_owner IS NOT :owner OR lease_expires_at <= :now) WHERE id = :id AND "
                "(lease_owner IS NULL OR lease_owner = :owner OR lease_expires_at <= :now)",
                {"owner": owner, "expires": _ts(now + ttl), "id": instance_id, "now": _ts(now)},
            )
            if cursor.rowcount != 1:
                holder = db.execute(
                    "SELECT lease_owner FROM instances WHERE id = ?", (instance_id,)
                ).fetchone()
                if holder is None:
                    raise UnknownInstance(instance_id)
                raise LeaseHeld(instance_id, holder[0])
        return self.get_instance(instance_id)

    def release_lease(self, instance_id: str, owner: str) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE instances SET lease_owner = NULL, lease_expires_at = NULL "
                "WHERE id = ? AND lease_owner = ?",
                (instance_id, owner),
            )

    def renew_leases(self, owner: str, now: datetime, ttl: timedelta) -> int:
        with self._write() as db:
            cursor = db.execute(
                "UPDATE instances SET lease_expires_at = ? WHERE lease_owner = ?",
                (_ts(now + ttl), owner),
            )
            return cursor.rowcount

    def claim_runnable(
        self,
        owner: str,
        now: datetime,
        ttl: timedelta,
        limit: int,
        workflows: Sequence[tuple[str, int]] | None = None,
    ) -> list[InstanceRecord]:
        accepted = json.dumps(None if workflows is None else [list(w) for w in workflows])
        with self._write() as db:
            ids = [
                row[0]
                for row in db.execute(
                    CLAIM_RUNNABLE,
                    {
                        "owner": owner,
                        "expires": _ts(now + ttl),
                        "now": _ts(now),
                        "accepted": accepted,
                        "limit": limit,
                    },
                )
            ]
        return [self.get_instance(instance_id) for instance_id in ids]

    def prune(
        self,
        finished_before: datetime,
        statuses: Iterable[InstanceStatus] = FINAL_STATUSES,
        *,
        batch_size: int = 1000,
        dry_run: bool = False,
    ) -> int:
        # Documented on `Journal.prune` (protocol.py).
        chosen = json.dumps(prunable(statuses))
        where = "status IN (SELECT value FROM json_each(?)) AND updated_at < ?"
        if dry_run:
            with self._lock:
                (count,) = self._db.execute(
                    f"SELECT count(*) FROM instances WHERE {where}", (chosen, _ts(finished_before))
                ).fetchone()
            return int(count)
        deleted = 0
        while True:
            with self._write() as db:
                ids = json.dumps(
                    [
                        row[0]
                        for row in db.execute(
                            f"SELECT id FROM instances WHERE {where} LIMIT ?",
                            (chosen, _ts(finished_before), batch_size),
                        )
                    ]
                )
                for table in ("events", "instance_tags"):
                    db.execute(
                        f"DELETE FROM {table} "
                        "WHERE instance_id IN (SELECT value FROM json_each(?))",
                        (ids,),
                    )
                db.execute(
                    "DELETE FROM instance_children WHERE child_id IN "
                    "(SELECT value FROM json_each(?)) OR parent_id IN "
                    "(SELECT value FROM json_each(?))",
                    (ids, ids),
                )
                count = db.execute(
                    "DELETE FROM instances WHERE id IN (SELECT value FROM json_each(?))", (ids,)
                ).rowcount
            deleted += count
            if count < batch_size:
                return deleted

    def register_workflow(self, name: str, version: int, model: Any, now: datetime) -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO workflows VALUES (?, ?, ?, ?) ON CONFLICT (name, version) "
                "DO UPDATE SET model = excluded.model, registered_at = excluded.registered_at",
                (name, version, _dumps(model), _ts(now)),
            )

    def list_workflows(self) -> list[WorkflowRecord]:
        with self._lock:
            rows = self._db.execute(
                "SELECT name, version, registered_at FROM workflows ORDER BY name, version"
            ).fetchall()
        return [WorkflowRecord(name, version, _dt(at)) for name, version, at in rows]

    def workflow_model(self, name: str, version: int) -> Any | None:
        with self._lock:
            row = self._db.execute(
                "SELECT model FROM workflows WHERE name = ? AND version = ?", (name, version)
            ).fetchone()
        return None if row is None else json.loads(row[0])

    def wait_for_work(self, timeout: float) -> None:
        # SQLite has no notifications: workers poll, unless woken to shut down.
        if self._woken.wait(timeout):
            self._woken.clear()

    def wake(self) -> None:
        self._woken.set()

    def fit_concurrency(self, concurrency: int) -> None:
        return None  # one connection, one writer at a time: SQLite's own limit

    def ping(self, timeout: float = 1.0) -> None:
        # A connection of its own: the shared one may be waiting for the write lock
        # (for up to busy_timeout), and a probe must answer within its timeout. In
        # WAL mode a read does not wait for writers.
        try:
            uri = f"{self.path.resolve().as_uri()}?mode=rw"  # never creates a missing file
            probe = sqlite3.connect(uri, uri=True, timeout=timeout)
            try:
                probe.execute("SELECT count(*) FROM sqlite_master").fetchone()
            finally:
                probe.close()
        except sqlite3.Error as exc:
            raise JournalUnavailable(f"SQLite journal {self.path}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> SQLiteJournal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- helpers ----------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise JournalUnavailable(f"SQLite journal {self.path}: {exc}") from exc
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                if _unavailable(exc):
                    raise JournalUnavailable(f"SQLite journal {self.path}: {exc}") from exc
                raise

    def _update(
        self, db: sqlite3.Connection, instance_id: str, update: StatusUpdate, now: datetime
    ) -> None:
        release = ", lease_owner = NULL, lease_expires_at = NULL" if update.release_lease else ""
        cancelled = ", cancelled_at = COALESCE(cancelled_at, ?)" if update.cancelled else ""
        cursor = db.execute(
            "UPDATE instances SET status = ?, wakeup_at = ?, last_error = ?, attempts = ?, "
            "workflow_version = COALESCE(?, workflow_version), "
            f"updated_at = ?{release}{cancelled} WHERE id = ?",
            (
                str(update.status),
                _ts(update.wakeup_at),
                update.last_error,
                update.attempts,
                update.workflow_version,
                _ts(now),
                *((_ts(now),) if update.cancelled else ()),
                instance_id,
            ),
        )
        if cursor.rowcount != 1:
            raise UnknownInstance(instance_id)
        if update.tags is not None:
            db.execute("DELETE FROM instance_tags WHERE instance_id = ?", (instance_id,))
            db.executemany(
                "INSERT INTO instance_tags VALUES (?, ?, ?)",
                [(instance_id, name, value) for name, value in update.tags],
            )
        if update.status in FINAL_STATUSES:  # a child's end makes its waiting parent runnable
            db.execute(
                "UPDATE instances SET status = 'running', wakeup_at = NULL, updated_at = ? "
                "WHERE status = 'waiting' AND id = "
                "(SELECT parent_id FROM instance_children WHERE child_id = ?)",
                (_ts(now), instance_id),
            )

    def _conflict(self, db: sqlite3.Connection, instance_id: str, expected_seq: int) -> Exception:
        if db.execute("SELECT 1 FROM instances WHERE id = ?", (instance_id,)).fetchone() is None:
            return UnknownInstance(instance_id)
        (actual,) = db.execute(
            "SELECT COALESCE(MAX(seq), 0) FROM events WHERE instance_id = ?", (instance_id,)
        ).fetchone()
        return ConcurrencyConflict(instance_id, expected_seq, actual)


def _payload(instance_id: str, seq: int, event_type: str, text: str) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError) as exc:
        raise UndecodablePayload(instance_id, seq, event_type, str(exc)) from None


# What makes a journal call fail for a while, not for good: another process's lock
# held past busy_timeout, I/O errors, a full disk. Workers ride those out.
_TRANSIENT = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_IOERR", "SQLITE_FULL", "SQLITE_PROTOCOL")


def _unavailable(exc: BaseException) -> bool:
    name = getattr(exc, "sqlite_errorname", "")
    return isinstance(exc, sqlite3.OperationalError) and name.startswith(_TRANSIENT)


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# Ends an id range: sorts after every character an id may continue its prefix with.
_LAST_CHARACTER = "\U0010ffff"


def _selection_sql(
    status: InstanceStatus | None,
    workflow: str | None,
    version: int | None,
    matching: InstanceFilter | None,
) -> tuple[list[str], dict[str, Any]]:
    """The conditions of `list_instances` and `count_instances`: only the filters
    given, so that the index of each serves it."""
    chosen = {
        "status": None if status is None else str(status),
        "workflow": workflow,
        "version": version,
    }
    where = [
        condition
        for condition, name in (
            ("status = :status", "status"),
            ("workflow = :workflow", "workflow"),
            ("workflow_version = :version", "version"),
        )
        if chosen[name] is not None
    ]
    extra, params = _filter_sql(matching or InstanceFilter())
    return where + extra, {**params, **{k: v for k, v in chosen.items() if v is not None}}


def _filter_sql(where: InstanceFilter) -> tuple[list[str], dict[str, Any]]:
    """The conditions and parameters of ``where``, each served by an index."""
    conditions: list[str] = []
    params: dict[str, Any] = {}
    if where.id_prefix is not None:
        # A range on the primary key, which LIKE (case-insensitive here) would not use.
        conditions.append("id >= :id_from AND id < :id_to")
        params.update(id_from=where.id_prefix, id_to=where.id_prefix + _LAST_CHARACTER)
    for column, bound, operator in (
        ("created_at", where.created_from, ">="),
        ("created_at", where.created_to, "<="),
        ("updated_at", where.updated_from, ">="),
        ("updated_at", where.updated_to, "<="),
    ):
        if bound is not None:
            name = f"{column}_{len(params)}"
            conditions.append(f"{column} {operator} :{name}")
            params[name] = _ts(bound)
    for number, (tag, value) in enumerate(where.tags):
        conditions.append(
            f"id IN (SELECT instance_id FROM instance_tags "
            f"WHERE name = :tag_{number} AND value = :tag_value_{number})"
        )
        params.update({f"tag_{number}": tag, f"tag_value_{number}": value})
    return conditions, params


def _ts(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


def _dt(timestamp: float | None) -> datetime:
    assert timestamp is not None
    return datetime.fromtimestamp(timestamp, UTC)


def _no_time(_timestamp: float | None) -> None:
    return None


def _optional_dt(timestamp: float | None) -> datetime | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, UTC)
