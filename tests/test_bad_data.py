"""Data the journals or the workflow cannot take fails cleanly and precisely (issue 12):
every such case raises or records a `WioError` naming the instance, the seq, the field
or the node path; nothing in the journal is lost or changed, and the worker goes on."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from attrs import frozen
from psycopg import sql

from tests.conftest import (
    ALL_JOURNALS,
    DURABLE_JOURNALS,
    POSTGRES_URL,
    drop_schema,
    postgres_available,
    postgres_url,
)
from tests.journal_rows import raw
from tests.nodes import Ev
from tests.processes import wio
from wio import WIO, RetryPolicy, Runtime, Workflow
from wio.clock import ManualClock
from wio.codec import InputError
from wio.errors import (
    DefinitionError,
    DeterministicError,
    JournalSequenceError,
    UndecodablePayload,
    UnmatchedEventError,
    UnstorableValue,
)
from wio.journal import (
    ConcurrencyConflict,
    InstanceRecord,
    InstanceStatus,
    Journal,
    LeaseLost,
    NewEvent,
    StatusUpdate,
    open_journal,
)
from wio.journal.postgres import PostgresJournal, work_channel
from wio.signals import Signal
from wio.worker import Worker

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
    wait = WIO.handle_signal(Poke, lambda x, r: Ev(r), take, lambda x, e, r: None, event=Ev).named(
        "Wait"
    )
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


# -- finding 11: deterministic failures are not retried --------------------------------


@ALL_JOURNALS
def test_a_fork_no_branch_of_which_matches_fails_at_once_with_its_path(
    open_fresh: Callable[[], Journal],
) -> None:
    routed = WIO.run(add_one, take).named("First") >> (
        WIO.fork("Size?", input=int).branch("big", lambda n: n > 100, WIO.pure(0).named("Big"))
    )
    workflow = Workflow(routed, name="routed", retry=RetryPolicy(max_attempts=5))
    journal = open_fresh()
    instance = Runtime(workflow, journal=journal).create("f", 1)
    assert instance.advance() == InstanceStatus.FAILED
    record = journal.get_instance("f")
    assert (record.status, record.attempts, record.wakeup_at) == ("failed", 1, None)
    assert "fork 'Size?' at /1: no branch matched input 2" in (record.last_error or "")


@pytest.mark.parametrize(
    "error",
    [DefinitionError("bad"), InputError("bad"), UnstorableValue("instance 'i'", "payload", "x")],
)
def test_deterministic_errors_are_never_retried_whatever_the_policy(error: Exception) -> None:
    assert isinstance(error, DeterministicError)
    assert not RetryPolicy(max_attempts=9, retry_on=(Exception,)).retries(error)
    assert RetryPolicy().retries(ConnectionError("down"))  # a transient one is


# -- finding 5: values a journal cannot store -------------------------------------------


@frozen
class Note:
    text: str
    score: float


def noting(text: str, score: float) -> Workflow[int, Any, str]:
    step = WIO.run(lambda x: Note(text, score), lambda x, e: e.text, event=Note).named("Note")
    return Workflow(step, name="noting", retry=RetryPolicy(max_attempts=5))


@ALL_JOURNALS
@pytest.mark.parametrize(
    ("text", "score", "problem"),
    [
        ("a\x00b", 1.0, r"payload\.text contains a NUL character"),
        ("ab", float("nan"), r"payload\.score is nan, not a finite number"),
        ("ab", float("inf"), r"payload\.score is inf, not a finite number"),
    ],
)
def test_an_event_no_journal_can_store_fails_the_step_the_same_on_every_journal(
    open_fresh: Callable[[], Journal], text: str, score: float, problem: str
) -> None:
    journal = open_fresh()
    instance = Runtime(noting(text, score), journal=journal).create("n", 1)
    assert instance.advance() == InstanceStatus.FAILED  # at once: the step would do it again
    record = journal.get_instance("n")
    assert (record.status, record.attempts, record.last_seq) == ("failed", 1, 0)
    assert re.search(
        r"step 'Note' at /: UnstorableValue: instance 'n': event #1 of type '[\w.]*Note': "
        + problem,
        record.last_error or "",
    ), record.last_error
    assert journal.read("n") == []


@ALL_JOURNALS
@pytest.mark.parametrize(
    ("instance_id", "input", "field"),
    [
        ("a\x00b", {"x": 1.0}, "a new instance: its id contains a NUL"),
        ("i", {"x": float("nan")}, "instance 'i': its input.x is nan"),
        ("i", {"x": "a\x00"}, "instance 'i': its input.x contains a NUL"),
    ],
)
def test_an_instance_no_journal_can_store_is_refused_naming_the_field(
    open_fresh: Callable[[], Journal], instance_id: str, input: Any, field: str
) -> None:
    journal = open_fresh()
    with pytest.raises(UnstorableValue, match=re.escape(field)):
        Runtime(Workflow(WIO.pure_from(lambda d: d), name="echo"), journal=journal).create(
            instance_id, input
        )
    assert journal.list_instances() == []


@ALL_JOURNALS
def test_a_nul_in_a_steps_error_message_is_stored_escaped(
    open_fresh: Callable[[], Journal],
) -> None:
    def broken(x: int) -> Ev:
        raise ValueError("bad\x00byte")

    workflow = Workflow(
        WIO.run(broken, take).named("Broken"), name="broken", retry=RetryPolicy(max_attempts=1)
    )
    journal = open_fresh()
    assert Runtime(workflow, journal=journal).create("b", 1).advance() == InstanceStatus.FAILED
    assert "ValueError: bad\\x00byte" in (journal.get_instance("b").last_error or "")


# -- finding 9: a late append names the right positions -------------------------------


@ALL_JOURNALS
def test_a_late_append_reports_the_position_it_would_have_taken(
    open_fresh: Callable[[], Journal],
) -> None:
    clock = ManualClock()
    journal = open_fresh()
    taken_over: list[bool] = []

    def frozen_first(x: int) -> Ev:
        if not taken_over:  # this worker freezes past its lease; another takes over
            taken_over.append(True)
            clock.advance(60)
            time.sleep(0.05)  # past half the lease's life, so the append takes it again
            other = Runtime(workflow, journal=journal, clock=clock, owner="other")
            assert other.get("late").advance() == InstanceStatus.WAITING
        return Ev(x + 1)

    workflow = Workflow(WIO.run(frozen_first, take).named("First") >> two_steps().wio, name="late")
    stale = Runtime(workflow, journal=journal, clock=clock, owner="stale", lease_ttl=0.02)
    instance = stale.create("late", 1)
    # The stale worker learns that its lease changed hands meanwhile (the lease
    # epoch fences it) and writes nothing.
    with pytest.raises(LeaseLost):
        instance.advance()
    assert [e.seq for e in journal.read("late")] == [1, 2, 3]
    assert instance.events == ()
    # An append from the position the stale worker had names that position, and
    # where the journal is.
    late = NewEvent("tests.nodes.Ev", 1, {"value": 2}, "/0")
    with pytest.raises(ConcurrencyConflict) as raised:
        journal.append("late", 0, [late], clock.now())
    assert str(raised.value) == (
        "instance 'late': append expected the last event to be #0, the journal is at #3; "
        "another writer got there first, and nothing was written"
    )
    assert [e.seq for e in journal.read("late")] == [1, 2, 3]


# -- finding 7 (part): a payload that is not JSON --------------------------------------


def test_a_payload_that_is_not_json_fails_the_instance_naming_instance_seq_and_type(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'journal.db'}"
    workflow = two_steps()
    with open_journal(url) as journal:
        runtime = Runtime(workflow, journal=journal)
        runtime.create("bad", 1).advance()
        runtime.create("good", 1)
        runtime.forget("bad")
        runtime.forget("good")
        raw(url, "UPDATE events SET payload = '{not json' WHERE instance_id = 'bad' AND seq = 2")
        before = dump_events(url)
        with pytest.raises(UndecodablePayload) as raised:
            runtime.get("bad")
        assert (raised.value.instance_id, raised.value.seq) == ("bad", 2)
        assert str(raised.value).startswith(
            f"instance 'bad': event #2 of type {raised.value.event_type!r} has a payload "
            "that is not JSON ("
        )
        # A worker fails that instance with the reason, runs the others, changes no row.
        journal.update_instance(
            "bad", StatusUpdate(InstanceStatus.RUNNING, release_lease=True), NOW
        )
        Worker(journal, [workflow]).run_once()
        record = journal.get_instance("bad")
        assert record.status == "failed"
        assert "UndecodablePayload: instance 'bad': event #2" in (record.last_error or "")
        assert journal.get_instance("good").status == "waiting"
        assert dump_events(url) == before


def dump_events(url: str) -> list[tuple[object, ...]]:
    return raw(url, "SELECT instance_id, seq, type, version, payload, node FROM events "
               "WHERE instance_id = 'bad' ORDER BY seq")  # fmt: skip


# -- finding 7: instances no worker serves, and strict workers --------------------------


@DURABLE_JOURNALS
def test_an_instance_of_a_workflow_no_worker_serves_is_reported_once_and_listed(
    journal_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with open_journal(journal_url) as journal:
        journal.create_instance(
            InstanceRecord("ghostly", "ghost", 3, InstanceStatus.RUNNING, 0, NOW, NOW)
        )
        Runtime(two_steps(), journal=journal).create("served", 1)
        worker = Worker(journal, [two_steps()])
        with caplog.at_level(logging.WARNING, logger="wio.worker"):
            worker.register()  # what this worker serves, then a first look
            for _ in range(3):  # once per instance, not once per look
                assert worker.report_unserved() == ["ghostly"]
                worker.run_once()
        warned = [r.getMessage() for r in caplog.records if "no worker serves" in r.getMessage()]
        assert warned == [
            "instance 'ghostly' runs ghost v3, which no worker serves (this one serves two): "
            "it stays untouched until a worker serves that version or `wio migrate` moves it"
        ]
        assert journal.get_instance("served").status == "waiting"
        assert journal.get_instance("ghostly").status == "running"
    listed = wio("instances", "--journal", journal_url)
    row = next(line for line in listed.stdout.splitlines() if line.startswith("ghostly"))
    assert "no worker serves ghost v3" in row


@DURABLE_JOURNALS
def test_a_strict_worker_fails_an_instance_with_an_event_for_the_wrong_step(
    journal_url: str,
) -> None:
    workflow = two_steps()
    with open_journal(journal_url) as journal:
        for instance_id in ("strict", "lenient"):
            Runtime(workflow, journal=journal).create(instance_id, 1).advance()
            # An Ev where the workflow waits for the Poke signal: no node accepts it.
            journal.append(instance_id, 2, [workflow.codec.encode(Ev(5))], NOW)
            journal.update_instance(instance_id, StatusUpdate(InstanceStatus.RUNNING), NOW)
        journal.update_instance("lenient", StatusUpdate(InstanceStatus.FINISHED), NOW)
        Worker(journal, [workflow], strict=True).run_once()
        record = journal.get_instance("strict")
        assert record.status == "failed"
        assert "UnmatchedEventError: instance 'strict': event #3" in (record.last_error or "")
        assert [e.seq for e in journal.read("strict")] == [1, 2, 3]  # kept as they were
        # Without --strict the same event is logged and skipped: the instance waits on.
        journal.update_instance("lenient", StatusUpdate(InstanceStatus.RUNNING), NOW)
        Worker(journal, [workflow]).run_once()
        assert journal.get_instance("lenient").status == "waiting"


@DURABLE_JOURNALS
def test_the_listing_api_gives_the_reason_an_instance_is_not_advancing(journal_url: str) -> None:
    from litestar.testing import TestClient

    from wio.server.app import create_app

    with open_journal(journal_url) as journal:
        journal.create_instance(
            InstanceRecord("ghostly", "ghost", 3, InstanceStatus.RUNNING, 0, NOW, NOW)
        )
        with TestClient(app=create_app(journal, [two_steps()])) as http:
            page = http.get("/instances").json()
    assert [(i["id"], i["reason"]) for i in page["instances"]] == [
        ("ghostly", "no worker serves ghost v3")
    ]
