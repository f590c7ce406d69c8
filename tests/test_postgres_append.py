"""What PostgreSQL sees of an append, a creation and a notification: the round
trips on the wire (libpq's protocol trace), and what is written when an append
is refused. The events table has no foreign key to the instances: these tests
show that integrity holds by construction instead."""

from __future__ import annotations

import json
import re
import tempfile
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg import pq, sql

from tests.conftest import POSTGRES_URL, drop_schema
from tests.test_round_trips import Counted
from wio import WIO, ManualClock, Runtime, Workflow
from wio.journal import (
    ConcurrencyConflict,
    InstanceRecord,
    InstanceStatus,
    Lease,
    LeaseLost,
    NewEvent,
    StatusUpdate,
    UnknownInstance,
)
from wio.journal.postgres import CHANNEL, PostgresJournal
from wio.worker import Worker

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 1, 1, tzinfo=UTC)
EVENT = NewEvent("Stepped", 1, {"n": 1})
FINISHED = StatusUpdate(InstanceStatus.FINISHED, release_lease=True)


@pytest.fixture
def journal() -> Iterator[PostgresJournal]:
    """A journal on a fresh schema with one pooled connection, so that every
    statement it sends, notifications included, goes over the connection traced."""
    schema = f"wio_test_{uuid.uuid4().hex[:12]}"
    with PostgresJournal(POSTGRES_URL, schema=schema, pool_min=1, pool_max=1) as opened:
        yield opened
    drop_schema(schema)


def record(instance_id: str) -> InstanceRecord:
    return InstanceRecord(instance_id, "flow", 1, InstanceStatus.RUNNING, 0, NOW, NOW)


def round_trips(journal: PostgresJournal, action: Callable[[], object]) -> list[list[str]]:
    """The messages ``action`` sends and receives on the journal's connection,
    grouped in round trips (each ends with the server's ReadyForQuery), once
    any notification it causes has gone out."""
    with tempfile.TemporaryFile("w+") as trace:
        with journal._pool.connection() as conn:
            conn.pgconn.trace(trace.fileno())
            conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        action()
        journal._notifier.close()  # waits for the notifications pending
        with journal._pool.connection() as conn:
            conn.pgconn.untrace()
        trace.seek(0)
        text = trace.read()
    trips: list[list[str]] = [[]]
    for line in text.splitlines():
        trips[-1].append(line)
        if "\tReadyForQuery\t" in line:
            trips.append([])
    return [trip for trip in trips if trip]


def statements(trip: list[str]) -> list[str]:
    """The SQL a round trip sent (Parse messages, or simple Query messages)."""
    return [
        line
        for line in trip
        if line.startswith("F\t") and ("\tParse\t" in line or "\tQuery\t" in line)
    ]


def idle_after(trip: list[str]) -> bool:
    """Whether the connection was outside any transaction at the end of the round trip."""
    return trip[-1].rstrip().endswith("ReadyForQuery\t I")


def events_of(journal: PostgresJournal, instance_id: str) -> int:
    with psycopg.connect(POSTGRES_URL) as conn:
        row = conn.execute(
            sql.SQL("SELECT count(*) FROM {}.events WHERE instance_id = %s").format(
                sql.Identifier(journal.schema)
            ),
            (instance_id,),
        ).fetchone()
    assert row is not None
    return int(row[0])


UPDATES: dict[str, StatusUpdate | None] = {
    "an event": None,
    "an event and a wait": StatusUpdate(
        InstanceStatus.WAITING, wakeup_at=NOW + timedelta(hours=1), release_lease=True
    ),
    "an event and the end": FINISHED,
    "an event and new tags": StatusUpdate(
        InstanceStatus.RUNNING, tags=(("customer", "acme"), ("team", "ops"))
    ),
}


@pytest.mark.parametrize("update", UPDATES.values(), ids=UPDATES.keys())
def test_an_append_is_one_statement_and_one_round_trip(
    journal: PostgresJournal, update: StatusUpdate | None
) -> None:
    """Whatever the update: a wait, the end (which also wakes a waiting parent) and
    new tags ride with the events in the same statement."""
    journal.create_instance(record("i"))
    lease = journal.acquire_lease("i", "w", NOW, timedelta(minutes=1))
    trips = round_trips(
        journal,
        lambda: journal.append("i", 0, [EVENT], NOW, update, lease=Lease("w", lease.lease_epoch)),
    )
    appends = [trip for trip in trips if "pg_notify" not in "".join(trip)]
    assert len(appends) == 1 and len(statements(appends[0])) == 1
    assert idle_after(appends[0])  # committed: no BEGIN, no separate COMMIT
    after = journal.get_instance("i")
    assert after.last_seq == 1
    assert after.status == (InstanceStatus.RUNNING if update is None else update.status)
    if update is not None and update.tags is not None:
        assert journal.tags_of(["i"]) == {"i": dict(update.tags)}


NOTIFYING: dict[str, Callable[[PostgresJournal], object]] = {
    "create": lambda j: j.create_instance(record("new")),
    "create with events": lambda j: j.create_instance(record("new"), [EVENT]),
    "append that releases": lambda j: j.append("i", 0, [EVENT], NOW, FINISHED),
    "release": lambda j: j.release_lease("i", "w"),
    "wakeup": lambda j: j.update_instance(
        "i", StatusUpdate(InstanceStatus.RUNNING, wakeup_at=NOW + timedelta(hours=1)), NOW
    ),
}


@pytest.mark.parametrize("operation", NOTIFYING)
def test_a_notification_goes_out_after_the_commit_in_a_transaction_of_its_own(
    journal: PostgresJournal, operation: str
) -> None:
    """A NOTIFY inside a writing transaction takes a database-wide lock at its
    commit, which would serialise every notifying commit: the journal notifies
    after its own commit, alone."""
    journal.create_instance(record("i"))
    journal.claim_runnable("w", NOW, timedelta(seconds=30), 1)
    channel = f"{CHANNEL}_{journal.schema}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as listener:
        listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
        trips = round_trips(journal, lambda: NOTIFYING[operation](journal))
        assert [n.channel for n in listener.notifies(timeout=30, stop_after=1)] == [channel]
    notifying = [n for n, trip in enumerate(trips) if "pg_notify" in "".join(trip)]
    assert len(notifying) == 1, trips
    assert notifying[0] > 0  # the write came first, and was committed on its own
    together = transaction_of(trips, notifying[0])
    assert len(together) == 1 and "pg_notify" in together[0], together


def transaction_of(trips: list[list[str]], index: int) -> list[str]:
    """The statements of the transaction that round trip ``index`` belongs to,
    BEGIN and COMMIT left out: from the last idle point before it to the next."""
    start = index
    while start > 0 and not idle_after(trips[start - 1]):
        start -= 1
    end = index
    while not idle_after(trips[end]):
        end += 1
    return [
        line
        for trip in trips[start : end + 1]
        for line in statements(trip)
        if not any(f'"{word}' in line for word in ("BEGIN", "COMMIT"))
    ]


def test_an_append_for_an_unknown_instance_writes_nothing(journal: PostgresJournal) -> None:
    """Without a foreign key, the first event needs the instance and every later
    one the event before it, so no event is written for an unknown instance."""
    with psycopg.connect(POSTGRES_URL) as conn:
        keys = conn.execute(
            "SELECT count(*) FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace "
            "WHERE n.nspname = %s AND c.contype = 'f' AND c.conrelid = (n.nspname || '.events')::regclass",
            (journal.schema,),
        ).fetchone()
    assert keys == (0,)
    for expected in (0, 3):
        for update in (None, FINISHED):
            with pytest.raises(UnknownInstance, match="ghost"):
                journal.append("ghost", expected, [EVENT, EVENT], NOW, update)
    assert events_of(journal, "ghost") == 0


def test_a_refused_append_writes_neither_its_events_nor_its_update(
    journal: PostgresJournal,
) -> None:
    journal.create_instance(record("i"), [EVENT])
    for expected in (0, 2, 5):  # behind, ahead, far ahead
        with pytest.raises(ConcurrencyConflict) as refused:
            journal.append("i", expected, [EVENT, EVENT], NOW, FINISHED)
        assert (refused.value.expected_seq, refused.value.actual_seq) == (expected, 1)
        assert f"#{expected}" in str(refused.value)
    assert events_of(journal, "i") == 1
    assert journal.get_instance("i").status == InstanceStatus.RUNNING
    assert journal.append("i", 1, [EVENT], NOW, FINISHED) == 2


def test_the_end_wakes_the_parent_and_new_tags_replace_the_old_only_with_the_events(
    journal: PostgresJournal,
) -> None:
    """An ending append, its status, the parent it wakes and its new tags are one
    statement: refused (behind, or under a lease taken over), none of it is written."""
    journal.create_instance(record("parent"))
    journal.update_instance("parent", StatusUpdate(InstanceStatus.WAITING), NOW)
    journal.create_instance(record("child"), [EVENT], parent="parent")
    journal.update_instance(
        "child", StatusUpdate(InstanceStatus.RUNNING, tags=(("old", "1"), ("team", "a"))), NOW
    )
    stale = journal.acquire_lease("child", "w", NOW, timedelta(seconds=1)).lease_epoch
    held = journal.acquire_lease("child", "v", NOW + timedelta(seconds=2), timedelta(minutes=1))
    ending = StatusUpdate(
        InstanceStatus.FINISHED, release_lease=True, tags=(("new", "2"), ("team", "b"))
    )
    with pytest.raises(LeaseLost):
        journal.append("child", 1, [EVENT], NOW, ending, lease=Lease("w", stale))
    with pytest.raises(ConcurrencyConflict):
        journal.append("child", 0, [EVENT], NOW, ending, lease=Lease("v", held.lease_epoch))
    assert events_of(journal, "child") == 1
    assert journal.get_instance("child").status == InstanceStatus.RUNNING
    assert journal.get_instance("parent").status == InstanceStatus.WAITING
    assert journal.tags_of(["child"]) == {"child": {"old": "1", "team": "a"}}
    journal.append("child", 1, [EVENT], NOW, ending, lease=Lease("v", held.lease_epoch))
    assert journal.get_instance("child").status == InstanceStatus.FINISHED
    assert journal.get_instance("child").lease_owner is None
    assert journal.get_instance("parent").status == InstanceStatus.RUNNING
    assert journal.tags_of(["child"]) == {"child": {"new": "2", "team": "b"}}


def test_creating_an_instance_without_events_is_one_round_trip(journal: PostgresJournal) -> None:
    trips = round_trips(journal, lambda: journal.create_instance(record("i")))
    writes = [trip for trip in trips if "pg_notify" not in "".join(trip)]
    assert len(writes) == 1 and idle_after(writes[0])
    assert journal.get_instance("i").status == InstanceStatus.RUNNING


def test_payloads_read_back_as_the_standard_library_decodes_them(
    journal: PostgresJournal,
) -> None:
    """The journal decodes JSON with msgspec, falling back to the standard library
    for what msgspec refuses: the values are those `json.loads` gives for the
    text PostgreSQL sends (1e400 comes back as its 401 digits)."""
    text = '{"big": 123456789012345678901234567890, "huge": 1e400, "tiny": 5e-324, "s": "é😀"}'
    journal.create_instance(record("i"), [EVENT])
    with psycopg.connect(POSTGRES_URL) as conn:
        stored = conn.execute(
            sql.SQL(
                "UPDATE {}.events SET payload = %s::jsonb WHERE instance_id = 'i' "
                "RETURNING payload::text"
            ).format(sql.Identifier(journal.schema)),
            (text,),
        ).fetchone()
    assert stored is not None
    assert journal.read("i")[0].payload == json.loads(stored[0])


def add_one(n: int) -> Counted:
    return Counted(n + 1)


def counted_step(name: str) -> WIO[int, Counted, int]:
    return WIO.run(add_one, lambda _, e: e.count).named(name)


reminded = Workflow(
    counted_step("A") >> counted_step("B") >> counted_step("C")
    >> WIO.await_for(timedelta(hours=1), name="An Hour")
    >> counted_step("D"),
    name="reminded",
    input_type=int,
)  # fmt: skip


def writes(trips: list[list[str]]) -> list[str]:
    """What each round trip but the notifications sent: its statement's first words."""
    done = []
    for trip in trips:
        (sent,) = re.findall(r'(?:Parse\t "[^"]*"|Query\t) "\s*(WITH \w+|\w+)', "\n".join(trip))
        if "pg_notify" not in "".join(trip):
            done.append(sent)
    return done


def test_a_run_is_one_round_trip_per_step(journal: PostgresJournal) -> None:
    """From the runtime: creating and leasing an instance, then one statement for
    each step, the step that reaches the timer releasing the instance with its event;
    the worker firing the timer claims, reads, records the release, and ends the
    instance with its last step's event: one statement each. A statement more for
    a step, a wait or the end fails this."""
    with journal._pool.connection() as conn:
        conn.prepare_threshold = None  # every statement's text on the wire, to tell them apart
    clock = ManualClock(NOW)
    runtime = Runtime(reminded, journal=journal, clock=clock)
    trips = round_trips(journal, lambda: runtime.create("r", 0).advance())
    assert all(idle_after(trip) for trip in trips)  # each committed alone
    # Created, leased, three steps, and the timer's start with its wakeup and the lease back.
    assert writes(trips) == ["INSERT", "UPDATE", "INSERT", "INSERT", "INSERT", "WITH updated"]
    waiting = journal.get_instance("r")  # for its timer: running, due in an hour, not leased
    assert (waiting.status, waiting.wakeup_at) == (InstanceStatus.RUNNING, NOW + timedelta(hours=1))
    assert waiting.lease_owner is None
    clock.advance(2 * 3600)
    # One instance at a time: the single-append path (a worker advancing several at
    # once group-commits them: tests/test_worker_concurrency.py).
    worker = Worker(journal, [reminded], clock=clock, concurrency=1)
    trips = round_trips(journal, worker.run_once)
    assert all(idle_after(trip) for trip in trips)
    # Claimed, read, the timer's release (clearing the wakeup), the last step with the
    # end (waking a parent, if any, in the same statement), and a claim finding no more.
    done = writes(trips)
    claimed = done.index("WITH running")
    fired = ["WITH running", "SELECT", "WITH updated", "WITH updated", "WITH running"]
    assert done[claimed:] == fired
    assert journal.get_instance("r").status == InstanceStatus.FINISHED
    assert Runtime(reminded, journal=journal).get("r").result == 4
