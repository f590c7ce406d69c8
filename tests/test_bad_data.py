"""Data the journals or the workflow cannot take fails cleanly and precisely (issue 12):
every such case raises or records a `WioError` naming the instance, the seq, the field
or the node path; nothing in the journal is lost or changed, and the worker goes on."""

from __future__ import annotations

import contextlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg import sql

from tests.conftest import (
    DURABLE_JOURNALS,
    POSTGRES_URL,
    drop_schema,
    postgres_available,
    postgres_url,
)
from tests.nodes import Ev
from wio import WIO, Runtime, Workflow
from wio.errors import JournalSequenceError, UnmatchedEventError
from wio.signals import Signal
from wio.journal import InstanceRecord, InstanceStatus, open_journal
from wio.journal.postgres import PostgresJournal, work_channel

NOW = datetime(2026, 1, 1, tzinfo=UTC)
Poke: Signal[int, None] = Signal("Poke", int, type(None))


# -- finding 4: long schema names ------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.parametrize("length", [54, 55, 63])
def test_a_schema_name_of_up_to_63_characters_has_a_working_work_channel(length: int) -> None:
    postgres_available()
    schema = f"wio_t_{uuid.uuid4().hex}".ljust(length, "x")[:length]
    try:
        with open_journal(postgres_url(schema)) as journal:
            assert isinstance(journal, PostgresJournal)
            channel = work_channel(schema)
            assert len(channel.encode()) <= 63
            assert channel == work_channel(schema)  # stable: notifier and listener agree
            with psycopg.connect(POSTGRES_URL, autocommit=True) as listener:
                listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                journal.wait_for_work(0)  # the worker's own LISTEN works too
                journal.create_instance(
                    InstanceRecord("i", "flow", 1, InstanceStatus.RUNNING, 0, NOW, NOW)
                )
                heard = list(listener.notifies(timeout=30, stop_after=1))
                assert [n.channel for n in heard] == [channel]
            journal.wake()
            journal.wait_for_work(30)  # woken by its own notification
            assert journal.claim_runnable("w", NOW, timedelta(seconds=30), 10)
    finally:
        drop_schema(schema)


# -- rows written by hand -------------------------------------------------------------


def raw(url: str, statement: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Run SQL on the journal's tables directly, as an operator or a bad tool would;
    ``?`` placeholders, the table names unqualified."""
    if url.startswith("sqlite"):
        import sqlite3

        with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as db:
            rows = db.execute(statement, params).fetchall()
            db.commit()
            return rows
    schema = url.rpartition("schema=")[2]
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        cursor = conn.execute(statement.replace("?", "%s"), params)  # type: ignore[arg-type]
        return cursor.fetchall() if cursor.description else []


def dump(url: str) -> list[tuple[object, ...]]:
    """Every event row and every instance's identity, to compare before and after."""
    events = raw(url, "SELECT instance_id, seq, type, version, payload, node FROM events "
                 "ORDER BY instance_id, seq")  # fmt: skip
    instances = raw(url, "SELECT id, workflow, workflow_version, input FROM instances ORDER BY id")
    return [tuple(map(str, row)) for row in events + instances]


def add_one(x: int) -> Ev:
    return Ev(x + 1)


def take(_x: int, event: Ev) -> int:
    return event.value


def two_steps() -> Workflow[int, Any, int]:
    """Two steps, then a wait for the Poke signal."""
    wait = WIO.handle_signal(
        Poke, lambda x, r: Ev(r), take, lambda x, e, r: None, event=Ev
    ).named("Wait")
    return Workflow(
        WIO.run(add_one, take).named("First") >> WIO.run(add_one, take).named("Second") >> wait,
        name="two",
    )


@DURABLE_JOURNALS
def test_a_gap_in_the_sequence_is_reported_with_the_instance_and_seq(journal_url: str) -> None:
    workflow = two_steps()
    with open_journal(journal_url) as journal:
        runtime = Runtime(workflow, journal=journal)
        runtime.create("gap", 1).advance()
        runtime.forget("gap")
        raw(journal_url, "DELETE FROM events WHERE instance_id = 'gap' AND seq = 1")
        before = dump(journal_url)
        with pytest.raises(JournalSequenceError) as raised:
            runtime.get("gap")
        assert str(raised.value) == (
            "instance 'gap': event #2 of type 'tests.nodes.Ev' is out of sequence: expected "
            "event #1 next; events #1 to #1 are missing"
        ).replace("tests.nodes.Ev", raised.value.event_type)
        assert (raised.value.instance_id, raised.value.seq) == ("gap", 2)
        assert dump(journal_url) == before


@DURABLE_JOURNALS
def test_a_row_numbered_0_is_refused_not_skipped(journal_url: str) -> None:
    workflow = two_steps()
    with open_journal(journal_url) as journal:
        runtime = Runtime(workflow, journal=journal)
        runtime.create("zero", 1).advance()
        runtime.forget("zero")
        raw(journal_url, "UPDATE events SET seq = 0 WHERE instance_id = 'zero' AND seq = 1")
        with pytest.raises(JournalSequenceError, match=r"'zero': event #0 .* expected event #1"):
            runtime.get("zero")


@DURABLE_JOURNALS
def test_catching_up_after_a_gap_never_applies_an_event_twice(journal_url: str) -> None:
    workflow = two_steps()
    with open_journal(journal_url) as journal:
        runtime = Runtime(workflow, journal=journal)
        instance = runtime.create("late", 1)
        other = Runtime(workflow, journal=journal, owner="other")
        other.get("late").advance()  # two events, in another process's memory only
        raw(journal_url, "DELETE FROM events WHERE instance_id = 'late' AND seq = 1")
        with pytest.raises(JournalSequenceError, match=r"'late': event #2 .* #1 are missing"):
            instance.advance()
        assert len(instance.events) == 0  # nothing applied, let alone twice
        # The catch-up raised inside `advance`: the lease went back all the same.
        assert journal.get_instance("late").lease_owner is None


@DURABLE_JOURNALS
def test_strict_replay_that_raises_while_catching_up_releases_the_lease(journal_url: str) -> None:
    workflow = two_steps()
    with open_journal(journal_url) as journal:
        runtime = Runtime(workflow, journal=journal, strict=True)
        instance = runtime.create("strict", 1)
        first = workflow.codec.encode(Ev(2))
        now = datetime.now(UTC)
        journal.append("strict", 0, [first, first, first], now)  # one Ev too many
        with pytest.raises(UnmatchedEventError, match=r"'strict': event #3"):
            instance.advance()
        assert journal.get_instance("strict").lease_owner is None
