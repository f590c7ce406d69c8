"""The PostgreSQL journal, for production: psycopg 3 with a connection pool.

Events are JSONB rows keyed by ``(instance_id, seq)``. Connections are in
autocommit mode: an append, with its status update if any, is one statement
and one round trip. New and released instances are announced with NOTIFY,
after the commit and coalesced (see `Notifier`), so workers LISTENing start
them within milliseconds instead of polling.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, NoReturn

import msgspec
import psycopg
from psycopg import sql
from psycopg.rows import TupleRow
from psycopg.types.json import Jsonb, set_json_loads
from psycopg_pool import ConnectionPool, PoolTimeout

from .errors import (
    ConcurrencyConflict,
    DuplicateInstance,
    InvalidJournalURL,
    JournalNotFound,
    JournalUnavailable,
    LeaseHeld,
    LeaseLost,
    UnknownInstance,
)
from .group_commit import GroupCommitter, PendingAppend
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
from .urls import passwords_in, redact_url, scrubbed

log = logging.getLogger("wio.journal")
# The pool logs a WARNING per failed reconnection attempt and per dead connection;
# in an outage wio reports once that the database is unavailable and once that it
# is back, so the pool's own lines are kept to errors unless configured otherwise.
_pool_log = logging.getLogger("psycopg.pool")
if _pool_log.level == logging.NOTSET:
    _pool_log.setLevel(logging.ERROR)
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
CHANNEL = "wio_work"
MAX_IDENTIFIER_BYTES = 63  # PostgreSQL's NAMEDATALEN - 1: longer channel names are refused

# Each migration is a list of statements; {schema} is replaced by the quoted schema name.
MIGRATIONS: list[tuple[int, list[str]]] = [
    (
        1,
        [
            """CREATE TABLE {schema}.instances (
                id TEXT PRIMARY KEY,
                workflow TEXT NOT NULL,
                workflow_version INTEGER NOT NULL,
                status TEXT NOT NULL,
                input JSONB NOT NULL,
                created_at TIMESTAMPTZ NOT NULL,
                updated_at TIMESTAMPTZ NOT NULL,
                wakeup_at TIMESTAMPTZ,
                lease_owner TEXT,
                lease_expires_at TIMESTAMPTZ,
                last_error TEXT,
                attempts INTEGER NOT NULL DEFAULT 0
            )""",
            # Due wakeups: the worker's claim query scans only running instances by time.
            """CREATE INDEX instances_due ON {schema}.instances (wakeup_at NULLS FIRST, updated_at)
               WHERE status = 'running'""",
            "CREATE INDEX instances_status ON {schema}.instances (status, created_at)",
            """CREATE TABLE {schema}.events (
                instance_id TEXT NOT NULL REFERENCES {schema}.instances (id),
                seq INTEGER NOT NULL,
                type TEXT NOT NULL,
                version INTEGER NOT NULL,
                payload JSONB NOT NULL,
                recorded_at TIMESTAMPTZ NOT NULL,
                PRIMARY KEY (instance_id, seq)
            )""",
            """CREATE TABLE {schema}.workflows (
                name TEXT NOT NULL,
                version INTEGER NOT NULL,
                model JSONB NOT NULL,
                registered_at TIMESTAMPTZ NOT NULL,
                PRIMARY KEY (name, version)
            )""",
        ],
    ),
    (
        2,
        [
            # Instances waiting for a signal with a timeout wake up when it is due.
            """CREATE INDEX instances_waiting_due ON {schema}.instances (wakeup_at)
               WHERE status = 'waiting'""",
        ],
    ),
    (
        3,
        [
            # Listing a page of instances in creation order, without sorting them all.
            "CREATE INDEX instances_created ON {schema}.instances (created_at, id)",
        ],
    ),
    (
        4,
        [
            # Each event names the node that recorded it, so that replay can tell the
            # events a checkpoint covers from foreign ones without decoding them.
            "ALTER TABLE {schema}.events ADD COLUMN node TEXT",
        ],
    ),
    (
        5,
        [
            # The fencing token: bumped whenever the lease changes hands, and checked
            # by the appends of its holder, so that a stale holder's append is refused.
            "ALTER TABLE {schema}.instances ADD COLUMN lease_epoch BIGINT NOT NULL DEFAULT 0",
        ],
    ),
    # Tags (values a workflow declares from its state) and an index for each filter
    # the console's list offers. Numbered 6: 5 is another change's, and the runner
    # applies whichever of them is missing, in order, independently.
    (
        6,
        [
            """CREATE TABLE {schema}.instance_tags (
                instance_id TEXT NOT NULL REFERENCES {schema}.instances (id),
                name TEXT NOT NULL,
                value TEXT NOT NULL,
                PRIMARY KEY (instance_id, name)
            )""",
            "CREATE INDEX instance_tags_lookup ON {schema}.instance_tags "
            "(name, value, instance_id)",
            "CREATE INDEX instances_updated ON {schema}.instances (updated_at, id)",
            "CREATE INDEX instances_workflow_created ON {schema}.instances "
            "(workflow, created_at, id)",
            # LIKE 'prefix%' uses a text_pattern_ops index whatever the collation.
            "CREATE INDEX instances_id_pattern ON {schema}.instances (id text_pattern_ops)",
            # The status filter in creation order (1's instances_status lacks the id).
            "CREATE INDEX instances_status_created ON {schema}.instances (status, created_at, id)",
        ],
    ),
    # The trace that created an instance, continued by the worker that runs it.
    (7, ["ALTER TABLE {schema}.instances ADD COLUMN trace_context TEXT"]),
    (
        8,
        [
            # Child instances: which instance started which (`create_instance(parent=...)`),
            # so that a child's end wakes its parent and `wio inspect` shows both ways.
            """CREATE TABLE {schema}.instance_children (
                child_id TEXT PRIMARY KEY REFERENCES {schema}.instances (id),
                parent_id TEXT NOT NULL REFERENCES {schema}.instances (id)
            )""",
            """CREATE INDEX instance_children_parent
               ON {schema}.instance_children (parent_id, child_id)""",
        ],
    ),
    (
        9,
        [
            # The foreign key cost a locked lookup of the instance per append (+108 us a
            # step). APPEND keeps the integrity by construction instead: the first event
            # needs the instance, and every later one the event before it.
            "ALTER TABLE {schema}.events DROP CONSTRAINT IF EXISTS events_instance_id_fkey",
        ],
    ),
    (
        10,
        [
            # When an operator's cancel was recorded, set with its event, so that
            # cancelling again reads one row, not the journal; backfilled from the
            # cancellations recorded so far.
            "ALTER TABLE {schema}.instances ADD COLUMN cancelled_at TIMESTAMPTZ",
            """UPDATE {schema}.instances i SET cancelled_at = c.at
               FROM (SELECT instance_id, MIN(recorded_at) AS at FROM {schema}.events
                     WHERE type = 'wio.Cancelled' GROUP BY instance_id) c
               WHERE i.id = c.instance_id""",
        ],
    ),
]

_INSTANCE_COLUMNS = (
    "id, workflow, workflow_version, status, input, created_at, updated_at, wakeup_at, "
    "lease_owner, lease_expires_at, last_error, attempts, "
    "(SELECT COALESCE(MAX(seq), 0) FROM {schema}.events e WHERE e.instance_id = i.id), "
    "i.trace_context, lease_epoch, i.cancelled_at"
)


# The lease fence of an append (a lease given): the lease must be the writer's, at
# its epoch. An append with a status update checks it in the UPDATE of the
# instance's row, which it writes anyway: the row lock makes a claim taking the
# lease over wait for the append, or the UPDATE, re-reading the row once the claim
# committed, finds the new owner and writes nothing. An append of events alone
# reads the row without locking it (a lock on the row cost more than the rest of
# the append's work on the server), which is enough under READ COMMITTED: a stale
# writer's INSERT passes the fence only if its snapshot was taken before the claim
# committed, and it needs the event before its own in that snapshot. Its event
# then comes before any the new owner writes: the new owner's first append
# expects the journal's last event, and the primary key refuses one of two
# events at the same seq, so that the new owner, refused, reads the stale event
# before it writes.
_LEASE_HELD = "(%(owner)s::text IS NULL OR (lease_owner = %(owner)s AND lease_epoch = %(epoch)s))"
# The events' rows: a writer that is behind hits the primary key on a seq already
# taken; one that is ahead (no event at the expected seq, a lookup in that key)
# gets a NULL seq, refused by NOT NULL; either error undoes the whole statement.
# There is no foreign key to the instances: the first event is inserted only for an
# instance that exists, and every later one only after the event before it, so no
# event is ever written for an instance that does not exist.
_INSERT = """
INSERT INTO {schema}.events (instance_id, seq, type, version, payload, recorded_at, node)
SELECT %(id)s,
    CASE WHEN %(expected)s = 0 OR EXISTS (SELECT 1 FROM {schema}.events
        WHERE instance_id = %(id)s AND seq = %(expected)s) THEN %(expected)s + position END,
    type, version, payload, %(now)s, node
FROM unnest(%(types)s::text[], %(versions)s::int[], %(payloads)s::jsonb[], %(nodes)s::text[])
    WITH ORDINALITY AS new (type, version, payload, node, position)"""
# One event, the usual case, with scalar parameters: half the server's work of
# the general form (no arrays to unnest).
_INSERT_ONE = """
INSERT INTO {schema}.events (instance_id, seq, type, version, payload, recorded_at, node)
SELECT %(id)s,
    CASE WHEN %(expected)s = 0 OR EXISTS (SELECT 1 FROM {schema}.events
        WHERE instance_id = %(id)s AND seq = %(expected)s) THEN %(expected)s + 1 END,
    %(type)s, %(version)s, %(payload)s, %(now)s, %(node)s"""
# Events alone: one plain INSERT, which reports its rows. One lookup of the
# instance both fences the writer and keeps the first event from an instance that
# does not exist.
_INSERTABLE = (
    """
WHERE EXISTS (SELECT 1 FROM {schema}.instances WHERE id = %(id)s AND """
    + _LEASE_HELD
    + ")"
)
# Events and the instance's new status, in one statement: one round trip, atomic.
# The events are inserted only if the row was updated (it exists, under the lease).
_UPDATED = (
    """
WITH updated AS (
    UPDATE {schema}.instances SET status = %(status)s, wakeup_at = %(wakeup_at)s,
        last_error = %(last_error)s, attempts = %(attempts)s,
        workflow_version = COALESCE(%(workflow_version)s, workflow_version),
        updated_at = %(now)s{release}{cancelled}
    WHERE id = %(id)s AND """
    + _LEASE_HELD
    + """
    RETURNING 1
), inserted AS ({insert}
    WHERE EXISTS (SELECT 1 FROM updated)
    RETURNING 1
){also}
SELECT (SELECT count(*) FROM inserted) + (SELECT count(*) FROM updated)"""
)
RELEASED = ", lease_owner = NULL, lease_expires_at = NULL"
# The first cancellation's time, kept by later ones (operations.cancel reads it).
CANCELLED = ", cancelled_at = COALESCE(cancelled_at, %(now)s)"
# A final status: a child's end makes its waiting parent runnable.
_PARENT_WOKEN = """, woken AS (
    UPDATE {schema}.instances SET status = 'running', wakeup_at = NULL, updated_at = %(now)s
    WHERE status = 'waiting' AND EXISTS (SELECT 1 FROM updated) AND id =
        (SELECT parent_id FROM {schema}.instance_children WHERE child_id = %(id)s)
)"""
# New tags replace the instance's: the others are deleted, these inserted or changed
# (disjoint rows, so that the two parts of one statement never meet on a row).
_RETAGGED = """, untagged AS (
    DELETE FROM {schema}.instance_tags WHERE instance_id = %(id)s
    AND name <> ALL(%(tag_names)s::text[]) AND EXISTS (SELECT 1 FROM updated)
), tagged AS (
    INSERT INTO {schema}.instance_tags (instance_id, name, value)
    SELECT %(id)s, name, value FROM unnest(%(tag_names)s::text[], %(tag_values)s::text[])
        AS new (name, value)
    WHERE EXISTS (SELECT 1 FROM updated)
    ON CONFLICT (instance_id, name) DO UPDATE SET value = EXCLUDED.value
)"""


@functools.cache
def append_statement(
    one: bool, updated: bool, release: bool, final: bool, tags: bool, cancelled: bool = False
) -> str:
    """The template of an append: of one event or several, with a status update
    (releasing the lease, final, with new tags, recording a cancellation) or without."""
    insert = _INSERT_ONE if one else _INSERT
    if not updated:
        return insert + _INSERTABLE
    return (
        _UPDATED.replace("{release}", RELEASED if release else "")
        .replace("{cancelled}", CANCELLED if cancelled else "")
        .replace("{insert}", insert)
        .replace("{also}", (_PARENT_WOKEN if final else "") + (_RETAGGED if tags else ""))
    )


# A group commit's appends, one event each and each of a different instance, in
# one statement. An append refused must not undo the others, so its row is
# filtered out (ahead) or skipped (behind) rather than raising; an instance's
# status is updated only if its event was inserted. The event before is looked
# up by a scalar subquery, one index probe per append: an EXISTS there may be
# planned as a hash of the whole events table, built for every batch.
BATCH_APPEND = """
WITH new AS (
    SELECT * FROM unnest(%(ids)s::text[], %(expected)s::int[], %(types)s::text[],
        %(versions)s::int[], %(payloads)s::jsonb[], %(nodes)s::text[], %(nows)s::timestamptz[],
        %(owners)s::text[], %(epochs)s::bigint[])
        AS new (id, expected, type, version, payload, node, now, owner, epoch)
), inserted AS (
    INSERT INTO {schema}.events (instance_id, seq, type, version, payload, recorded_at, node)
    SELECT id, expected + 1, type, version, payload, now, node FROM new
    WHERE CASE WHEN expected = 0
        THEN EXISTS (SELECT 1 FROM {schema}.instances i WHERE i.id = new.id)
        ELSE (SELECT e.seq FROM {schema}.events e
            WHERE e.instance_id = new.id AND e.seq = new.expected) IS NOT NULL END
    AND (new.owner IS NULL OR EXISTS (SELECT 1 FROM {schema}.instances i
        WHERE i.id = new.id AND i.lease_owner = new.owner AND i.lease_epoch = new.epoch
        FOR SHARE))
    ON CONFLICT DO NOTHING
    RETURNING instance_id
), updated AS (
    UPDATE {schema}.instances i SET status = u.status, wakeup_at = u.wakeup_at,
        last_error = u.last_error, attempts = u.attempts,
        workflow_version = COALESCE(u.workflow_version, i.workflow_version),
        updated_at = u.now,
        lease_owner = CASE WHEN u.release THEN NULL ELSE i.lease_owner END,
        lease_expires_at = CASE WHEN u.release THEN NULL ELSE i.lease_expires_at END
    FROM unnest(%(u_ids)s::text[], %(u_statuses)s::text[], %(u_wakeups)s::timestamptz[],
        %(u_errors)s::text[], %(u_attempts)s::int[], %(u_versions)s::int[],
        %(u_releases)s::bool[], %(u_nows)s::timestamptz[])
        AS u (id, status, wakeup_at, last_error, attempts, workflow_version, release, now)
    WHERE i.id = u.id AND u.id IN (SELECT instance_id FROM inserted)
    RETURNING i.id
)
SELECT instance_id, false FROM inserted UNION ALL SELECT id, true FROM updated
"""
# Tries of a group commit that PostgreSQL aborted to break a deadlock.
DEADLOCK_RETRIES = 3
# The waiting parents of children whose status became final, made runnable.
WAKE_PARENTS = """
UPDATE {schema}.instances SET status = 'running', wakeup_at = NULL, updated_at = %(now)s
WHERE status = 'waiting' AND id IN (SELECT parent_id FROM {schema}.instance_children
    WHERE child_id = ANY(%(children)s))
"""

# One batch of `prune`: the events of the chosen instances, then the instances.
PRUNE = """
WITH doomed AS (
    SELECT id FROM {schema}.instances
    WHERE status = ANY(%(statuses)s) AND updated_at < %(before)s
    LIMIT %(batch)s FOR UPDATE SKIP LOCKED
), events AS (
    DELETE FROM {schema}.events e USING doomed WHERE e.instance_id = doomed.id
), tags AS (
    DELETE FROM {schema}.instance_tags t USING doomed WHERE t.instance_id = doomed.id
), links AS (
    DELETE FROM {schema}.instance_children c USING doomed
    WHERE c.child_id = doomed.id OR c.parent_id = doomed.id
)
DELETE FROM {schema}.instances i USING doomed WHERE i.id = doomed.id
"""

# Claim in index order: each status has its own partial index in claim order, so
# each branch reads at most ``limit`` unleased rows and stops (an OR across the
# statuses in one query would sort the whole backlog). SKIP LOCKED lets
# concurrent workers claim disjoint instances without waiting; the rows a branch
# locks beyond the final ``limit`` are unlocked at commit.
CLAIM_RUNNABLE = (
    """
WITH running AS (
    SELECT id, wakeup_at, updated_at FROM {schema}.instances
    WHERE status = 'running' AND (wakeup_at IS NULL OR wakeup_at <= %(now)s)
    AND (lease_owner IS NULL OR lease_expires_at <= %(now)s)
    AND (%(names)s::text[] IS NULL OR (workflow, workflow_version) IN
        (SELECT * FROM unnest(%(names)s::text[], %(versions)s::int[])))
    ORDER BY wakeup_at NULLS FIRST, updated_at LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), waiting AS (
    SELECT id, wakeup_at, updated_at FROM {schema}.instances
    WHERE status = 'waiting' AND wakeup_at <= %(now)s
    AND (lease_owner IS NULL OR lease_expires_at <= %(now)s)
    AND (%(names)s::text[] IS NULL OR (workflow, workflow_version) IN
        (SELECT * FROM unnest(%(names)s::text[], %(versions)s::int[])))
    ORDER BY wakeup_at LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), chosen AS (
    SELECT id AS chosen_id FROM (SELECT * FROM running UNION ALL SELECT * FROM waiting) c
    ORDER BY wakeup_at NULLS FIRST, updated_at LIMIT %(limit)s
)
UPDATE {schema}.instances i SET lease_owner = %(owner)s, lease_expires_at = %(expires)s,
    lease_epoch = i.lease_epoch + 1
FROM chosen WHERE i.id = chosen.chosen_id
RETURNING """
    + _INSTANCE_COLUMNS
)


def claim_parameters(
    owner: str,
    now: datetime,
    ttl: timedelta,
    limit: int,
    workflows: Sequence[tuple[str, int]] | None,
) -> dict[str, Any]:
    """The parameters of `CLAIM_RUNNABLE`."""
    return {
        "owner": owner,
        "expires": now + ttl,
        "now": now,
        "names": None if workflows is None else [w[0] for w in workflows],
        "versions": None if workflows is None else [w[1] for w in workflows],
        "limit": limit,
    }


def work_channel(schema: str) -> str:
    """The NOTIFY channel announcing work in ``schema``, the same for every process.

    ``wio_work_<schema>`` while that fits in an identifier; a longer schema name
    (up to 63 characters pass `validate_schema`) is replaced by a stable hash of it,
    which PostgreSQL would otherwise refuse as a channel name."""
    channel = f"{CHANNEL}_{schema}"
    if len(channel) <= MAX_IDENTIFIER_BYTES:  # schema names are ASCII: bytes = characters
        return channel
    return f"{CHANNEL}_h{hashlib.sha256(schema.encode()).hexdigest()[:32]}"


def validate_schema(name: str) -> str:
    if not IDENTIFIER.fullmatch(name):
        raise InvalidJournalURL(
            f"schema {name!r} is not a valid SQL identifier: use letters, digits and _, "
            "not starting with a digit, at most 63 characters"
        )
    return name


class PostgresJournal:
    def __init__(
        self,
        conninfo: str,
        *,
        schema: str = "wio",
        pool_min: int = 1,
        pool_max: int = 8,
        connect_timeout: float = 10.0,
        upgrade: bool = True,
        create: bool = True,
        group_commit: int | None = None,
        group_linger: float = 0.0,
    ) -> None:
        """``group_commit``: commit single-event appends made at the same time from
        several threads together, at most this many per transaction (0: each
        alone; None, not said: each alone unless `fit_concurrency` turns it on),
        waiting up to ``group_linger`` seconds for more (see
        `wio.journal.group_commit`)."""
        self.schema = validate_schema(schema)
        self.conninfo = conninfo
        self.url = f"{redact_url(conninfo)} (schema {schema})"
        self._passwords = passwords_in(conninfo)
        self._sql_cache: dict[str, bytes] = {}
        self._listener: psycopg.Connection[TupleRow] | None = None
        self._listener_lock = threading.Lock()
        self._connect_seconds = max(1, int(connect_timeout))
        # Fail fast, with libpq's reason, rather than after the pool's retries.
        try:
            psycopg.connect(conninfo, connect_timeout=max(1, int(connect_timeout))).close()
        except psycopg.Error as exc:
            raise self._unavailable(f"cannot reach PostgreSQL at {self.url}", exc) from exc
        self._pool = ConnectionPool(
            conninfo,
            min_size=pool_min,
            max_size=pool_max,
            open=False,
            timeout=connect_timeout,
            # After an outage, a connection the pool failed to open is tried again
            # with its backoff; giving up after connect_timeout (rather than the
            # default 5 minutes, by when the backoff is past a minute) makes the next
            # request try at once, so that workers resume soon after the database.
            reconnect_timeout=connect_timeout,
            name=f"wio-{schema}",
            # One statement, one transaction, one round trip; several statements that
            # must commit together say so (`_transaction`).
            kwargs={"autocommit": True},
            configure=_fast_json,
        )
        try:
            self._pool.open(wait=True, timeout=connect_timeout)
        except PoolTimeout as exc:
            self._pool.close()
            raise self._unavailable(f"cannot reach PostgreSQL at {self.url}", exc) from exc
        if not create and not self._has_tables():
            self._pool.close()
            raise JournalNotFound(f"no journal at {self.url}: the schema has no wio tables")
        self._notifier = Notifier(self._pool, self._channel, self._passwords)
        self._group_commit_said = group_commit is not None
        self._group_linger = group_linger
        self._committer = (
            GroupCommitter(self._append_batch, group_commit, group_linger)
            if group_commit is not None and group_commit > 1
            else None
        )
        if upgrade:
            self.upgrade()

    # -- schema ---------------------------------------------------------------

    def _has_tables(self) -> bool:
        with self._connection() as conn:
            row = conn.execute(
                "SELECT to_regclass(%s)", (sql.Identifier(self.schema, "instances").as_string(),)
            ).fetchone()
        return row is not None and row[0] is not None

    def upgrade(self) -> list[int]:
        """Apply missing migrations under an advisory lock; returns the versions applied."""
        with self._transaction() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"wio:{self.schema}",))
            conn.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema))
            )
            conn.execute(
                self._sql(
                    "CREATE TABLE IF NOT EXISTS {schema}.schema_migrations "
                    "(version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
                )
            )
            done = {
                row[0]
                for row in conn.execute(self._sql("SELECT version FROM {schema}.schema_migrations"))
            }
            applied = []
            for version, statements in MIGRATIONS:
                if version in done:
                    continue
                for statement in statements:
                    conn.execute(self._sql(statement))
                conn.execute(
                    self._sql("INSERT INTO {schema}.schema_migrations (version) VALUES (%s)"),
                    (version,),
                )
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
        with self._transaction() if events or parent is not None else self._connection() as conn:
            try:
                conn.execute(
                    self._sql(
                        "INSERT INTO {schema}.instances (id, workflow, workflow_version, "
                        "status, input, created_at, updated_at, wakeup_at, lease_owner, "
                        "lease_expires_at, last_error, attempts, trace_context) VALUES "
                        "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                    ),
                    (
                        record.id,
                        record.workflow,
                        record.workflow_version,
                        str(record.status),
                        Jsonb(record.input),
                        record.created_at,
                        record.updated_at,
                        record.wakeup_at,
                        record.lease_owner,
                        record.lease_expires_at,
                        record.last_error,
                        record.attempts,
                        record.trace_context,
                    ),
                )
            except psycopg.errors.UniqueViolation:
                raise DuplicateInstance(record.id) from None
            if parent is not None:
                try:
                    conn.execute(
                        self._sql("INSERT INTO {schema}.instance_children VALUES (%s, %s)"),
                        (record.id, parent),
                    )
                except psycopg.errors.ForeignKeyViolation:
                    raise UnknownInstance(parent) from None
            if events:
                with conn.cursor() as cursor:
                    cursor.executemany(
                        self._sql(
                            "INSERT INTO {schema}.events (instance_id, seq, type, version, "
                            "payload, recorded_at, node) VALUES (%s, %s, %s, %s, %s, %s, %s)"
                        ),
                        [
                            (
                                record.id,
                                seq,
                                e.type,
                                e.version,
                                Jsonb(e.payload),
                                record.created_at,
                                e.node,
                            )
                            for seq, e in enumerate(events, start=1)
                        ],
                    )
        self._notifier.notify()

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
        if not events:  # nothing to number: only the update, under the same checks
            if update is not None:
                self.update_instance(instance_id, update, now)
            return expected_seq
        if (
            self._committer is not None
            and len(events) == 1
            and (update is None or (update.tags is None and not update.cancelled))
        ):  # a group commit's statement neither replaces tags nor marks a cancellation
            pending = PendingAppend(instance_id, expected_seq, events[0], now, update, lease)
            return self._committer.append(pending)
        parameters: dict[str, Any] = {
            "id": instance_id,
            "expected": expected_seq,
            "now": now,
            "owner": None if lease is None else lease.owner,
            "epoch": None if lease is None else lease.epoch,
        }
        one = len(events) == 1
        if one:
            event = events[0]
            parameters.update(
                type=event.type,
                version=event.version,
                payload=Jsonb(event.payload),
                node=event.node,
            )
        else:
            parameters.update(
                types=[event.type for event in events],
                versions=[event.version for event in events],
                payloads=[Jsonb(event.payload) for event in events],
                nodes=[event.node for event in events],
            )
        if update is None:
            statement = self._sql(append_statement(one, False, False, False, False))
        else:
            parameters.update(
                status=str(update.status),
                wakeup_at=update.wakeup_at,
                last_error=update.last_error,
                attempts=update.attempts,
                workflow_version=update.workflow_version,
            )
            if update.tags is not None:
                parameters.update(
                    tag_names=[name for name, _ in update.tags],
                    tag_values=[value for _, value in update.tags],
                )
            statement = self._sql(
                append_statement(
                    one,
                    True,
                    update.release_lease,
                    update.status in FINAL_STATUSES,
                    update.tags is not None,
                    update.cancelled,
                )
            )
        try:
            with self._connection() as conn:
                cursor = conn.execute(statement, parameters)
                # A plain INSERT reports its rows; the forms with an update return a count.
                row = (cursor.rowcount,) if cursor.description is None else cursor.fetchone()
        except (psycopg.errors.UniqueViolation, psycopg.errors.NotNullViolation):
            # Behind: the primary key refused a seq taken. Ahead: no event at the
            # expected position, so no seq. Either way nothing was written.
            actual = self.get_instance(instance_id).last_seq  # raises UnknownInstance
            raise ConcurrencyConflict(instance_id, expected_seq, actual) from None
        if row is None or row[0] != len(events) + (update is not None):
            # Nothing was written: no instance, or no lease.
            self._refusal(instance_id, expected_seq, lease)
        if self._wakes_workers(update):
            self._notifier.notify()
        return expected_seq + len(events)

    def _refusal(self, instance_id: str, expected_seq: int, lease: Lease | None) -> NoReturn:
        """Raise why an append that wrote nothing was refused."""
        record = self.get_instance(instance_id)  # raises UnknownInstance
        if lease is not None and (record.lease_owner, record.lease_epoch) != (
            lease.owner,
            lease.epoch,
        ):
            raise LeaseLost(
                instance_id, lease.owner, lease.epoch, record.lease_owner, record.lease_epoch
            )
        raise ConcurrencyConflict(instance_id, expected_seq, record.last_seq)

    def _append_batch(self, batch: Sequence[PendingAppend]) -> list[int | Exception]:
        """Group commit: ``batch`` in one transaction, one statement for each
        round of appends to distinct instances (usually one)."""
        rounds: list[list[PendingAppend]] = []
        seen: dict[str, int] = {}  # appends so far per instance: its round
        # Rows locked in the order of their ids, as every batch does: two batches (or a
        # batch and a lease renewal) then wait for each other rather than deadlock.
        for pending in sorted(batch, key=lambda p: p.instance_id):
            index = seen[pending.instance_id] = seen.get(pending.instance_id, -1) + 1
            if index == len(rounds):
                rounds.append([])
            rounds[index].append(pending)
        done: list[tuple[set[str], set[str]]] = []
        finals = any(p.update is not None and p.update.status in FINAL_STATUSES for p in batch)
        # One round without a final status (the usual case) is one statement: it commits
        # alone, in one round trip.
        several = len(rounds) > 1 or finals
        for attempt in range(1, DEADLOCK_RETRIES + 1):
            try:
                done = self._commit_rounds(rounds, several, batch)
                break
            except JournalUnavailable as exc:
                # Nothing of the batch was written: a deadlock (with a claim or a renewal
                # taking rows in another order) is tried again at once.
                if attempt == DEADLOCK_RETRIES or not isinstance(
                    exc.__cause__, psycopg.errors.DeadlockDetected
                ):
                    raise
        outcomes: list[int | Exception] = []
        seen.clear()
        for pending in batch:
            index = seen[pending.instance_id] = seen.get(pending.instance_id, -1) + 1
            inserted, updated = done[index]
            if pending.instance_id in inserted and (
                pending.update is None or pending.instance_id in updated
            ):
                outcomes.append(pending.expected_seq + 1)
                continue
            # Refused alone, nothing of it written: say why, as a single append would.
            try:
                self._refusal(pending.instance_id, pending.expected_seq, pending.lease)
            except (UnknownInstance, LeaseLost, ConcurrencyConflict) as refused:
                outcomes.append(refused)
        if any(
            self._wakes_workers(p.update)
            for p, o in zip(batch, outcomes, strict=True)
            if isinstance(o, int)
        ):
            self._notifier.notify()
        return outcomes

    def _commit_rounds(
        self, rounds: list[list[PendingAppend]], several: bool, batch: Sequence[PendingAppend]
    ) -> list[tuple[set[str], set[str]]]:
        """Run a batch's rounds in one transaction; per round, the instances whose
        event was inserted and those whose status was updated."""
        done: list[tuple[set[str], set[str]]] = []
        with self._transaction() if several else self._connection() as conn:
            for appends in rounds:
                updates = [(p, p.update) for p in appends if p.update is not None]
                rows = conn.execute(
                    self._sql(BATCH_APPEND),
                    {
                        "ids": [p.instance_id for p in appends],
                        "expected": [p.expected_seq for p in appends],
                        "types": [p.event.type for p in appends],
                        "versions": [p.event.version for p in appends],
                        "payloads": [Jsonb(p.event.payload) for p in appends],
                        "nodes": [p.event.node for p in appends],
                        "nows": [p.now for p in appends],
                        "owners": [None if p.lease is None else p.lease.owner for p in appends],
                        "epochs": [None if p.lease is None else p.lease.epoch for p in appends],
                        "u_ids": [p.instance_id for p, _ in updates],
                        "u_statuses": [str(u.status) for _, u in updates],
                        "u_wakeups": [u.wakeup_at for _, u in updates],
                        "u_errors": [u.last_error for _, u in updates],
                        "u_attempts": [u.attempts for _, u in updates],
                        "u_versions": [u.workflow_version for _, u in updates],
                        "u_releases": [u.release_lease for _, u in updates],
                        "u_nows": [p.now for p, _ in updates],
                    },
                ).fetchall()
                done.append(
                    (
                        {i for i, updated in rows if not updated},
                        {i for i, updated in rows if updated},
                    )
                )
                ended = [
                    u.instance_id
                    for u in appends
                    if u.update is not None
                    and u.update.status in FINAL_STATUSES
                    and u.instance_id in done[-1][1]
                ]
                if ended:  # a child's end makes its waiting parent runnable, as in `_update`
                    conn.execute(
                        self._sql(WAKE_PARENTS),
                        {"children": ended, "now": max(p.now for p in batch)},
                    )
        return done

    def read(
        self, instance_id: str, after_seq: int = 0, *, times: bool = True
    ) -> list[StoredEvent]:
        time = "recorded_at" if times else "NULL"
        with self._connection() as conn:
            rows = conn.execute(
                self._sql(
                    f"SELECT seq, type, version, payload, {time}, node FROM {{schema}}.events "
                    "WHERE instance_id = %s AND seq > %s ORDER BY seq"
                ),
                (instance_id, after_seq),
            ).fetchall()
        if not rows and after_seq <= 0:
            self.get_instance(instance_id)  # raises UnknownInstance
        # Built by `tuple.__new__` in C: calling the class would run its Python `__new__`.
        build = tuple.__new__
        return [build(StoredEvent, (instance_id, *row)) for row in rows]

    def family(self, instance_id: str) -> Family:
        with self._connection() as conn:
            parent = conn.execute(
                self._sql("SELECT parent_id FROM {schema}.instance_children WHERE child_id = %s"),
                (instance_id,),
            ).fetchone()
            children = conn.execute(
                self._sql(
                    "SELECT child_id FROM {schema}.instance_children WHERE parent_id = %s "
                    "ORDER BY child_id"
                ),
                (instance_id,),
            ).fetchall()
        return Family(None if parent is None else parent[0], tuple(c for (c,) in children))

    def read_many(self, instance_ids: Sequence[str]) -> dict[str, list[StoredEvent]]:
        with self._connection() as conn:
            rows = conn.execute(
                self._sql(
                    "SELECT instance_id, seq, type, version, payload, NULL, node "
                    "FROM {schema}.events WHERE instance_id = ANY(%s) ORDER BY instance_id, seq"
                ),
                (list(instance_ids),),
            ).fetchall()
        events: dict[str, list[StoredEvent]] = {i: [] for i in instance_ids}
        for row in rows:
            events[row[0]].append(StoredEvent(*row))
        return events

    # -- registry -------------------------------------------------------------

    def get_instance(self, instance_id: str) -> InstanceRecord:
        with self._connection() as conn:
            row = conn.execute(
                self._sql(f"SELECT {_INSTANCE_COLUMNS} FROM {{schema}}.instances i WHERE id = %s"),
                (instance_id,),
            ).fetchone()
        if row is None:
            raise UnknownInstance(instance_id)
        return instance_from_row(row)

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
        if after is not None:  # a plan that the indexes serve for a page at any position
            where.append(
                "(created_at, id) > "
                "(SELECT created_at, id FROM {schema}.instances WHERE id = %(after)s)"
            )
            params["after"] = after
        with self._connection() as conn:
            rows = conn.execute(
                self._sql(
                    f"SELECT {_INSTANCE_COLUMNS} FROM {{schema}}.instances i "
                    f"WHERE {' AND '.join(where) or 'true'} "
                    "ORDER BY created_at, id LIMIT %(limit)s"
                ),
                {**params, "limit": limit},
            ).fetchall()
        return [instance_from_row(row) for row in rows]

    def tags_of(self, instance_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        with self._connection() as conn:
            rows = conn.execute(
                self._sql(
                    "SELECT instance_id, name, value FROM {schema}.instance_tags "
                    "WHERE instance_id = ANY(%s) ORDER BY instance_id, name"
                ),
                (list(instance_ids),),
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
        with self._connection() as conn:
            rows = conn.execute(
                self._sql(
                    "SELECT status, COUNT(*) FROM {schema}.instances "
                    f"WHERE {' AND '.join(where) or 'true'} GROUP BY status"
                ),
                params,
            ).fetchall()
        return {InstanceStatus(status): count for status, count in rows}

    def last_updated(self) -> datetime | None:
        with self._connection() as conn:
            row = conn.execute(
                self._sql("SELECT max(updated_at) FROM {schema}.instances")
            ).fetchone()
        return None if row is None else row[0]

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
        with self._transaction() as conn:
            if (
                expected_seq is not None
                or expected_status is not None
                or (expected_attempts is not None)
            ):
                # Lock the row first: an append that also updates it (a cancellation,
                # say) then either committed before, or waits until we commit.
                locked = conn.execute(
                    self._sql("SELECT 1 FROM {schema}.instances WHERE id = %s FOR UPDATE"),
                    (instance_id,),
                ).fetchone()
                if locked is None:
                    raise UnknownInstance(instance_id)
                row = conn.execute(
                    self._sql(
                        f"SELECT {_INSTANCE_COLUMNS} FROM {{schema}}.instances i WHERE id = %s"
                    ),
                    (instance_id,),
                ).fetchone()
                assert row is not None
                check_expected(
                    instance_from_row(row), expected_seq, expected_status, expected_attempts
                )
            self._update(conn, instance_id, update, now)
        if self._wakes_workers(update):
            self._notifier.notify()

    def acquire_lease(
        self, instance_id: str, owner: str, now: datetime, ttl: timedelta
    ) -> InstanceRecord:
        with self._connection() as conn:
            row = conn.execute(
                # Returning the record saves a round trip: a signal from outside takes a lease.
                self._sql(
                    "UPDATE {schema}.instances i SET lease_owner = %(owner)s, "
                    "lease_expires_at = %(expires)s, lease_epoch = lease_epoch + CASE WHEN "
                    "lease_owner = %(owner)s AND lease_expires_at > %(now)s THEN 0 ELSE 1 END "
                    "WHERE id = %(id)s AND (lease_owner IS NULL "
                    "OR lease_owner = %(owner)s OR lease_expires_at <= %(now)s) "
                    f"RETURNING {_INSTANCE_COLUMNS}"
                ),
                {"owner": owner, "expires": now + ttl, "id": instance_id, "now": now},
            ).fetchone()
            if row is None:
                holder = conn.execute(
                    self._sql("SELECT lease_owner FROM {schema}.instances WHERE id = %s"),
                    (instance_id,),
                ).fetchone()
                if holder is None:
                    raise UnknownInstance(instance_id)
                raise LeaseHeld(instance_id, holder[0])
        return instance_from_row(row)

    def release_lease(self, instance_id: str, owner: str) -> None:
        with self._connection() as conn:
            conn.execute(
                self._sql(
                    "UPDATE {schema}.instances SET lease_owner = NULL, lease_expires_at = NULL "
                    "WHERE id = %s AND lease_owner = %s"
                ),
                (instance_id, owner),
            )
        self._notifier.notify()  # another worker may have been waiting for this instance

    def renew_leases(self, owner: str, now: datetime, ttl: timedelta) -> int:
        with self._connection() as conn:
            cursor = conn.execute(
                self._sql(
                    "UPDATE {schema}.instances SET lease_expires_at = %s WHERE lease_owner = %s"
                ),
                (now + ttl, owner),
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
        with self._connection() as conn:
            rows = conn.execute(
                self._sql(CLAIM_RUNNABLE), claim_parameters(owner, now, ttl, limit, workflows)
            ).fetchall()
        return [instance_from_row(row) for row in rows]

    def prune(
        self,
        finished_before: datetime,
        statuses: Iterable[InstanceStatus] = FINAL_STATUSES,
        *,
        batch_size: int = 1000,
        dry_run: bool = False,
    ) -> int:
        # Documented on `Journal.prune` (protocol.py).
        parameters = {
            "statuses": prunable(statuses),
            "before": finished_before,
            "batch": batch_size,
        }
        if dry_run:
            with self._connection() as conn:
                row = conn.execute(
                    self._sql(
                        "SELECT count(*) FROM {schema}.instances "
                        "WHERE status = ANY(%(statuses)s) AND updated_at < %(before)s"
                    ),
                    parameters,
                ).fetchone()
            return int(row[0]) if row else 0
        deleted = 0
        while True:
            # One statement (one short transaction) per batch; SKIP LOCKED passes rows in use.
            with self._connection() as conn:
                count = conn.execute(self._sql(PRUNE), parameters).rowcount
            deleted += count
            if count < batch_size:
                return deleted

    def register_workflow(self, name: str, version: int, model: Any, now: datetime) -> None:
        with self._connection() as conn:
            conn.execute(
                self._sql(
                    "INSERT INTO {schema}.workflows VALUES (%s, %s, %s, %s) "
                    "ON CONFLICT (name, version) DO UPDATE SET model = excluded.model, "
                    "registered_at = excluded.registered_at"
                ),
                (name, version, Jsonb(model), now),
            )

    def list_workflows(self) -> list[WorkflowRecord]:
        with self._connection() as conn:
            rows = conn.execute(
                self._sql(
                    "SELECT name, version, registered_at FROM {schema}.workflows "
                    "ORDER BY name, version"
                )
            ).fetchall()
        return [WorkflowRecord(*row) for row in rows]

    def workflow_model(self, name: str, version: int) -> Any | None:
        with self._connection() as conn:
            row = conn.execute(
                self._sql("SELECT model FROM {schema}.workflows WHERE name = %s AND version = %s"),
                (name, version),
            ).fetchone()
        return None if row is None else row[0]

    def wait_for_work(self, timeout: float) -> None:
        """Wait for a NOTIFY about new or released instances, at most ``timeout`` seconds.

        A LISTEN connection that was dropped (a restart, a terminated backend) is
        opened again; notifications sent meanwhile are lost, so the call then
        returns at once and the caller looks for work. Raises `JournalUnavailable`
        only if the database cannot be reached to LISTEN again."""
        with self._listener_lock:
            if self._listener is None or self._listener.closed:
                self._listen()
                return  # anything may have been missed while not listening
            try:
                assert self._listener is not None
                for _ in self._listener.notifies(timeout=timeout, stop_after=1):
                    pass
            except psycopg.Error as exc:
                reason = " ".join(scrubbed(str(exc), self._passwords).split())
                log.info("LISTEN on %s was lost (%s): listening again", self.url, reason)
                self._drop_listener()
                self._listen()

    def _listen(self) -> None:
        try:
            listener = psycopg.connect(
                self.conninfo, autocommit=True, connect_timeout=self._connect_seconds
            )
            listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
        except psycopg.Error as exc:
            raise self._unavailable(f"PostgreSQL at {self.url}", exc) from exc
        self._listener = listener

    def _drop_listener(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(psycopg.Error):  # broken: nothing to close cleanly
                self._listener.close()
        self._listener = None

    def wake(self) -> None:
        # The listener blocks on its socket; a notification is what wakes it. Other
        # workers wake too, find nothing new, and wait again.
        with self._connection() as conn:
            conn.execute("SELECT pg_notify(%s, '')", (self._channel,))

    def fit_concurrency(self, concurrency: int) -> None:
        # A connection for each thread, and two more: the claims and the heartbeat.
        wanted = concurrency + 2
        if self._pool.max_size < wanted:
            self._pool.resize(self._pool.min_size, wanted)
        # Their appends committed together, unless the URL said otherwise: fewer
        # commits, which pays when the database's commits are the limit.
        if self._group_commit_said or concurrency < 2:
            return
        if self._committer is None:
            self._committer = GroupCommitter(self._append_batch, concurrency, self._group_linger)
        self._committer.max_batch = max(self._committer.max_batch, concurrency)

    def ping(self, timeout: float = 1.0) -> None:
        # A connection of its own, not the pool's: a probe must answer within its
        # timeout whatever the pool is doing (waiting to reconnect, all in use).
        seconds = max(1, round(timeout))
        try:
            with psycopg.connect(
                self.conninfo,
                autocommit=True,
                connect_timeout=seconds,
                options=f"-c statement_timeout={int(timeout * 1000)}",
            ) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error as exc:
            raise self._unavailable(f"PostgreSQL at {self.url}", exc) from exc

    def close(self) -> None:
        if self._committer is not None:
            self._committer.close()
        self._notifier.close()
        with self._listener_lock:
            self._drop_listener()
        self._pool.close()

    def __enter__(self) -> PostgresJournal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- helpers ----------------------------------------------------------------

    def _unavailable(self, what: str, exc: Exception) -> JournalUnavailable:
        # libpq may echo parts of the connection string, the password's included.
        return JournalUnavailable(f"{what}: {scrubbed(str(exc), self._passwords)}")

    @property
    def _channel(self) -> str:
        return work_channel(self.schema)

    def _sql(self, template: str) -> bytes:
        """``template`` with the schema's name, rendered once: psycopg renders a
        `sql.Composed` again on every execute, and looks a statement given as bytes
        up in its own cache of converted queries."""
        rendered = self._sql_cache.get(template)
        if rendered is None:
            # Without a connection: the schema's name is a plain identifier (`validate_schema`).
            rendered = sql.SQL(template).format(schema=sql.Identifier(self.schema)).as_bytes()
            self._sql_cache[template] = rendered
        return rendered

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[TupleRow]]:
        try:
            with self._pool.connection() as conn:
                yield conn
        except (PoolTimeout, psycopg.OperationalError, psycopg.InterfaceError) as exc:
            # OperationalError covers a backend terminated or a server shut down
            # mid-query; InterfaceError a connection found closed. The pool's other
            # idle connections died the same way, most likely: drop them now rather
            # than fail one call per connection once the server is back.
            with contextlib.suppress(Exception):
                self._pool.check()
            raise self._unavailable(f"PostgreSQL at {self.url}", exc) from exc

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection[TupleRow]]:
        # Commits on success and rolls back on error (connections are in autocommit mode).
        with self._connection() as conn, conn.transaction():
            yield conn

    def _update(
        self,
        conn: psycopg.Connection[TupleRow],
        instance_id: str,
        update: StatusUpdate,
        now: datetime,
    ) -> None:
        release = ", lease_owner = NULL, lease_expires_at = NULL" if update.release_lease else ""
        cancelled = ", cancelled_at = COALESCE(cancelled_at, %s)" if update.cancelled else ""
        cursor = conn.execute(
            self._sql(
                "UPDATE {schema}.instances SET status = %s, wakeup_at = %s, last_error = %s, "
                "attempts = %s, workflow_version = COALESCE(%s, workflow_version), "
                f"updated_at = %s{release}{cancelled} WHERE id = %s"
            ),
            (
                str(update.status),
                update.wakeup_at,
                update.last_error,
                update.attempts,
                update.workflow_version,
                now,
                *((now,) if update.cancelled else ()),
                instance_id,
            ),
        )
        if cursor.rowcount != 1:
            raise UnknownInstance(instance_id)
        if update.tags is not None:
            conn.execute(
                self._sql("DELETE FROM {schema}.instance_tags WHERE instance_id = %s"),
                (instance_id,),
            )
            if update.tags:
                with conn.cursor() as cursor:
                    cursor.executemany(
                        self._sql("INSERT INTO {schema}.instance_tags VALUES (%s, %s, %s)"),
                        [(instance_id, name, value) for name, value in update.tags],
                    )
        if update.status in FINAL_STATUSES:  # a child's end makes its waiting parent runnable
            conn.execute(
                self._sql(
                    "UPDATE {schema}.instances SET status = 'running', wakeup_at = NULL, "
                    "updated_at = %s WHERE status = 'waiting' AND id = "
                    "(SELECT parent_id FROM {schema}.instance_children WHERE child_id = %s)"
                ),
                (now, instance_id),
            )

    @staticmethod
    def _wakes_workers(update: StatusUpdate | None) -> bool:
        """Whether an update frees work another worker may be waiting for."""
        return update is not None and (update.release_lease or update.wakeup_at is not None)


class Notifier:
    """Tells LISTENing workers that there is new work, after the commit that made
    it and outside any transaction: a NOTIFY inside a transaction takes a lock
    at commit that every notifying commit in the database waits for in turn.
    Notifications that pile up while one is being sent go out as one, since a
    woken worker claims whatever is runnable."""

    def __init__(
        self,
        pool: ConnectionPool[psycopg.Connection[TupleRow]],
        channel: str,
        passwords: list[str],
    ) -> None:
        self._pool = pool
        self._channel = channel
        self._passwords = passwords
        self._pending = threading.Event()
        self._closing = False
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def notify(self) -> None:
        with self._lock:
            if self._closing:
                return
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="wio-notify", daemon=True)
                self._thread.start()
        self._pending.set()

    def close(self) -> None:
        with self._lock:
            self._closing = True
            thread = self._thread
        self._pending.set()
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        while True:
            self._pending.wait()
            self._pending.clear()
            try:
                with self._pool.connection() as conn:
                    conn.execute("SELECT pg_notify(%s, '')", (self._channel,))
            except (PoolTimeout, psycopg.Error) as exc:
                # Workers poll too: a lost notification delays work, it loses nothing.
                # An outage is reported by whoever depends on the journal (a worker
                # logs it once); a line per lost notification would only add noise.
                log.info(
                    "could not notify workers on %s: %s",
                    self._channel,
                    scrubbed(str(exc), self._passwords),
                )
            if self._closing:
                return


def _loads(data: bytes | str) -> Any:
    """JSON from PostgreSQL, decoded by msgspec: about ten times faster than the
    standard library on event payloads, with the same values (integers of any
    size included). What msgspec refuses (a number beyond a float's range) the
    standard library decodes, as before."""
    try:
        return msgspec.json.decode(data)
    except msgspec.DecodeError:
        return json.loads(data)


def _fast_json(conn: psycopg.Connection[TupleRow]) -> None:
    set_json_loads(_loads, conn)


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
            ("status = %(status)s", "status"),
            ("workflow = %(workflow)s", "workflow"),
            ("workflow_version = %(version)s", "version"),
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
        escaped = where.id_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        conditions.append("id LIKE %(id_pattern)s")
        params["id_pattern"] = escaped + "%"
    for column, bound, operator in (
        ("created_at", where.created_from, ">="),
        ("created_at", where.created_to, "<="),
        ("updated_at", where.updated_from, ">="),
        ("updated_at", where.updated_to, "<="),
    ):
        if bound is not None:
            name = f"{column}_{len(params)}"
            conditions.append(f"{column} {operator} %({name})s")
            params[name] = bound
    for number, (tag, value) in enumerate(where.tags):
        conditions.append(
            "id IN (SELECT instance_id FROM {schema}.instance_tags "
            f"WHERE name = %(tag_{number})s AND value = %(tag_value_{number})s)"
        )
        params.update({f"tag_{number}": tag, f"tag_value_{number}": value})
    return conditions, params
