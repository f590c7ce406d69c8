"""`Journal.prune` and `wio prune`: finished instances and their events go, in
batches; everything else stays as it was."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import psycopg
import pytest

from tests.conftest import ALL_JOURNALS, DURABLE_JOURNALS, POSTGRES_URL, ROOT
from wio.cli import main
from wio.journal import (
    ConcurrencyConflict,
    InstanceRecord,
    InstanceStatus,
    Journal,
    NewEvent,
    NotPrunable,
    UnknownInstance,
    open_journal,
)
from wio.journal.postgres import PostgresJournal

Open = Callable[[], Journal]
OLD = datetime(2026, 1, 1, tzinfo=UTC)
CUTOFF = datetime(2026, 2, 1, tzinfo=UTC)
NEW = datetime(2026, 3, 1, tzinfo=UTC)

# id -> (status, last update)
INSTANCES = {
    "done-1": (InstanceStatus.FINISHED, OLD),
    "done-2": (InstanceStatus.FINISHED, OLD),
    "done-3": (InstanceStatus.FINISHED, OLD),
    "failed-1": (InstanceStatus.FAILED, OLD),
    "failed-2": (InstanceStatus.FAILED, OLD),
    "done-recently": (InstanceStatus.FINISHED, NEW),
    "running": (InstanceStatus.RUNNING, OLD),
    "waiting": (InstanceStatus.WAITING, OLD),
}


def populate(journal: Journal) -> None:
    for instance_id, (status, updated) in INSTANCES.items():
        journal.create_instance(InstanceRecord(instance_id, "flow", 1, status, 0, OLD, updated))
        events = [NewEvent("Stepped", 1, {"n": n}) for n in range(3)]
        journal.append(instance_id, 0, events, updated)


def remaining(journal: Journal) -> set[str]:
    return {record.id for record in journal.list_instances()}


@ALL_JOURNALS
def test_prune_deletes_old_final_instances_and_their_events_in_batches(open_fresh: Open) -> None:
    journal = open_fresh()
    populate(journal)
    assert journal.prune(CUTOFF, dry_run=True, batch_size=2) == 5
    assert remaining(journal) == set(INSTANCES)
    assert journal.prune(CUTOFF, [InstanceStatus.FINISHED], batch_size=2) == 3
    assert remaining(journal) == set(INSTANCES) - {"done-1", "done-2", "done-3"}
    assert journal.prune(CUTOFF, batch_size=2) == 2
    assert remaining(journal) == {"done-recently", "running", "waiting"}
    assert journal.prune(CUTOFF, batch_size=2) == 0
    for kept in ("done-recently", "running", "waiting"):
        assert [e.payload["n"] for e in journal.read(kept)] == [0, 1, 2]
    for gone in ("done-1", "failed-2"):
        with pytest.raises(UnknownInstance):
            journal.read(gone)
        # Its id is free again, with no event left behind to replay.
        journal.create_instance(
            InstanceRecord(gone, "flow", 1, InstanceStatus.RUNNING, 0, NEW, NEW)
        )
        assert journal.read(gone) == []


@ALL_JOURNALS
def test_prune_refuses_instances_that_are_not_final(open_fresh: Open) -> None:
    journal = open_fresh()
    populate(journal)
    for status in (InstanceStatus.RUNNING, InstanceStatus.WAITING):
        with pytest.raises(NotPrunable, match=f"cannot prune {status} instances"):
            journal.prune(NEW, [InstanceStatus.FINISHED, status])
    assert remaining(journal) == set(INSTANCES)


@DURABLE_JOURNALS
def test_wio_prune(journal_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    with open_journal(journal_url) as journal:
        populate(journal)
    prune = ["prune", "--journal", journal_url, "--finished-before", "2026-02-01"]
    assert main([*prune, "--dry-run"]) == 0
    assert "would delete 5 instances last updated before 2026-02-01T00:00:00+00:00" in (
        capsys.readouterr().out
    )
    assert main([*prune, "--status", "failed", "--batch-size", "1"]) == 0
    assert "deleted 2 instances" in capsys.readouterr().out
    assert main(prune) == 0
    assert "deleted 3 instances" in capsys.readouterr().out
    with open_journal(journal_url) as journal:
        assert remaining(journal) == {"done-recently", "running", "waiting"}
    with pytest.raises(SystemExit) as exited:
        main(["prune", "--journal", journal_url, "--finished-before", "last week"])
    assert exited.value.code == 2
    assert "'last week' is not an ISO 8601 date or time" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*prune, "--status", "running"])
    assert "invalid choice: 'running'" in capsys.readouterr().err
    with open_journal(journal_url) as journal:
        assert remaining(journal) == {"done-recently", "running", "waiting"}


def partitioning_recipe() -> str:
    """The SQL that docs/performance.md gives for partitioning the events table."""
    text = (ROOT / "benchmarks" / "findings.md").read_text()
    return text.split("```sql\n", 1)[1].split("```", 1)[0]


@pytest.mark.postgres
def test_the_partitioning_recipe_keeps_the_journal_working(postgres_journal_url: str) -> None:
    with open_journal(postgres_journal_url) as journal:
        assert isinstance(journal, PostgresJournal)
        populate(journal)
        schema = journal.schema
    recipe = partitioning_recipe().replace("wio.", f"{schema}.")
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(recipe)  # its own BEGIN and COMMIT
        partitions = conn.execute(
            "SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhparent "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = 'events'",
            (schema,),
        ).fetchone()
        assert partitions == (4,)
    with open_journal(postgres_journal_url) as journal:
        assert [e.payload["n"] for e in journal.read("running")] == [0, 1, 2]
        assert journal.append("running", 3, [NewEvent("Stepped", 1, {"n": 3})], NEW) == 4
        with pytest.raises(ConcurrencyConflict):
            journal.append("running", 3, [NewEvent("Stepped", 1, {"n": 9})], NEW)
        with pytest.raises(UnknownInstance):
            journal.append("ghost", 0, [NewEvent("Stepped", 1, {"n": 0})], NEW)
        assert journal.prune(CUTOFF) == 5
        assert remaining(journal) == {"done-recently", "running", "waiting"}
