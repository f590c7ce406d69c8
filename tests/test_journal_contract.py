"""The journal contract: every journal behaves the same, on real SQLite files and
the real PostgreSQL server."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import ALL_JOURNALS, DURABLE_JOURNALS
from wio.journal import (
    ConcurrencyConflict,
    DuplicateInstance,
    Family,
    InstanceChanged,
    InstanceFilter,
    InstanceRecord,
    InstanceStatus,
    InvalidJournalURL,
    Journal,
    JournalUnavailable,
    LeaseHeld,
    NewEvent,
    StatusUpdate,
    UnknownInstance,
    open_journal,
)

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
TTL = timedelta(seconds=30)
Open = Callable[[], Journal]


def record(instance_id: str, **changes: object) -> InstanceRecord:
    fields: dict[str, object] = {
        "id": instance_id,
        "workflow": "order",
        "workflow_version": 1,
        "status": InstanceStatus.RUNNING,
        "input": {"order_id": instance_id, "items": ["é", 1, None]},
        "created_at": T0,
        "updated_at": T0,
    }
    fields.update(changes)
    return InstanceRecord(**fields)  # type: ignore[arg-type]


def event(n: int) -> NewEvent:
    return NewEvent("Charged", 1, {"amount": n, "note": "naïve ✓", "nested": {"a": [1, 2]}})


@ALL_JOURNALS
def test_instances_are_registered_once(open_fresh: Open) -> None:
    journal = open_fresh()
    journal.create_instance(record("a"))
    with pytest.raises(DuplicateInstance, match="'a' exists already"):
        journal.create_instance(record("a"))
    got = journal.get_instance("a")
    assert got.input == {"order_id": "a", "items": ["é", 1, None]}
    assert got.status == InstanceStatus.RUNNING and got.last_seq == 0
    assert got.created_at == T0 and got.created_at.tzinfo is not None
    with pytest.raises(UnknownInstance, match="'nope'"):
        journal.get_instance("nope")


@ALL_JOURNALS
def test_append_and_read_in_order(open_fresh: Open) -> None:
    journal = open_fresh()
    journal.create_instance(record("a"))
    assert journal.append("a", 0, [event(1)], T0) == 1
    assert journal.append("a", 1, [event(2), event(3)], T0 + timedelta(seconds=1)) == 3
    events = journal.read("a")
    assert [e.seq for e in events] == [1, 2, 3]
    assert events[0].payload == {"amount": 1, "note": "naïve ✓", "nested": {"a": [1, 2]}}
    assert (events[0].type, events[0].version, events[0].instance_id) == ("Charged", 1, "a")
    assert events[1].recorded_at == T0 + timedelta(seconds=1)
    assert [e.seq for e in journal.read("a", after_seq=2)] == [3]
    assert journal.get_instance("a").last_seq == 3
    with pytest.raises(UnknownInstance):
        journal.read("nope")


@ALL_JOURNALS
@pytest.mark.parametrize("expected", [0, 1, 5])
def test_a_stale_or_future_append_conflicts_and_writes_nothing(
    open_fresh: Open, expected: int
) -> None:
    journal = open_fresh()
    journal.create_instance(record("a"))
    journal.append("a", 0, [event(1), event(2)], T0)
    with pytest.raises(ConcurrencyConflict) as raised:
        journal.append(
            "a", expected, [event(9), event(10)], T0, StatusUpdate(InstanceStatus.FAILED)
        )
    assert raised.value.instance_id == "a" and raised.value.expected_seq == expected
    assert raised.value.actual_seq == 2
    assert [e.payload["amount"] for e in journal.read("a")] == [1, 2]
    assert journal.get_instance("a").status == InstanceStatus.RUNNING


@ALL_JOURNALS
def test_append_to_an_unknown_instance(open_fresh: Open) -> None:
    with pytest.raises(UnknownInstance):
        open_fresh().append("ghost", 0, [event(1)], T0)


@ALL_JOURNALS
def test_append_with_a_status_update_is_atomic(open_fresh: Open) -> None:
    journal = open_fresh()
    journal.create_instance(record("a"))
    journal.acquire_lease("a", "w1", T0, TTL)
    update = StatusUpdate(InstanceStatus.FINISHED, last_error=None, release_lease=True)
    journal.append("a", 0, [event(1)], T0 + timedelta(seconds=5), update)
    got = journal.get_instance("a")
    assert got.status == InstanceStatus.FINISHED
    assert got.lease_owner is None and got.updated_at == T0 + timedelta(seconds=5)


@ALL_JOURNALS
def test_concurrent_appends_at_one_position_let_exactly_one_win(open_fresh: Open) -> None:
    journal = open_fresh()
    journal.create_instance(record("a"))
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def writer(n: int) -> None:
        barrier.wait()
        try:
            journal.append("a", 0, [event(n)], T0)
            outcomes.append("won")
        except ConcurrencyConflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["conflict"] * 7 + ["won"]
    assert len(journal.read("a")) == 1


@ALL_JOURNALS
def test_update_instance(open_fresh: Open) -> None:
    journal = open_fresh()
    journal.create_instance(record("a"))
    wake = T0 + timedelta(minutes=5)
    journal.update_instance(
        "a", StatusUpdate(InstanceStatus.RUNNING, wake, "ValueError: boom", 2), T0
    )
    got = journal.get_instance("a")
    assert (got.wakeup_at, got.last_error, got.attempts) == (wake, "ValueError: boom", 2)
    with pytest.raises(UnknownInstance):
        journal.update_instance("b", StatusUpdate(InstanceStatus.FAILED), T0)


@ALL_JOURNALS
def test_a_conditional_update_writes_only_if_nothing_changed(open_fresh: Open) -> None:
    journal = open_fresh()
    journal.create_instance(record("a", status=InstanceStatus.FAILED, last_error="boom"))
    journal.append("a", 0, [event(1)], T0)
    retried = StatusUpdate(InstanceStatus.RUNNING)
    with pytest.raises(InstanceChanged, match="expected its last event to be #0, found #1"):
        journal.update_instance("a", retried, T0, expected_seq=0)
    with pytest.raises(InstanceChanged, match="expected status 'waiting', found status 'failed'"):
        journal.update_instance("a", retried, T0, expected_status=InstanceStatus.WAITING)
    assert journal.get_instance("a").status == InstanceStatus.FAILED  # nothing written
    journal.update_instance("a", retried, T0, expected_seq=1, expected_status=InstanceStatus.FAILED)
    got = journal.get_instance("a")
    assert (got.status, got.last_error) == (InstanceStatus.RUNNING, None)
    with pytest.raises(UnknownInstance):
        journal.update_instance("b", retried, T0, expected_seq=0)


@ALL_JOURNALS
def test_concurrent_conditional_updates_let_exactly_one_win(open_fresh: Open) -> None:
    journal = open_fresh()
    journal.create_instance(record("a", status=InstanceStatus.FAILED))
    outcomes: list[str] = []
    barrier = threading.Barrier(6)

    def writer(n: int) -> None:
        barrier.wait()
        try:
            if n % 2:  # an append that also changes the status, as a cancellation does
                journal.append("a", 0, [event(n)], T0, StatusUpdate(InstanceStatus.CANCELLED))
            else:
                journal.update_instance(
                    "a",
                    StatusUpdate(InstanceStatus.RUNNING),
                    T0,
                    expected_seq=0,
                    expected_status=InstanceStatus.FAILED,
                )
            outcomes.append("won")
        except ConcurrencyConflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    got = journal.get_instance("a")
    # Either an append won (and every update saw its event), or updates ran first and
    # then exactly one append: never an update after an append.
    assert got.last_seq == 1
    assert got.status == InstanceStatus.CANCELLED, outcomes
    assert outcomes.count("won") >= 1


@ALL_JOURNALS
def test_an_instance_is_created_with_its_first_events_at_once(open_fresh: Open) -> None:
    journal = open_fresh()
    journal.create_instance(record("fork"), [event(1), event(2)])
    assert journal.get_instance("fork").last_seq == 2
    assert [(e.seq, e.payload["amount"]) for e in journal.read("fork")] == [(1, 1), (2, 2)]
    journal.create_instance(record("a"))
    with pytest.raises(DuplicateInstance):
        journal.create_instance(record("a"), [event(1)])
    assert journal.read("a") == []  # the refused events were not written either


@ALL_JOURNALS
def test_cancelled_instances_are_listed_and_never_claimed(open_fresh: Open) -> None:
    journal = open_fresh()
    journal.create_instance(record("a", status=InstanceStatus.CANCELLED, wakeup_at=T0))
    assert [r.id for r in journal.list_instances(InstanceStatus.CANCELLED)] == ["a"]
    assert journal.claim_runnable("w", T0 + TTL, TTL, 10) == []


@ALL_JOURNALS
def test_instances_are_listed_a_page_at_a_time_and_counted(open_fresh: Open) -> None:
    journal = open_fresh()
    for n in range(7):  # created in reverse id order: pages follow creation time
        journal.create_instance(
            record(f"i-{6 - n}", created_at=T0 + n * TTL, workflow_version=1 + n % 2)
        )
    journal.create_instance(record("late", created_at=T0, status=InstanceStatus.FAILED))
    ids: list[str] = []
    after = None
    while page := journal.list_instances(InstanceStatus.RUNNING, after=after, limit=3):
        ids += [r.id for r in page]
        after = page[-1].id
    assert ids == ["i-6", "i-5", "i-4", "i-3", "i-2", "i-1", "i-0"]
    assert [r.id for r in journal.list_instances(version=2)] == ["i-5", "i-3", "i-1"]
    assert [r.id for r in journal.list_instances(after="late", limit=2)] == ["i-5", "i-4"]
    assert journal.list_instances(after="nothing") == []
    assert journal.count_instances() == {InstanceStatus.RUNNING: 7, InstanceStatus.FAILED: 1}


@ALL_JOURNALS
def test_list_instances_filters(open_fresh: Open) -> None:
    journal = open_fresh()
    journal.create_instance(record("a"))
    journal.create_instance(record("b", workflow="refund", created_at=T0 + TTL))
    journal.create_instance(record("c", status=InstanceStatus.FINISHED, created_at=T0 + 2 * TTL))
    assert [r.id for r in journal.list_instances()] == ["a", "b", "c"]
    assert [r.id for r in journal.list_instances(InstanceStatus.RUNNING)] == ["a", "b"]
    assert [r.id for r in journal.list_instances(workflow="refund")] == ["b"]


@ALL_JOURNALS
def test_count_instances_counts_what_the_filters_match_by_status(open_fresh: Open) -> None:
    journal = open_fresh()
    for name, workflow, status, tag in (
        ("a-1", "order", InstanceStatus.RUNNING, "acme"),
        ("a-2", "order", InstanceStatus.FAILED, "acme"),
        ("a-3", "order", InstanceStatus.FAILED, "globex"),
        ("b-1", "refund", InstanceStatus.FAILED, "acme"),
        ("b-2", "order", InstanceStatus.FINISHED, "acme"),
    ):
        journal.create_instance(record(name, workflow=workflow, status=status))
        tags = (("customer", tag),)
        journal.update_instance(name, StatusUpdate(status, tags=tags), T0 + TTL)
    journal.update_instance("b-2", StatusUpdate(InstanceStatus.FINISHED), T0 + 3 * TTL)
    everything = {
        InstanceStatus.RUNNING: 1,
        InstanceStatus.FAILED: 3,
        InstanceStatus.FINISHED: 1,
    }
    assert journal.count_instances() == everything
    assert journal.count_instances("refund") == {InstanceStatus.FAILED: 1}
    assert journal.count_instances("order", version=2) == {}
    acme = InstanceFilter(tags=(("customer", "acme"),))
    assert journal.count_instances("order", version=1, matching=acme) == {
        InstanceStatus.RUNNING: 1,
        InstanceStatus.FAILED: 1,
        InstanceStatus.FINISHED: 1,
    }
    assert journal.count_instances(matching=InstanceFilter(id_prefix="a-")) == {
        InstanceStatus.RUNNING: 1,
        InstanceStatus.FAILED: 2,
    }
    late = InstanceFilter(updated_from=T0 + 2 * TTL)
    assert journal.count_instances(matching=late) == {InstanceStatus.FINISHED: 1}
    # The counts are those of the rows the list selects, whatever the status.
    for workflow, matching in ((None, acme), ("order", late), (None, InstanceFilter())):
        listed = journal.list_instances(workflow=workflow, matching=matching)
        counted = journal.count_instances(workflow, matching=matching)
        assert sum(counted.values()) == len(listed)


@ALL_JOURNALS
def test_last_updated_moves_with_the_registry(open_fresh: Open) -> None:
    journal = open_fresh()
    assert journal.last_updated() is None
    journal.create_instance(record("a"))
    journal.create_instance(record("b", updated_at=T0 - TTL))
    assert journal.last_updated() == T0
    journal.append("b", 0, [event(1)], T0 + TTL, StatusUpdate(InstanceStatus.WAITING))
    assert journal.last_updated() == T0 + TTL


@ALL_JOURNALS
def test_leases_exclude_others_until_released_or_expired(open_fresh: Open) -> None:
    journal = open_fresh()
    journal.create_instance(record("a"))
    leased = journal.acquire_lease("a", "w1", T0, TTL)
    assert (leased.lease_owner, leased.lease_expires_at) == ("w1", T0 + TTL)
    journal.acquire_lease("a", "w1", T0 + timedelta(seconds=10), TTL)  # renewal by the holder
    with pytest.raises(LeaseHeld) as held:
        journal.acquire_lease("a", "w2", T0 + timedelta(seconds=20), TTL)
    assert held.value.owner == "w1"
    # The holder died: once its lease expires another process takes over.
    assert journal.acquire_lease("a", "w2", T0 + timedelta(seconds=41), TTL).lease_owner == "w2"
    journal.release_lease("a", "w1")  # not the holder: no effect
    assert journal.get_instance("a").lease_owner == "w2"
    journal.release_lease("a", "w2")
    assert journal.get_instance("a").lease_owner is None
    with pytest.raises(UnknownInstance):
        journal.acquire_lease("nope", "w1", T0, TTL)


@ALL_JOURNALS
def test_renew_leases_extends_every_lease_of_an_owner(open_fresh: Open) -> None:
    journal = open_fresh()
    for name in "abc":
        journal.create_instance(record(name))
    journal.acquire_lease("a", "w1", T0, TTL)
    journal.acquire_lease("b", "w1", T0, TTL)
    journal.acquire_lease("c", "w2", T0, TTL)
    assert journal.renew_leases("w1", T0 + TTL, TTL) == 2
    assert journal.get_instance("a").lease_expires_at == T0 + 2 * TTL
    assert journal.get_instance("c").lease_expires_at == T0 + TTL


@ALL_JOURNALS
def test_claim_runnable_takes_new_woken_and_stalled_work(open_fresh: Open) -> None:
    journal = open_fresh()
    journal.create_instance(record("new"))
    journal.create_instance(record("woken", wakeup_at=T0 - TTL))
    journal.create_instance(record("sleeping", wakeup_at=T0 + TTL))
    journal.create_instance(record("finished", status=InstanceStatus.FINISHED))
    journal.create_instance(record("waiting", status=InstanceStatus.WAITING))
    journal.create_instance(record("held"))
    journal.create_instance(record("stalled"))
    journal.create_instance(record("other-workflow", workflow="refund"))
    journal.acquire_lease("held", "w0", T0, TTL)
    journal.acquire_lease("stalled", "dead", T0 - 2 * TTL, TTL)

    claimed = journal.claim_runnable("w1", T0, TTL, 10, [("order", 1)])
    assert sorted(r.id for r in claimed) == ["new", "stalled", "woken"]
    assert all(r.lease_owner == "w1" and r.lease_expires_at == T0 + TTL for r in claimed)
    assert journal.claim_runnable("w2", T0, TTL, 10, [("order", 1)]) == []
    assert [r.id for r in journal.claim_runnable("w2", T0, TTL, 10)] == ["other-workflow"]
    assert journal.claim_runnable("w2", T0, TTL, 10, [("order", 2)]) == []


@ALL_JOURNALS
def test_claim_runnable_respects_the_limit_and_never_double_claims(open_fresh: Open) -> None:
    journal = open_fresh()
    for n in range(30):
        journal.create_instance(record(f"i{n:02}", created_at=T0, updated_at=T0))
    claims: dict[str, list[str]] = {}
    barrier = threading.Barrier(3)

    def claimer(owner: str) -> None:
        barrier.wait()
        mine: list[str] = []
        while batch := journal.claim_runnable(owner, T0, TTL, 4):
            mine.extend(r.id for r in batch)
        claims[owner] = mine

    threads = [threading.Thread(target=claimer, args=(f"w{n}",)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = [i for ids in claims.values() for i in ids]
    assert sorted(everything) == [f"i{n:02}" for n in range(30)]  # each exactly once


@ALL_JOURNALS
def test_register_workflow_is_idempotent(open_fresh: Open) -> None:
    journal = open_fresh()
    journal.register_workflow("order", 1, {"_type": "End"}, T0)
    journal.register_workflow("order", 1, {"_type": "Recovery"}, T0 + TTL)
    journal.register_workflow("order", 3, {"_type": "End"}, T0)
    journal.register_workflow("refund", 2, {"_type": "End"}, T0)
    listed = [(w.name, w.version, w.registered_at) for w in journal.list_workflows()]
    assert listed == [("order", 1, T0 + TTL), ("order", 3, T0), ("refund", 2, T0)]
    journal.ping()


@DURABLE_JOURNALS
def test_everything_survives_reopening(open_fresh: Open) -> None:
    first = open_fresh()
    first.create_instance(record("a"))
    first.append("a", 0, [event(1)], T0, StatusUpdate(InstanceStatus.WAITING))
    first.close()
    second = open_fresh()
    assert second.get_instance("a").status == InstanceStatus.WAITING
    assert [e.payload["amount"] for e in second.read("a")] == [1]


@DURABLE_JOURNALS
def test_wait_for_work_returns_by_its_timeout(open_fresh: Open) -> None:
    journal = open_fresh()
    journal.wait_for_work(0.05)  # returns: nothing else to assert without timing


@pytest.mark.parametrize(
    ("url", "error", "message"),
    [
        ("mysql://x", InvalidJournalURL, "expected memory://, sqlite:///PATH or postgresql://"),
        ("sqlite://", InvalidJournalURL, "expected sqlite:///PATH"),
        ("sqlite:///x.db?fast=1", InvalidJournalURL, "unknown option 'fast'"),
        ("sqlite:///x.db?synchronous=sometimes", InvalidJournalURL, "synchronous='sometimes'"),
        ("sqlite:////no/such/folder/x.db", JournalUnavailable, "no such folder"),
        ("postgresql://h/db?schema=bad-name", InvalidJournalURL, "not a valid SQL identifier"),
        ("postgresql://h/db?schema=drop%20table", InvalidJournalURL, "not a valid SQL identifier"),
        ("postgresql://h/db?pool_max=many", InvalidJournalURL, "pool sizes must be integers"),
    ],
)
def test_bad_urls_get_clear_errors(url: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message.replace("(", r"\(").replace("?", r"\?")):
        open_journal(url)


def test_an_unreachable_postgres_server_is_a_clear_error() -> None:
    with pytest.raises(JournalUnavailable, match="cannot reach PostgreSQL"):
        open_journal("postgresql://postgres@127.0.0.1:1/test?connect_timeout=1")


@ALL_JOURNALS
def test_an_update_moves_an_instance_to_another_version_with_its_append(open_fresh: Open) -> None:
    journal = open_fresh()
    journal.create_instance(record("a"))
    journal.append("a", 0, [event(1)], T0)
    moved = StatusUpdate(InstanceStatus.WAITING, workflow_version=2)
    with pytest.raises(ConcurrencyConflict):  # a stale position moves nothing
        journal.append("a", 0, [event(2)], T0, moved)
    assert journal.get_instance("a").workflow_version == 1
    journal.append("a", 1, [event(2)], T0, moved)
    got = journal.get_instance("a")
    assert (got.workflow_version, got.status, got.last_seq) == (2, InstanceStatus.WAITING, 2)
    # An update without a version keeps the one the instance has.
    journal.update_instance("a", StatusUpdate(InstanceStatus.RUNNING), T0)
    assert journal.get_instance("a").workflow_version == 2


@ALL_JOURNALS
def test_registered_workflows_are_listed_with_when_they_were_last_registered(
    open_fresh: Open,
) -> None:
    journal = open_fresh()
    assert journal.list_workflows() == []
    journal.register_workflow("order", 2, {"_type": "Pure"}, T0)
    journal.register_workflow("order", 1, {"_type": "Pure"}, T0)
    journal.register_workflow("order", 2, {"_type": "Pure"}, T0 + TTL)
    listed = [(w.name, w.version, w.registered_at) for w in journal.list_workflows()]
    assert listed == [("order", 1, T0), ("order", 2, T0 + TTL)]


@ALL_JOURNALS
def test_read_many_reads_several_instances_events_in_order(open_fresh: Open) -> None:
    journal = open_fresh()
    for instance_id, count in (("a", 3), ("b", 0), ("c", 2)):
        journal.create_instance(record(instance_id))
        if count:
            journal.append(instance_id, 0, [event(n) for n in range(count)], T0)
    read = journal.read_many(["c", "b", "ghost", "a"])
    assert list(read) == ["c", "b", "ghost", "a"]
    assert [(e.seq, e.payload["amount"]) for e in read["a"]] == [(1, 0), (2, 1), (3, 2)]
    assert read["a"] == [e._replace(recorded_at=None) for e in journal.read("a")]
    assert (read["b"], read["ghost"], len(read["c"])) == ([], [], 2)


@ALL_JOURNALS
def test_each_event_keeps_the_node_that_recorded_it(open_fresh: Open) -> None:
    journal = open_fresh()
    journal.create_instance(record("a"))
    journal.append("a", 0, [NewEvent("Charged", 1, {"amount": 1}, node="/1/0"), event(2)], T0)
    first, second = open_fresh().read("a", times=False)
    assert (first.node, second.node) == ("/1/0", None)
    # Batch reads (`wio replay`) keep them too: replay attributes events by node.
    first, second = open_fresh().read_many(["a"])["a"]
    assert (first.node, second.node) == ("/1/0", None)


def _old_schema_journal(kind: str, url: str) -> None:
    """A journal as the schema before event nodes left it, with one event in it."""
    if kind == "sqlite":
        import sqlite3

        from wio.journal import sqlite as sqlite_journal

        path = url.removeprefix("sqlite:///")
        db = sqlite3.connect(path, isolation_level=None)
        db.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at REAL)")
        version, script = sqlite_journal.MIGRATIONS[0]
        assert "node" not in script
        for statement in filter(str.strip, script.split(";")):
            db.execute(statement)
        db.execute("INSERT INTO schema_migrations VALUES (?, 0)", (version,))
        db.execute(
            "INSERT INTO instances VALUES ('old', 'order', 1, 'running', '{}', 0, 0, "
            "NULL, NULL, NULL, NULL, 0)"
        )
        db.execute("INSERT INTO events VALUES ('old', 1, 'Charged', 1, '{\"amount\": 1}', 0)")
        db.close()
        return
    import psycopg
    from psycopg import sql

    from wio.journal import postgres as postgres_journal

    schema = url.rpartition("schema=")[2]
    with psycopg.connect(url.partition("?")[0], autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        quoted = sql.Identifier(schema).as_string(conn)
        conn.execute(
            f"CREATE TABLE {quoted}.schema_migrations (version INTEGER PRIMARY KEY, "
            "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        for version, statements in postgres_journal.MIGRATIONS[:2]:
            for statement in statements:
                assert "node" not in statement
                conn.execute(statement.replace("{schema}", quoted))
            conn.execute(f"INSERT INTO {quoted}.schema_migrations VALUES (%s)", (version,))
        conn.execute(
            f"INSERT INTO {quoted}.instances VALUES ('old', 'order', 1, 'running', '{{}}', "
            "now(), now(), NULL, NULL, NULL, NULL, 0)"
        )
        conn.execute(
            f"INSERT INTO {quoted}.events VALUES ('old', 1, 'Charged', 1, "
            "'{\"amount\": 1}', now())"
        )


@DURABLE_JOURNALS
def test_a_journal_of_the_old_schema_upgrades_in_place(journal_url: str) -> None:
    kind = "sqlite" if journal_url.startswith("sqlite") else "postgres"
    _old_schema_journal(kind, journal_url)
    with open_journal(journal_url) as journal:
        (old,) = journal.read("old")
        assert (old.seq, old.type, old.payload, old.node) == (1, "Charged", {"amount": 1}, None)
        journal.append("old", 1, [NewEvent("Charged", 1, {"amount": 2}, node="/0")], T0)
        assert [e.node for e in journal.read("old")] == [None, "/0"]
        assert journal.upgrade() == []  # applied once


@ALL_JOURNALS
def test_a_childs_final_status_wakes_its_waiting_parent_in_the_same_write(
    open_fresh: Open,
) -> None:
    journal = open_fresh()
    journal.create_instance(record("parent", status=InstanceStatus.WAITING))
    journal.create_instance(record("parent/a"), parent="parent")
    journal.create_instance(record("parent/b"), parent="parent")
    journal.create_instance(record("other", status=InstanceStatus.WAITING))
    with pytest.raises(UnknownInstance):
        journal.create_instance(record("orphan"), parent="nobody")
    assert journal.family("parent") == Family(None, ("parent/a", "parent/b"))
    assert journal.family("parent/a") == Family("parent", ())
    assert journal.family("other") == Family()
    # A child that is still running wakes nobody; one whose status becomes final
    # (appended with its last event, or written alone) makes its parent running.
    journal.append("parent/a", 0, [event(1)], T0, StatusUpdate(InstanceStatus.WAITING))
    assert journal.get_instance("parent").status == InstanceStatus.WAITING
    later = T0 + timedelta(seconds=1)
    journal.append("parent/a", 1, [event(2)], later, StatusUpdate(InstanceStatus.FINISHED))
    woken = journal.get_instance("parent")
    assert (woken.status, woken.wakeup_at, woken.updated_at) == (
        InstanceStatus.RUNNING, None, later,
    )  # fmt: skip
    assert journal.get_instance("other").status == InstanceStatus.WAITING
    journal.update_instance("parent", StatusUpdate(InstanceStatus.WAITING), later)
    journal.update_instance("parent/b", StatusUpdate(InstanceStatus.CANCELLED), later)
    assert journal.get_instance("parent").status == InstanceStatus.RUNNING
    # A parent that is not waiting keeps its status (a final one above all).
    journal.update_instance("parent", StatusUpdate(InstanceStatus.FAILED), later)
    journal.create_instance(record("parent/c"), parent="parent")
    journal.update_instance("parent/c", StatusUpdate(InstanceStatus.FINISHED), later)
    assert journal.get_instance("parent").status == InstanceStatus.FAILED


@ALL_JOURNALS
def test_pruning_drops_the_links_of_what_it_deletes(open_fresh: Open) -> None:
    journal = open_fresh()
    journal.create_instance(record("parent", status=InstanceStatus.FINISHED))
    journal.create_instance(record("parent/a", status=InstanceStatus.FINISHED), parent="parent")
    journal.create_instance(record("parent/b"), parent="parent")  # still running
    assert journal.prune(T0 + timedelta(days=1)) == 2
    assert journal.family("parent/b") == Family()
    with pytest.raises(UnknownInstance):
        journal.get_instance("parent")
