"""Workers that survive the database: restarts, terminated connections, a write
lock held too long, a frozen or GIL-bound worker; `/health` that always answers.

Real workers (`wio worker` processes), real PostgreSQL (a throw-away cluster
for restarts and stops, the shared server for terminated backends: only this
test's, by application name), real SQLite files."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from attrs import frozen

from tests.conftest import (
    ALL_JOURNALS,
    DURABLE_JOURNALS,
    ROOT,
    drop_schema,
    postgres_available,
    postgres_url,
)
from tests.processes import (
    HARNESS,
    create_orders,
    effects,
    harness_env,
    wait_until,
)
from tests.throwaway_postgres import Cluster, throwaway_cluster
from wio import WIO, Workflow
from wio.fencing import StepLease, current_lease, current_lease_epoch
from wio.journal import (
    InstanceRecord,
    InstanceStatus,
    Journal,
    Lease,
    LeaseLost,
    NewEvent,
    open_journal,
)
from wio.runtime import Runtime

OUTAGE_BEGINS = "journal unavailable, retrying with backoff"
OUTAGE_ENDS = "journal available again"
ORDER_EVENTS = ["PaymentCharged", "EmailSent", "InventoryUpdated"]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with throwaway_cluster() as made:
        yield made


@pytest.fixture
def cluster_url(cluster: Cluster) -> str:
    return cluster.url(f"wio_{uuid.uuid4().hex[:10]}")


class WorkerProcess:
    """A `wio worker` whose output goes to a file the test reads as it runs."""

    def __init__(self, url: str, env: dict[str, str], log: Path, *extra: str) -> None:
        self.output = log.with_suffix(f".worker{uuid.uuid4().hex[:6]}.out")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "wio.cli", "worker", "--journal", url, "--workflows", HARNESS,
             "--lease-ttl", "2", "--poll-interval", "0.1", "--max-retry-delay", "0.5", *extra],
            cwd=ROOT, env=env, stdout=self.output.open("w"), stderr=subprocess.STDOUT,
        )  # fmt: skip

    def text(self) -> str:
        return self.output.read_text()

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> int:
        self.process.terminate()
        return self.process.wait(timeout=60)


def all_finished(journal: Journal, ids: list[str]) -> bool:
    return all(journal.get_instance(i).status == "finished" for i in ids)


def assert_each_recorded_once(journal: Journal, ids: list[str]) -> None:
    for order_id in ids:
        assert [e.type for e in journal.read(order_id)] == ORDER_EVENTS, order_id


# -- finding 1: a worker survives any journal error ---------------------------------


@pytest.mark.postgres
def test_a_worker_survives_a_postgresql_restart_and_logs_the_outage_once_each_way(
    cluster: Cluster, cluster_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "effects.log"
    ids = [f"R-{n:02}" for n in range(20)]
    create_orders(cluster_url, ids, log, monkeypatch)
    worker = WorkerProcess(cluster_url, harness_env(log, "email:slow", WIO_SLOW_SECONDS="0.1"), log)
    try:
        wait_until(lambda: len(effects(log)) >= 5, "the worker to be busy")
        cluster.restart()  # fast shutdown: every connection dies, then it comes back
        with open_journal(cluster_url) as journal:
            wait_until(lambda: all_finished(journal, ids), "every instance to finish", 120)
            assert_each_recorded_once(journal, ids)
        assert worker.alive()
    finally:
        assert worker.stop() == 0
    output = worker.text()
    assert output.count(OUTAGE_BEGINS) == 1, output
    assert output.count(OUTAGE_ENDS) == 1, output


@pytest.mark.postgres
def test_a_worker_survives_an_immediate_stop_of_postgresql(
    cluster: Cluster, cluster_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "effects.log"
    create_orders(cluster_url, ["S-1"], log, monkeypatch)
    worker = WorkerProcess(cluster_url, harness_env(log, "email:gate"), log)
    try:
        wait_until(Path(f"{log}.blocked").exists, "the email step to wait at its gate")
        cluster.stop("immediate")
        Path(f"{log}.go").touch()  # the step ends while the database is down
        wait_until(lambda: OUTAGE_BEGINS in worker.text(), "the worker to see the outage")
        cluster.start()
        with open_journal(cluster_url) as journal:
            wait_until(lambda: all_finished(journal, ["S-1"]), "S-1 to finish", 120)
            assert_each_recorded_once(journal, ["S-1"])
        assert worker.alive()
    finally:
        assert worker.stop() == 0
    assert OUTAGE_ENDS in worker.text()


@pytest.mark.postgres
def test_a_worker_survives_the_termination_of_every_connection_listen_included(
    postgres_journal_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The shared server: only this test's backends are terminated, by application name.
    application = f"wio_test_{uuid.uuid4().hex[:10]}"
    url = f"{postgres_journal_url}&application_name={application}"
    log = tmp_path / "effects.log"
    create_orders(url, ["T-0"], log, monkeypatch)
    # Polling off: only a NOTIFY on a LISTEN connection that works wakes the worker.
    worker = WorkerProcess(url, harness_env(log), log, "--poll-interval", "3600")
    try:
        with open_journal(postgres_journal_url) as journal:
            wait_until(lambda: all_finished(journal, ["T-0"]), "T-0 to finish")
            for round_ in range(1, 4):
                assert terminate_backends(application) > 0
                order_id = f"T-{round_}"
                create_orders(postgres_journal_url, [order_id], log, monkeypatch)
                wait_until(lambda: all_finished(journal, [order_id]), f"{order_id} to finish")  # noqa: B023
            assert_each_recorded_once(journal, [f"T-{n}" for n in range(4)])
        assert worker.alive()
    finally:
        assert worker.stop() == 0


def terminate_backends(application: str) -> int:
    import psycopg

    from tests.conftest import POSTGRES_URL

    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            (application,),
        ).fetchall()
    return len(rows)


@pytest.mark.postgres
def test_wait_for_work_survives_a_dropped_listen_connection() -> None:
    postgres_available()
    schema = f"wio_test_{uuid.uuid4().hex[:10]}"
    application = f"wio_test_{uuid.uuid4().hex[:10]}"
    url = postgres_url(schema) + f"&application_name={application}"
    try:
        with open_journal(url) as journal, open_journal(postgres_url(schema)) as other:
            journal.wait_for_work(0)  # listening
            assert terminate_backends(application) > 0
            journal.wait_for_work(30)  # returns (it may have missed a notification)
            woken = threading.Event()

            def wait() -> None:
                journal.wait_for_work(3600)
                woken.set()

            waiter = threading.Thread(target=wait, daemon=True)
            waiter.start()
            wait_until(lambda: listening(application), "the worker to LISTEN again")
            other.wake()  # a NOTIFY on the channel
            waiter.join(60)
            assert woken.is_set()
    finally:
        drop_schema(schema)


def listening(application: str) -> bool:
    import psycopg

    from tests.conftest import POSTGRES_URL

    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s "
            "AND query LIKE 'LISTEN%%'",
            (application,),
        ).fetchone()
    return bool(row and row[0])


def test_a_worker_survives_a_sqlite_write_lock_held_past_its_busy_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "journal.db"
    url = f"sqlite:///{path}?busy_timeout=0.3"
    log = tmp_path / "effects.log"
    create_orders(url, ["L-1"], log, monkeypatch)
    worker = WorkerProcess(url, harness_env(log, "email:gate"), log)
    try:
        wait_until(Path(f"{log}.blocked").exists, "the email step to wait at its gate")
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # another process's long write transaction
        Path(f"{log}.go").touch()
        wait_until(lambda: OUTAGE_BEGINS in worker.text(), "the worker to give up waiting")
        blocker.execute("ROLLBACK")
        blocker.close()
        with open_journal(url) as journal:
            wait_until(lambda: all_finished(journal, ["L-1"]), "L-1 to finish")
            assert_each_recorded_once(journal, ["L-1"])
        assert worker.alive()
    finally:
        assert worker.stop() == 0
    assert worker.text().count(OUTAGE_ENDS) == 1


# -- finding 3: a shutdown timeout gives back the whole batch ------------------------


@DURABLE_JOURNALS
def test_after_a_shutdown_timeout_every_instance_of_the_batch_is_released(
    journal_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "effects.log"
    ids = ["B-1", "B-2", "B-3"]
    create_orders(journal_url, ids, log, monkeypatch)
    worker = WorkerProcess(
        journal_url, harness_env(log, "email:before"), log, "--shutdown-timeout", "0.5",
        "--lease-ttl", "3600",
    )  # fmt: skip
    wait_until(Path(f"{log}.blocked").exists, "the first email step to hang")
    assert worker.stop() == 0
    with open_journal(journal_url) as journal:
        assert {i: journal.get_instance(i).lease_owner for i in ids} == dict.fromkeys(ids)


# -- finding 8: /health answers at once, whatever the journal does -------------------


def health(port: int) -> int:
    """The status of GET /health, 0 if nothing listens yet; urlopen's timeout stands
    for a probe's (a short one: the pool's 10 s wait made probes fail before)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as failed:
        return failed.code
    except urllib.error.URLError as unreachable:
        if isinstance(unreachable.reason, ConnectionRefusedError):
            return 0
        raise


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.postgres
def test_health_answers_503_at_once_while_postgresql_is_down(
    cluster: Cluster, cluster_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "effects.log"
    create_orders(cluster_url, ["H-1"], log, monkeypatch)
    port = free_port()
    worker = WorkerProcess(cluster_url, harness_env(log), log, "--health-port", str(port))
    try:
        wait_until(lambda: health(port) == 200, "the worker to be healthy")
        cluster.stop("immediate")
        # Each probe answers within its timeout: no wait on the pool (10 s before).
        assert [health(port) for _ in range(3)] == [503, 503, 503]
        cluster.start()
        wait_until(lambda: health(port) == 200, "the worker to be healthy again")
        assert worker.alive()
    finally:
        assert worker.stop() == 0


def test_health_answers_while_another_process_holds_the_sqlite_write_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "journal.db"
    url = f"sqlite:///{path}"  # the default busy timeout, 30 s: the claim waits that long
    log = tmp_path / "effects.log"
    create_orders(url, ["H-1"], log, monkeypatch)
    port = free_port()
    worker = WorkerProcess(url, harness_env(log), log, "--health-port", str(port))
    try:
        wait_until(lambda: health(port) == 200, "the worker to be healthy")
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            # The worker's next claim waits on the lock; health must not wait behind it.
            assert [health(port) for _ in range(3)] == [200, 200, 200]
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
    finally:
        assert worker.stop() == 0


# -- finding 10: the heartbeat does not need the GIL; appends are fenced --------------


@DURABLE_JOURNALS
def test_a_step_holding_the_gil_longer_than_the_lease_keeps_its_instance(
    journal_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "effects.log"
    create_orders(journal_url, ["G-1"], log, monkeypatch)
    env = harness_env(log, "email:gil", WIO_SLOW_SECONDS="4")  # twice the 2 s lease
    first = WorkerProcess(journal_url, env, log)
    wait_until(Path(f"{log}.blocked").exists, "the email step to wait at its gate")
    second = WorkerProcess(journal_url, env, log)
    try:
        wait_until(lambda: "started" in second.text(), "the second worker to look for work")
        Path(f"{log}.go").touch()  # the first worker's step now holds the GIL for 4 s
        with open_journal(journal_url) as journal:
            wait_until(lambda: all_finished(journal, ["G-1"]), "G-1 to finish")
            assert_each_recorded_once(journal, ["G-1"])
    finally:
        assert first.stop() == 0 and second.stop() == 0
    emails = [pid for pid, effect in effects(log) if effect.startswith("email")]
    assert emails == [first.process.pid]  # the second worker never ran it as well


@DURABLE_JOURNALS
def test_a_frozen_workers_late_append_is_refused_by_the_lease_epoch(
    journal_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "effects.log"
    create_orders(journal_url, ["F-1"], log, monkeypatch)
    env = harness_env(log, "email:gate")
    frozen = WorkerProcess(journal_url, env, log)
    wait_until(Path(f"{log}.blocked").exists, "the email step to wait at its gate")
    os.kill(frozen.process.pid, signal.SIGSTOP)  # its lease runs out, as it would on a VM pause
    successor = WorkerProcess(journal_url, env, log)
    try:
        Path(f"{log}.go").touch()
        with open_journal(journal_url) as journal:
            wait_until(lambda: all_finished(journal, ["F-1"]), "F-1 to finish elsewhere")
            os.kill(frozen.process.pid, signal.SIGCONT)  # it sends its email, appends late
            wait_until(lambda: "was lost" in frozen.text(), "the frozen worker's append to fail")
            assert_each_recorded_once(journal, ["F-1"])
            assert journal.get_instance("F-1").lease_epoch >= 2
        assert frozen.alive()
    finally:
        os.kill(frozen.process.pid, signal.SIGCONT)
        assert frozen.stop() == 0 and successor.stop() == 0
    senders = [pid for pid, effect in effects(log) if effect.startswith("email")]
    assert sorted(senders) == sorted([frozen.process.pid, successor.process.pid])


def test_stop_reaps_helpers(tmp_path: Path) -> None:
    """The heartbeat child exits with its worker, however the worker ends."""
    path = tmp_path / "journal.db"
    open_journal(f"sqlite:///{path}").close()
    worker = WorkerProcess(f"sqlite:///{path}", harness_env(tmp_path / "e.log"), tmp_path / "e")
    children = wait_until(lambda: child_pids(worker.process.pid), "the heartbeat to start")
    worker.process.kill()
    worker.process.wait()
    for pid in children:
        wait_until(lambda: not os.path.exists(f"/proc/{pid}") or zombie(pid), f"{pid} to exit")  # noqa: B023


def child_pids(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
    except OSError:
        return True


# -- the lease epoch, on every journal ---------------------------------------------------


@ALL_JOURNALS
def test_the_lease_epoch_grows_when_the_lease_changes_hands_and_fences_appends(
    open_fresh: Callable[[], Journal],
) -> None:
    journal = open_fresh()
    now = datetime.now(UTC)
    ttl = timedelta(seconds=10)
    journal.create_instance(InstanceRecord("E-1", "w", 1, InstanceStatus.RUNNING, {}, now, now))
    assert journal.get_instance("E-1").lease_epoch == 0
    (claimed,) = journal.claim_runnable("a", now, ttl, 1)
    assert claimed.lease_epoch == 1
    # A renewal by the holder keeps the epoch; so does the heartbeat's.
    assert journal.acquire_lease("E-1", "a", now, ttl).lease_epoch == 1
    journal.renew_leases("a", now, ttl)
    event = NewEvent("Done", 1, {})
    assert journal.append("E-1", 0, [event], now, lease=Lease("a", 1)) == 1
    # The lease runs out and b takes it: a's appends are refused from now on.
    later = now + 2 * ttl
    assert journal.acquire_lease("E-1", "b", later, ttl).lease_epoch == 2
    with pytest.raises(LeaseLost) as refused:
        journal.append("E-1", 1, [event], later, lease=Lease("a", 1))
    assert (refused.value.holder, refused.value.held_epoch) == ("b", 2)
    assert "epoch 1" in str(refused.value) and "'E-1'" in str(refused.value)
    assert [e.seq for e in journal.read("E-1")] == [1]  # nothing written
    # Released and taken again by the same owner: a new epoch all the same.
    journal.release_lease("E-1", "b")
    assert journal.acquire_lease("E-1", "b", later, ttl).lease_epoch == 3
    with pytest.raises(LeaseLost):
        journal.append("E-1", 1, [event], later, lease=Lease("b", 2))
    assert journal.append("E-1", 1, [event], later, lease=Lease("b", 3)) == 2


@frozen
class Seen:
    epoch: int | None


seen: list[StepLease | None] = []


def look(_: int) -> Seen:
    seen.append(current_lease())
    return Seen(current_lease_epoch())


@ALL_JOURNALS
def test_a_step_reads_the_lease_it_runs_under(journal_url: str) -> None:
    seen.clear()
    workflow = Workflow(WIO.run(look, lambda n, _: n).named("Look"), name="look")
    with Runtime(workflow, journal=journal_url, owner="me") as runtime:
        assert runtime.create("S-1", 1).advance() == InstanceStatus.FINISHED
        assert runtime.journal is not None
        epoch = runtime.journal.get_instance("S-1").lease_epoch
        (event,) = runtime.journal.read("S-1")
    assert epoch >= 1
    assert seen == [StepLease("S-1", "me", epoch)] and event.payload == {"epoch": epoch}
    assert current_lease() is None  # outside a step
    Runtime(workflow).create("M-1", 1).advance()  # in memory: nothing to fence against
    assert seen[-1] is None
