"""A worker advancing its claimed batch concurrently, its appends committed together
(group commit): `wio worker` processes on a real PostgreSQL database."""

from __future__ import annotations

import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from tests.conftest import POSTGRES_URL, ROOT
from tests.processes import (
    HARNESS,
    create_orders,
    harness_env,
    start_worker,
    stop,
    wait_until,
    wio,
)
from wio.journal import MemoryJournal, open_journal
from wio.journal.postgres import PostgresJournal
from wio.loading import load_definition
from wio.operations import cancel
from wio.worker import Worker

pytestmark = pytest.mark.postgres

ORDERS = [f"C-{n}" for n in range(8)]
THREE = ["PaymentCharged", "EmailSent", "InventoryUpdated"]
# Each batch waits (up to 3 s) until all eight appends are in it: which appends
# commit together is then known, whatever the machine's load.
TOGETHER = "&group_commit=8&group_linger_ms=3000"


def schema_of(url: str) -> str:
    return url.rpartition("schema=")[2].partition("&")[0]


def transactions(schema: str, event_type: str) -> dict[str, int]:
    """The transaction that wrote each instance's event of ``event_type``."""
    with psycopg.connect(POSTGRES_URL) as conn:
        rows = conn.execute(
            sql.SQL("SELECT instance_id, xmin::text::bigint FROM {} WHERE type = %s").format(
                sql.Identifier(schema, "events")
            ),
            (event_type,),
        ).fetchall()
    return dict(rows)


def types(url: str, instance_id: str) -> list[str]:
    with open_journal(url) as journal:
        events = journal.read(instance_id)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))  # in order, no gap
    return [e.type for e in events]


def all_paid(url: str) -> bool:
    with open_journal(url) as journal:
        return all(len(journal.read(order)) == 1 for order in ORDERS)


def test_a_conflict_and_a_lease_lost_in_a_batch_fail_only_their_instance(
    postgres_journal_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = postgres_journal_url + TOGETHER
    log = tmp_path / "effects.log"
    create_orders(url, ORDERS, log, monkeypatch)
    # A long lease: the worker does not take it again before each append, so that the
    # journal's fencing in the batch is what refuses.
    worker = start_worker(
        url, harness_env(log, "email:gate"), "--concurrency", "8", "--lease-ttl", "60"
    )
    try:
        # Every order paid, its email step waiting at the gate: its append is next.
        wait_until(lambda: all_paid(url), "the eight payments")
        with open_journal(url) as journal:
            # Another writer races the worker: an operator cancels C-3 ...
            cancel(journal, "C-3", "the customer called")
            # ... and another worker takes C-5's lease over (its lease ran out, say).
            with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
                conn.execute(
                    sql.SQL(
                        "UPDATE {} SET lease_expires_at = now() - interval '1 second' "
                        "WHERE id = 'C-5'"
                    ).format(sql.Identifier(schema_of(url), "instances"))
                )
            journal.acquire_lease("C-5", "thief", datetime.now(UTC), timedelta(seconds=1))
        Path(f"{log}.go").write_text("")
        with open_journal(url) as journal:
            wait_until(
                lambda: all(
                    journal.get_instance(o).status == "finished" for o in ORDERS if o != "C-3"
                ),
                "every order but C-3 to finish",
            )
            assert journal.get_instance("C-3").status == "cancelled"
    finally:
        assert stop(worker) == 0
    out = worker.stdout.read() if worker.stdout else ""
    # The six others' emails committed in one transaction, the refused two apart.
    emailed = transactions(schema_of(url), "EmailSent")
    others = {o for o in ORDERS if o not in ("C-3", "C-5")}
    assert len({emailed[o] for o in others}) == 1
    assert "C-3" not in emailed and emailed["C-5"] not in {emailed[o] for o in others}
    for order in ORDERS:
        assert types(url, order) == (
            ["PaymentCharged", "wio.Cancelled"] if order == "C-3" else THREE
        )
    # Each refusal named its instance alone.
    refusals = [
        line
        for line in out.splitlines()
        if "instance 'C-" in line and (" WARNING " in line or " ERROR " in line)
    ]
    assert refusals and all("'C-3'" in line or "'C-5'" in line for line in refusals), out
    assert any("'C-3'" in line and "(now free at epoch 1)" in line for line in refusals), out
    assert any("'C-5'" in line and "(now held by 'thief'" in line for line in refusals), out


def test_a_worker_killed_in_the_middle_of_a_batch_loses_and_duplicates_nothing(
    postgres_journal_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = postgres_journal_url + TOGETHER
    schema = schema_of(url)
    log = tmp_path / "effects.log"
    create_orders(url, ORDERS, log, monkeypatch)
    worker = start_worker(url, harness_env(log, "email:gate"), "--concurrency", "8")
    instances = sql.Identifier(schema, "instances")
    try:
        wait_until(lambda: all_paid(url), "the eight payments")
        with (
            psycopg.connect(POSTGRES_URL) as holder,
            psycopg.connect(POSTGRES_URL, autocommit=True) as watcher,
        ):
            # The batch of the eight emails waits for this lock (its fencing check on C-3).
            holder.execute(
                sql.SQL("SELECT 1 FROM {} WHERE id = 'C-3' FOR UPDATE").format(instances)
            )
            Path(f"{log}.go").write_text("")
            backend = wait_until(
                lambda: watcher.execute(
                    "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND query LIKE %s AND query LIKE '%%INSERT INTO%%events%%'",
                    (f"%{schema}%",),
                ).fetchone(),
                "the batch to wait for the lock",
            )[0]
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=30)
            holder.rollback()  # the batch's backend goes on, and finds its client gone
            wait_until(
                lambda: (
                    not watcher.execute(
                        "SELECT 1 FROM pg_stat_activity WHERE pid = %s", (backend,)
                    ).fetchone()
                ),
                "the batch's backend to end",
            )
        emailed = transactions(schema, "EmailSent")
        assert set(emailed) in (set(), set(ORDERS))  # the batch whole, or nothing of it
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    # A worker taking over runs on from the journal: each event once, in order.
    successor = start_worker(url, harness_env(log), "--concurrency", "8")
    try:
        with open_journal(url) as journal:
            wait_until(
                lambda: all(journal.get_instance(o).status == "finished" for o in ORDERS),
                "the successor to finish every order",
            )
    finally:
        assert stop(successor) == 0
    for order in ORDERS:
        assert types(url, order) == THREE


def test_the_shutdown_timeout_releases_every_instance_of_the_batch(
    postgres_journal_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = postgres_journal_url
    log = tmp_path / "effects.log"
    create_orders(url, ORDERS, log, monkeypatch)
    worker = start_worker(
        url, harness_env(log, "email:before"), "--concurrency", "8", "--shutdown-timeout", "0.5"
    )
    wait_until(lambda: all_paid(url), "the eight payments")
    with open_journal(url) as journal:
        wait_until(Path(f"{log}.blocked").exists, "the email steps to hang")
        assert stop(worker) == 0
        out = worker.stdout.read() if worker.stdout else ""
        for order in ORDERS:  # all eight hang at once, and all are free for another worker
            assert journal.get_instance(order).lease_owner is None
            assert f"abandoning instance {order!r}" in out
            assert types(url, order) == ["PaymentCharged"]


def test_concurrency_sizes_the_pool_and_turns_group_commit_on_unless_the_url_says(
    postgres_journal_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WIO_EFFECTS_LOG", str(tmp_path / "effects.log"))
    workflows = [load_definition(str(ROOT / HARNESS))]
    for query, concurrency, grouped in (
        ("", 8, 8), ("", 1, None), ("&group_commit=0", 8, None), ("&group_commit=3", 8, 3),
        ("&pool_max=20", 8, 8),
    ):  # fmt: skip
        with open_journal(postgres_journal_url + query) as journal:
            assert isinstance(journal, PostgresJournal)
            before = journal._pool.max_size
            Worker(journal, workflows, concurrency=concurrency)
            committer = journal._committer
            assert (committer and committer.max_batch) == grouped
            assert journal._pool.max_size == max(before, concurrency + 2)  # never shrunk
    with open_journal(f"sqlite:///{tmp_path / 'journal.db'}") as journal:
        Worker(journal, workflows, concurrency=8)  # nothing to fit: one writer at a time


def test_a_bad_concurrency_is_refused_cleanly() -> None:
    done = wio("worker", "--journal", "memory://", "--workflows", HARNESS, "--concurrency", "0")
    assert done.returncode == 2
    assert "--concurrency: expected a whole number, 1 or more, got '0'" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_claim_takes_at_least_as_many_as_run_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WIO_EFFECTS_LOG", str(tmp_path / "effects.log"))
    workflows = [load_definition(str(ROOT / HARNESS))]
    assert Worker(MemoryJournal(), workflows, batch_size=2, concurrency=5).batch_size == 5
