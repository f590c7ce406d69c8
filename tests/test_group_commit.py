"""Group commit on PostgreSQL: appends to many instances, made at the same time,
committed in one transaction; each keeps its own concurrency check."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

import psycopg
import pytest
from psycopg import sql

from tests.conftest import POSTGRES_URL, drop_schema, postgres_url
from wio.journal import (
    ConcurrencyConflict,
    InstanceRecord,
    InstanceStatus,
    InvalidJournalURL,
    NewEvent,
    StatusUpdate,
    UnknownInstance,
    open_journal,
)
from wio.journal.group_commit import PendingAppend
from wio.journal.postgres import PostgresJournal

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 1, 1, tzinfo=UTC)
ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent


def event(n: int) -> NewEvent:
    return NewEvent("Stepped", 1, {"n": n})


def record(instance_id: str) -> InstanceRecord:
    return InstanceRecord(instance_id, "flow", 1, InstanceStatus.RUNNING, 0, NOW, NOW)


@pytest.fixture
def schema() -> Iterator[str]:
    name = f"wio_test_{uuid.uuid4().hex[:12]}"
    yield name
    drop_schema(name)


def transactions(schema: str) -> dict[tuple[str, int], int]:
    """The transaction that wrote each event, by (instance, seq)."""
    with psycopg.connect(POSTGRES_URL) as conn:
        rows = conn.execute(
            sql.SQL("SELECT instance_id, seq, xmin::text::bigint FROM {}.events").format(
                sql.Identifier(schema)
            )
        ).fetchall()
    return {(instance, seq): xid for instance, seq, xid in rows}


def appended_together(journal: PostgresJournal, calls: list[tuple[str, int]]) -> list[object]:
    """Append one event for each (instance, expected seq) from its own thread, at
    once; the outcome of each, in order (its new last seq, or its error)."""
    outcomes: list[object] = [None] * len(calls)

    def append(index: int, instance: str, expected: int) -> None:
        try:
            outcomes[index] = journal.append(instance, expected, [event(index)], NOW)
        except Exception as exc:
            outcomes[index] = exc

    threads = [
        threading.Thread(target=append, args=(index, *call)) for index, call in enumerate(calls)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_appends_to_many_instances_commit_in_one_transaction(schema: str) -> None:
    # The batch waits (up to a minute) until four appends are in it.
    with PostgresJournal(POSTGRES_URL, schema=schema, group_commit=4, group_linger=60) as journal:
        for name in "abcd":
            journal.create_instance(record(name))
        assert appended_together(journal, [(name, 0) for name in "abcd"]) == [1, 1, 1, 1]
    written = transactions(schema)
    assert set(written) == {(name, 1) for name in "abcd"}
    assert len(set(written.values())) == 1  # one transaction


def test_a_conflict_in_a_batch_fails_only_that_append(schema: str) -> None:
    with PostgresJournal(POSTGRES_URL, schema=schema) as journal:
        for name in ("ok1", "ok2", "behind", "ahead"):
            journal.create_instance(record(name))
        journal.append("behind", 0, [event(0)], NOW)
    before = transactions(schema)
    with PostgresJournal(POSTGRES_URL, schema=schema, group_commit=5, group_linger=60) as journal:
        outcomes = appended_together(
            journal, [("ok1", 0), ("behind", 0), ("ok2", 0), ("ahead", 3), ("ghost", 0)]
        )
        assert outcomes[0] == 1 and outcomes[2] == 1
        behind, ahead, ghost = outcomes[1], outcomes[3], outcomes[4]
        assert isinstance(behind, ConcurrencyConflict)
        assert (behind.expected_seq, behind.actual_seq) == (0, 1)
        assert isinstance(ahead, ConcurrencyConflict)
        assert (ahead.expected_seq, ahead.actual_seq) == (3, 0)
        assert isinstance(ghost, UnknownInstance)
    written = transactions(schema)
    new = {key: xid for key, xid in written.items() if key not in before}
    assert set(new) == {("ok1", 1), ("ok2", 1)}  # nothing of the refused ones
    assert len(set(new.values())) == 1


def test_appends_of_one_instance_keep_their_order_in_a_batch(schema: str) -> None:
    with PostgresJournal(POSTGRES_URL, schema=schema) as journal:
        journal.create_instance(record("i"))
        journal.create_instance(record("j"))
        finished = StatusUpdate(InstanceStatus.FINISHED, release_lease=True)
        outcomes = journal._append_batch(
            [
                PendingAppend("i", 0, event(1), NOW, None),
                PendingAppend("j", 0, event(1), NOW, None),
                PendingAppend("i", 1, event(2), NOW, None),
                PendingAppend("i", 2, event(3), NOW, finished),
                PendingAppend("i", 9, event(9), NOW, None),  # ahead: refused alone
            ]
        )
        assert outcomes[:4] == [1, 1, 2, 3]
        assert isinstance(outcomes[4], ConcurrencyConflict)
        assert [e.payload["n"] for e in journal.read("i")] == [1, 2, 3]
        assert journal.get_instance("i").status == InstanceStatus.FINISHED
    assert len(set(transactions(schema).values())) == 1


CHILD = """
import sys, threading
from datetime import UTC, datetime
from wio.journal import NewEvent, StatusUpdate, InstanceStatus
from wio.journal.postgres import PostgresJournal

journal = PostgresJournal(sys.argv[1], schema=sys.argv[2], pool_min=1, pool_max=1,
                          group_commit=3, group_linger=60)
with journal._pool.connection() as conn:
    print("backend", conn.info.backend_pid, flush=True)
now = datetime.now(UTC)
update = StatusUpdate(InstanceStatus.WAITING, release_lease=True)

def append(name):
    journal.append(name, 0, [NewEvent("Stepped", 1, {"n": 1})], now,
                   update if name == "c" else None)
    print("acknowledged", name, flush=True)

for name in "abc":
    threading.Thread(target=append, args=(name,)).start()
threading.Event().wait()
"""


def test_a_process_killed_in_the_middle_of_a_batch_loses_and_duplicates_nothing(
    schema: str,
) -> None:
    with PostgresJournal(POSTGRES_URL, schema=schema) as journal:
        for name in "abc":
            journal.create_instance(record(name))
    instances = sql.Identifier(schema, "instances")
    with (
        psycopg.connect(POSTGRES_URL) as holder,
        psycopg.connect(POSTGRES_URL, autocommit=True) as watcher,
    ):
        # The batch's update of c waits for this lock, its other appends already made.
        holder.execute(sql.SQL("SELECT 1 FROM {} WHERE id = 'c' FOR UPDATE").format(instances))
        child = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(CHILD), POSTGRES_URL, schema],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert child.stdout is not None
            backend = int(child.stdout.readline().split()[1])
            waiting = None
            while not waiting:  # until the batch's transaction waits for the lock
                assert child.poll() is None
                waiting = watcher.execute(
                    "SELECT 1 FROM pg_stat_activity WHERE pid = %s AND wait_event_type = 'Lock'",
                    (backend,),
                ).fetchone()
                watcher.execute("SELECT pg_sleep(0.05)")
        finally:
            child.kill()
            out, _ = child.communicate()
        assert "acknowledged" not in out  # nothing counted as done
        holder.rollback()  # the batch's backend goes on, and finds its client gone
        while watcher.execute(
            "SELECT 1 FROM pg_stat_activity WHERE pid = %s", (backend,)
        ).fetchone():
            watcher.execute("SELECT pg_sleep(0.05)")
    written = transactions(schema)
    assert set(written) in (set(), {("a", 1), ("b", 1), ("c", 1)})  # all or nothing
    # A writer that takes over re-runs each step from the journal: one event each.
    with PostgresJournal(POSTGRES_URL, schema=schema) as journal:
        for name in "abc":
            last = journal.get_instance(name).last_seq
            if last == 0:
                journal.append(name, 0, [event(1)], NOW)
            else:
                with pytest.raises(ConcurrencyConflict):
                    journal.append(name, 0, [event(1)], NOW)
        assert [len(journal.read(name)) for name in "abc"] == [1, 1, 1]


def metrics_samples() -> tuple[float, float]:
    """The number of group-commit batches, and of appends in them, so far."""
    from prometheus_client import REGISTRY

    count = REGISTRY.get_sample_value("wio_group_commit_batch_size_count") or 0.0
    total = REGISTRY.get_sample_value("wio_group_commit_batch_size_sum") or 0.0
    return count, total


def test_the_asyncio_runtime_advances_many_instances_on_group_commit(schema: str) -> None:
    import asyncio

    from benchmarks.flows import durable
    from wio import AsyncRuntime

    workflow = durable(3, "grouped")
    # Each batch waits (up to a minute) for the twelve appends of a round.
    url = f"{postgres_url(schema)}&group_commit=12&group_linger_ms=60000"
    with open_journal(url) as journal:
        assert isinstance(journal, PostgresJournal)
        # Its own pool of 12 threads: asyncio's default few would never fill a batch.
        runtime = AsyncRuntime(workflow, journal=journal, concurrency=12)

        async def run(instance_id: str) -> object:
            instance = await runtime.create(instance_id, 0)
            await instance.advance()
            return instance.result

        async def run_all() -> list[object]:
            return await asyncio.gather(*(run(f"i{n}") for n in range(12)))

        batches = metrics_samples()
        assert asyncio.run(run_all()) == [3] * 12
        runtime.close()
        # Three rounds of twelve appends: three batches of twelve, as /metrics reports.
        assert metrics_samples() == (batches[0] + 3, batches[1] + 36)
        for n in range(12):
            assert [e.seq for e in journal.read(f"i{n}")] == [1, 2, 3]
            assert journal.get_instance(f"i{n}").status == InstanceStatus.FINISHED
    by_transaction: dict[int, set[str]] = {}
    for (instance, _), xid in transactions(schema).items():
        by_transaction.setdefault(xid, set()).add(instance)
    # Creations are not batched; each round of appends is, twelve instances at a time.
    assert sorted(len(instances) for instances in by_transaction.values())[-3:] == [12, 12, 12]


def test_an_asyncio_runtime_fits_the_journal_to_its_concurrency(schema: str) -> None:
    from benchmarks.flows import durable
    from wio import AsyncRuntime
    from wio.errors import InvalidSetting

    with open_journal(postgres_url(schema)) as journal:
        assert isinstance(journal, PostgresJournal) and journal._pool.max_size == 8
        AsyncRuntime(durable(1), journal=journal).close()  # asyncio's pool: left as it is
        assert journal._pool.max_size == 8 and journal._committer is None
        AsyncRuntime(durable(1), journal=journal, concurrency=24).close()
        assert journal._pool.max_size == 26
        assert journal._committer is not None and journal._committer.max_batch == 24
    with pytest.raises(InvalidSetting, match="concurrency must be 1 or more, got 0"):
        AsyncRuntime(durable(1), concurrency=0)


@pytest.mark.parametrize("query", ["group_commit=many", "group_linger_ms=soon"])
def test_bad_group_commit_settings_are_refused(query: str) -> None:
    with pytest.raises(InvalidJournalURL, match=query.split("=")[0]):
        open_journal(f"{POSTGRES_URL}?{query}")


def test_a_child_finishing_in_a_batch_makes_its_waiting_parent_runnable(schema: str) -> None:
    waiting = InstanceRecord("parent", "flow", 1, InstanceStatus.WAITING, 0, NOW, NOW)
    with PostgresJournal(POSTGRES_URL, schema=schema) as journal:
        journal.create_instance(waiting)
        journal.create_instance(record("child"), parent="parent")
        journal.create_instance(record("other"))
        finished = StatusUpdate(InstanceStatus.FINISHED, release_lease=True)
        outcomes = journal._append_batch(
            [
                PendingAppend("other", 0, event(1), NOW, None),
                PendingAppend("child", 0, event(1), NOW, finished),
            ]
        )
        assert outcomes == [1, 1]
        assert journal.get_instance("child").status == InstanceStatus.FINISHED
        assert journal.get_instance("parent").status == InstanceStatus.RUNNING
    assert len(set(transactions(schema).values())) == 1


def test_many_threads_appending_at_once_all_return_and_the_committer_closes() -> None:
    from wio.journal.group_commit import GroupCommitter

    committed: list[tuple[str, int]] = []

    def commit(batch: Sequence[PendingAppend]) -> list[int | Exception]:
        time.sleep(0.0005)  # a round trip: two leaders' batches overlap
        committed.extend((p.instance_id, p.expected_seq) for p in batch)
        return [p.expected_seq + 1 for p in batch]

    committer = GroupCommitter(commit, max_batch=8, linger=0)

    def run(instance: str) -> None:
        for seq in range(300):
            assert committer.append(PendingAppend(instance, seq, event(seq), NOW, None)) == seq + 1

    threads = [threading.Thread(target=run, args=(f"i{n}",)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    closer = threading.Thread(target=committer.close)  # every lead was given back
    closer.start()
    closer.join(60)
    assert not closer.is_alive()
    for n in range(12):  # each instance's appends committed once each, in order
        assert [seq for i, seq in committed if i == f"i{n}"] == list(range(300))
