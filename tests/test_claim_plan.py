"""The worker's claim reads the instances in index order: its cost grows with
the batch it claims, not with the backlog of runnable instances."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from tests.conftest import POSTGRES_URL
from wio.journal import InstanceRecord, InstanceStatus, open_journal
from wio.journal.postgres import CLAIM_RUNNABLE, PostgresJournal, claim_parameters
from wio.journal.sqlite import CLAIM_RUNNABLE as SQLITE_CLAIM
from wio.journal.sqlite import SQLiteJournal

BACKLOG = 20_000
LIMIT = 10


def nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """Every node of an EXPLAIN (FORMAT JSON) plan, depth first."""
    return [plan, *(node for child in plan.get("Plans", []) for node in nodes(child))]


@pytest.mark.postgres
def test_the_claim_reads_in_index_order_and_sorts_only_its_batch(
    postgres_journal_url: str,
) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with open_journal(postgres_journal_url) as journal:
        assert isinstance(journal, PostgresJournal)
        journal.create_instance(
            InstanceRecord("first", "flow", 1, InstanceStatus.RUNNING, 0, now, now)
        )
        instances = sql.SQL("{}.instances").format(sql.Identifier(journal.schema))
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            # A backlog of running instances, and as many waiting ones, half of them due.
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} SELECT 'i' || n, workflow, workflow_version, "
                    "CASE WHEN mod(n, 2) = 0 THEN 'running' ELSE 'waiting' END, input, created_at, "
                    "updated_at + n * interval '1 ms', CASE WHEN mod(n, 2) = 0 THEN NULL "
                    "ELSE created_at + (mod(n, 4) - 2) * interval '1 day' END, NULL, NULL, NULL, 0 "
                    "FROM {} CROSS JOIN generate_series(1, %s) n WHERE id = 'first'"
                ).format(instances, instances),
                (2 * BACKLOG,),
            )
            conn.execute(sql.SQL("ANALYZE {}").format(instances))
            explain = b"EXPLAIN (ANALYZE, FORMAT JSON) " + journal._sql(CLAIM_RUNNABLE)
            with conn.transaction(force_rollback=True):
                parameters = claim_parameters("w", now, timedelta(seconds=30), LIMIT, [("flow", 1)])
                row = conn.execute(explain, parameters).fetchone()
        assert row is not None
        plan = nodes(row[0][0]["Plan"])
        scans = [
            node
            for node in plan
            if node.get("Relation Name") == "instances" and node["Node Type"].endswith("Scan")
        ]
        assert {node["Node Type"] for node in scans} <= {"Index Scan", "Index Only Scan"}, scans
        assert "instances_due" in {node.get("Index Name") for node in scans}
        for node in plan:
            if node["Node Type"] == "Sort":
                # Only the candidates are sorted: at most a batch from each status.
                rows = sum(child["Actual Rows"] for child in node["Plans"])
                assert rows <= 2 * LIMIT, node
        # Every scan of the table stopped after a batch, whatever the backlog.
        assert all(node["Actual Rows"] <= LIMIT for node in scans), scans
        claimed = journal.claim_runnable("w", now, timedelta(seconds=30), LIMIT, [("flow", 1)])
        assert {record.id for record in claimed} == {"first", *(f"i{n}" for n in range(2, 19, 2))}


def test_the_sqlite_claim_reads_each_status_in_index_order(tmp_path: Path) -> None:
    with open_journal(f"sqlite:///{tmp_path / 'journal.db'}") as journal:
        assert isinstance(journal, SQLiteJournal)
        parameters = {"owner": "w", "expires": 1.0, "now": 0.0, "accepted": "null", "limit": 1}
        plan = [
            row[3] for row in journal._db.execute("EXPLAIN QUERY PLAN " + SQLITE_CLAIM, parameters)
        ]
    scans = [step for step in plan if " instances " in f"{step} "]
    assert any("USING INDEX instances_runnable" in step for step in scans), plan
    assert any("USING INDEX instances_waiting_due" in step for step in scans), plan
    # The one sort is the final merge of the two batches, outside both index scans.
    assert [step for step in plan if "TEMP B-TREE" in step] == ["USE TEMP B-TREE FOR ORDER BY"]
    assert plan.index("USE TEMP B-TREE FOR ORDER BY") == len(plan) - 1, plan


def test_the_sqlite_claim_takes_due_instances_in_order(tmp_path: Path) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with open_journal(f"sqlite:///{tmp_path / 'journal.db'}") as journal:
        for n in range(30):
            status = InstanceStatus.RUNNING if n % 2 == 0 else InstanceStatus.WAITING
            # Waiting instances with odd n: due a day ago when n % 4 == 1, else tomorrow.
            wakeup = None if n % 2 == 0 else now + timedelta(days=n % 4 - 2)
            journal.create_instance(
                InstanceRecord(
                    f"i{n}", "flow", 1, status, 0, now, now + timedelta(seconds=n), wakeup
                )
            )
        ttl = timedelta(seconds=30)
        # Running instances without a wakeup come first, oldest first; then due wakeups.
        first = {r.id for r in journal.claim_runnable("w", now, ttl, 10, [("flow", 1)])}
        second = {r.id for r in journal.claim_runnable("w", now, ttl, 100, [("flow", 1)])}
        assert not journal.claim_runnable("w", now, ttl, 100, [("flow", 1)])
    assert first == {f"i{n}" for n in range(0, 20, 2)}
    assert second == {f"i{n}" for n in range(20, 30, 2)} | {f"i{n}" for n in range(1, 30, 4)}
