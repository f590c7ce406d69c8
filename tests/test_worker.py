"""The worker as operators run it: `wio worker` processes on real journals."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import DURABLE_JOURNALS, ROOT
from tests.processes import (
    HARNESS,
    effect_counts,
    effects,
    harness_env,
    order_input,
    start_worker,
    stop,
    wait_until,
    wio,
)
from wio.journal import MemoryJournal, open_journal
from wio.loading import load_definition
from wio.runtime import Runtime
from wio.worker import Worker, serve_health


def start_order(url: str, log: Path, order_id: str) -> None:
    done = wio("start", HARNESS, "--journal", url, "--id", order_id,
               "--input", order_input(order_id), env=harness_env(log))  # fmt: skip
    assert done.returncode == 0, done.stderr


@DURABLE_JOURNALS
def test_sigterm_finishes_the_current_step_releases_the_lease_and_exits_0(
    journal_url: str, tmp_path: Path
) -> None:
    log = tmp_path / "effects.log"
    start_order(journal_url, log, "A-1")
    worker = start_worker(journal_url, harness_env(log, "email:slow", WIO_SLOW_SECONDS="1.5"))
    with open_journal(journal_url) as journal:
        wait_until(lambda: len(journal.read("A-1")) == 1, "the payment to be recorded")
        assert stop(worker) == 0  # sent while the email step is in flight
        assert [e.type for e in journal.read("A-1")] == ["PaymentCharged", "EmailSent"]
        record = journal.get_instance("A-1")
        assert (record.status, record.lease_owner) == ("running", None)
        assert effect_counts(log)["inventory A-1"] == 0  # nothing after the current step

        # Another worker takes over at once: the lease was released, not left to expire.
        successor = start_worker(journal_url, harness_env(log), "--lease-ttl", "3600")
        try:
            wait_until(lambda: journal.get_instance("A-1").status == "finished", "A-1 to finish")
        finally:
            assert stop(successor) == 0


@DURABLE_JOURNALS
def test_a_step_still_running_at_the_shutdown_timeout_is_abandoned(
    journal_url: str, tmp_path: Path
) -> None:
    log = tmp_path / "effects.log"
    start_order(journal_url, log, "A-1")
    worker = start_worker(
        journal_url, harness_env(log, "email:before"), "--shutdown-timeout", "0.5"
    )
    wait_until(Path(f"{log}.blocked").exists, "the email step to hang")
    assert stop(worker) == 0
    with open_journal(journal_url) as journal:
        assert journal.get_instance("A-1").lease_owner is None  # free for another worker
        assert [e.type for e in journal.read("A-1")] == ["PaymentCharged"]


@DURABLE_JOURNALS
def test_a_failing_step_is_retried_with_backoff_then_the_instance_fails(
    journal_url: str, tmp_path: Path
) -> None:
    log = tmp_path / "effects.log"
    start_order(journal_url, log, "A-1")
    worker = start_worker(journal_url, harness_env(log, "inventory:raise"))
    with open_journal(journal_url) as journal:
        try:
            wait_until(lambda: journal.get_instance("A-1").status == "failed", "A-1 to fail")
        finally:
            assert stop(worker) == 0
        record = journal.get_instance("A-1")
        assert record.attempts == 3  # the harness's policy: 3 attempts
        assert "step 'Update Inventory'" in (record.last_error or "")
        assert "ConnectionError: inventory service unavailable" in (record.last_error or "")
        assert [e.type for e in journal.read("A-1")] == ["PaymentCharged", "EmailSent"]
    assert effect_counts(log)["inventory A-1"] == 3

    listed = wio("instances", "--journal", journal_url, "--status", "failed",
                 env=harness_env(log))  # fmt: skip
    assert "A-1" in listed.stdout and "inventory service unavailable" in listed.stdout
    shown = wio("inspect", "A-1", "--journal", journal_url, "--workflows", HARNESS,
                env=harness_env(log))  # fmt: skip
    assert "attempts: 3" in shown.stdout and "status: failed" in shown.stdout


@pytest.mark.postgres
def test_on_postgres_notify_starts_new_instances_without_polling(
    postgres_journal_url: str, tmp_path: Path
) -> None:
    url = postgres_journal_url
    log = tmp_path / "effects.log"
    open_journal(url).close()  # migrate first, so the worker's LISTEN is in place early
    worker = start_worker(url, harness_env(log), "--poll-interval", "3600")
    try:
        with open_journal(url) as journal:
            start_order(url, log, "N-1")
            # With polling effectively off, only the NOTIFY can have woken the worker.
            wait_until(
                lambda: journal.get_instance("N-1").status == "finished",
                "the worker to be notified of N-1",
                timeout=20,
            )
    finally:
        assert stop(worker) == 0


@pytest.mark.postgres
def test_four_workers_share_200_instances_without_duplicates(
    postgres_journal_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = postgres_journal_url
    log = tmp_path / "effects.log"
    env = harness_env(log)
    monkeypatch.setenv("WIO_EFFECTS_LOG", str(log))  # the harness is loaded here too
    ids = [f"O-{n:03}" for n in range(200)]
    with open_journal(url) as journal:
        definition = load_definition(str(ROOT / HARNESS))
        runtime = Runtime(definition, journal=journal)
        order = definition.input_type
        for order_id in ids:
            runtime.create(order_id, order(**json.loads(order_input(order_id))))
        workers = [start_worker(url, env) for _ in range(4)]
        try:
            wait_until(
                lambda: len(journal.list_instances(status="finished")) == 200,  # type: ignore[arg-type]
                "all 200 instances to finish",
                timeout=180,
            )
        finally:
            codes = [stop(worker) for worker in workers]
        assert codes == [0, 0, 0, 0]
        stored = {i: journal.read(i) for i in ids}

    # Every instance: exactly its three events, each once, in order.
    for order_id in ids:
        assert [(e.seq, e.type) for e in stored[order_id]] == [
            (1, "PaymentCharged"), (2, "EmailSent"), (3, "InventoryUpdated"),
        ], order_id  # fmt: skip
    # Every side effect ran exactly once, and each instance was advanced by one worker.
    by_instance: dict[str, set[int]] = defaultdict(set)
    counts: dict[str, int] = defaultdict(int)
    for pid, effect in effects(log):
        order_id = effect.split()[1].split("@")[0].upper()
        by_instance[order_id].add(pid)
        counts[effect] += 1
    assert len(counts) == 600 and set(counts.values()) == {1}
    assert all(len(pids) == 1 for pids in by_instance.values())
    workers_used = {pid for pids in by_instance.values() for pid in pids}
    assert workers_used <= {w.pid for w in workers} and len(workers_used) >= 2


def test_health_reports_whether_the_journal_answers() -> None:
    class FlakyJournal(MemoryJournal):
        reachable = True

        def ping(self, timeout: float = 1.0) -> None:
            if not self.reachable:
                raise ConnectionError("database is down")

    journal = FlakyJournal()
    worker = Worker(journal, [load_definition(str(ROOT / "docs/examples/order.py:order_workflow"))])
    server = serve_health(worker, 0)
    port = server.server_address[1]
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health") as response:
            assert response.status == 200
            assert json.loads(response.read())["journal"] == "reachable"
        journal.reachable = False
        with pytest.raises(urllib.error.HTTPError) as failed:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health")
        assert failed.value.code == 503
        assert "database is down" in json.loads(failed.value.read())["journal"]
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/nothing")
        assert missing.value.code == 404
    finally:
        server.shutdown()


def test_run_once_processes_runnable_work_in_process(tmp_path: Path) -> None:
    journal = open_journal(f"sqlite:///{tmp_path / 'j.db'}")
    definition = load_definition(str(ROOT / "docs/examples/order.py:order_workflow"))
    order = definition.input_type
    runtime = Runtime(definition, journal=journal)
    runtime.create("A", order("A", "a@example.com", 10, ("pen",)))
    runtime.create("B", order("B", "b@example.com", 10**9, ("yacht",)))
    worker = Worker(journal, [definition])
    assert worker.run_once() == 2
    assert {r.id: str(r.status) for r in journal.list_instances()} == {
        "A": "finished",
        "B": "finished",
    }
    assert journal.get_instance("A").updated_at <= datetime.now(UTC)
    journal.close()
