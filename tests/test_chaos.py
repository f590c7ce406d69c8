"""Chaos tests: real worker processes killed, raced and cut off from their database.

Run with ``python -m pytest -m chaos -s`` (`.ci/run` does): they are left out of
the default run, and each prints its figures as a ``chaos:`` line, which
docs/reliability.md quotes. Random choices are seeded (``$WIO_CHAOS_SEED``,
default 12), so a failure can be run again as it was.
"""

from __future__ import annotations

import itertools
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DURABLE_JOURNALS, ROOT
from tests.processes import (
    HARNESS,
    create_orders,
    effects,
    harness_env,
    wait_until,
)
from tests.throwaway_postgres import Cluster, throwaway_cluster
from wio.journal import Journal, JournalUnavailable, open_journal
from wio.loading import load_definition
from wio.runtime import Runtime

pytestmark = pytest.mark.chaos

SEED = int(os.environ.get("WIO_CHAOS_SEED", "12"))
RACING = "tests/harness/racing.py:workflow"


def figures(name: str, **values: Any) -> None:
    """Print a test's figures on one line (shown with -s)."""
    print(f"\nchaos: {name}: " + ", ".join(f"{k}={v}" for k, v in values.items()), flush=True)


def spawn_worker(url: str, env: dict[str, str], out: Path, *extra: str,
                 workflows: str = HARNESS) -> subprocess.Popen[bytes]:  # fmt: skip
    return subprocess.Popen(
        [sys.executable, "-m", "wio.cli", "worker", "--journal", url, "--workflows", workflows,
         "--lease-ttl", "1", "--poll-interval", "0.05", "--max-retry-delay", "0.5", *extra],
        cwd=ROOT, env=env, stdout=out.open("a"), stderr=subprocess.STDOUT,
    )  # fmt: skip


def final_states(journal: Journal, ids: list[str]) -> dict[str, Any]:
    """Each instance's status and events (seq, type, payload): what must not differ."""
    return {
        i: (
            str(journal.get_instance(i).status),
            [(e.seq, e.type, e.payload) for e in journal.read(i, times=False)],
        )
        for i in ids
    }


def count_finished(journal: Journal) -> int:
    """How many instances finished; -1 while the test's own connection is cut off too."""
    try:
        return journal.count_instances().get("finished", 0)  # type: ignore[call-overload,no-any-return]
    except JournalUnavailable:
        return -1


def finished_now(journal: Journal) -> int:
    """How many instances finished, once the test's connection answers."""
    return int(wait_until(lambda: count_finished(journal) + 1, "the journal to answer")) - 1


def stop_all(workers: list[subprocess.Popen[bytes]]) -> list[int | None]:
    """SIGTERM the workers still running; returns each one's status before that."""
    before = [w.poll() for w in workers]
    for worker in workers:
        if worker.poll() is None:
            worker.terminate()
    for worker in workers:
        worker.wait(timeout=60)
    return before


# -- SIGKILL at random moments ----------------------------------------------------------


@DURABLE_JOURNALS
def test_sigkill_at_random_moments_loses_and_duplicates_nothing(
    journal_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(SEED)
    ids = [f"K-{n:03}" for n in range(60)]
    env = harness_env(tmp_path / "effects.log", "email:slow", WIO_SLOW_SECONDS="0.2")

    # The reference: the same instances, run by one worker that nobody disturbs.
    reference_url = journal_url.replace("journal.db", "reference.db")
    if reference_url == journal_url:  # PostgreSQL: a schema of its own
        reference_url = journal_url.replace("schema=", "schema=ref_")
    create_orders(reference_url, ids, tmp_path / "reference.log", monkeypatch)
    subprocess.run(
        [sys.executable, "-m", "wio.cli", "worker", "--journal", reference_url,
         "--workflows", HARNESS, "--once"],
        cwd=ROOT, env=harness_env(tmp_path / "reference.log"), check=True, capture_output=True,
    )  # fmt: skip
    with open_journal(reference_url) as journal:
        expected = final_states(journal, ids)
    if "schema=ref_" in reference_url:
        from tests.conftest import drop_schema

        drop_schema(reference_url.partition("schema=")[2].partition("&")[0])

    create_orders(journal_url, ids, tmp_path / "effects.log", monkeypatch)
    outputs = iter(tmp_path / f"worker{n}.out" for n in range(1000))
    workers = {}
    for _ in range(3):
        out = next(outputs)
        workers[out] = spawn_worker(journal_url, env, out)
    kills = 0
    with open_journal(journal_url) as journal:
        while kills < 50:
            # A worker that has started (it claims from now on), at a random moment.
            working = sorted(o for o in workers if o.exists() and "started" in o.read_text())
            if not working:
                time.sleep(0.05)
                continue
            victim = rng.choice(working)
            time.sleep(rng.uniform(0.0, 0.5))
            workers[victim].send_signal(signal.SIGKILL)
            workers[victim].wait()
            kills += 1
            del workers[victim]
            out = next(outputs)
            workers[out] = spawn_worker(journal_url, env, out)
        finished_under_fire = count_finished(journal)
        wait_until(lambda: count_finished(journal) == len(ids), "every instance to finish", 180)
        stop_all(list(workers.values()))
        actual = final_states(journal, ids)
    lost = sum(len(set(map(str, expected[i][1])) - set(map(str, actual[i][1]))) for i in ids)
    duplicated = sum(len(actual[i][1]) - len({e[1] for e in actual[i][1]}) for i in ids)
    stuck = sum(1 for i in ids if actual[i][0] != "finished")
    ran = Counter(effect for _, effect in effects(tmp_path / "effects.log"))
    figures(
        f"sigkill[{journal_url.partition(':')[0]}]",
        kills=kills, instances=len(ids), finished_while_killing=finished_under_fire,
        lost=lost, duplicated=duplicated, stuck=stuck,
        different=sum(1 for i in ids if actual[i] != expected[i]),
        steps_run_again=sum(n - 1 for n in ran.values()),
    )  # fmt: skip
    assert (lost, duplicated, stuck) == (0, 0, 0)
    assert actual == expected


# -- racing workers and retries ----------------------------------------------------------


@pytest.mark.postgres
def test_four_racing_workers_run_each_step_as_often_as_its_policy_allows(
    postgres_journal_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "racing.log"
    monkeypatch.setenv("WIO_EFFECTS_LOG", str(log))
    definition = load_definition(str(ROOT / RACING))
    job = definition.input_type
    rng = random.Random(SEED)
    failures = {f"J-{n:03}": rng.randrange(6) for n in range(200)}  # 4 and 5 give up
    with open_journal(postgres_journal_url) as journal:
        runtime = Runtime(definition, journal=journal)
        for job_id, count in failures.items():
            runtime.create(job_id, job(job_id, count))
        out = tmp_path / "workers.out"
        env = {**os.environ, "WIO_EFFECTS_LOG": str(log)}
        workers = [
            spawn_worker(postgres_journal_url, env, out, "--lease-ttl", "5", workflows=RACING)
            for _ in range(4)
        ]
        try:
            wait_until(
                lambda: (
                    sum(journal.count_instances().get(s, 0) for s in ("finished", "failed"))  # type: ignore[call-overload]
                    == len(failures)
                ),
                "every job to finish or fail",
                240,
            )
        finally:
            exited = stop_all(workers)
        statuses = {i: str(journal.get_instance(i).status) for i in failures}

    runs: dict[tuple[str, str], list[tuple[float, float, int]]] = defaultdict(list)
    begun: dict[tuple[str, str, int], float] = {}
    for line in log.read_text().splitlines():
        what, pid, at, step, job_id = line.split()
        if what == "begin":
            begun[(step, job_id, int(pid))] = float(at)
        else:
            runs[(job_id, step)].append((begun.pop((step, job_id, int(pid))), float(at), int(pid)))
    allowed = 4
    wrong_counts = []
    for job_id, count in failures.items():
        flaky = min(count + 1, allowed)
        expected = {"prepare": 1, "flaky": flaky, "finish": 1 if count < allowed else 0}
        actual = {step: len(runs[(job_id, step)]) for step in expected}
        if actual != expected:
            wrong_counts.append((job_id, expected, actual))
    overlaps = 0
    for job_id in failures:
        spans = sorted(span for step in ("prepare", "flaky", "finish")
                       for span in runs[(job_id, step)])  # fmt: skip
        overlaps += sum(1 for a, b in itertools.pairwise(spans) if b[0] < a[1])
    workers_used = {pid for spans in runs.values() for _, _, pid in spans}
    figures(
        "racing", workers=4, instances=len(failures),
        step_runs=sum(len(v) for v in runs.values()), wrong_counts=len(wrong_counts),
        overlaps=overlaps, workers_that_ran_steps=len(workers_used),
        failed=sum(1 for s in statuses.values() if s == "failed"),
    )  # fmt: skip
    assert exited == [None] * 4
    assert overlaps == 0
    assert statuses == {
        i: "finished" if count < allowed else "failed" for i, count in failures.items()
    }
    assert wrong_counts == []


# -- PostgreSQL restarts and terminated connections ----------------------------------------


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with throwaway_cluster() as made:
        yield made


@pytest.mark.postgres
def test_restarts_and_terminated_connections_under_load(
    cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    application = f"wio_chaos_{uuid.uuid4().hex[:8]}"
    url = cluster.url(f"chaos_{uuid.uuid4().hex[:8]}", application_name=application)
    log = tmp_path / "effects.log"
    ids = [f"P-{n:03}" for n in range(150)]
    create_orders(url, ids, log, monkeypatch)
    env = harness_env(log, "email:slow", WIO_SLOW_SECONDS="0.3")  # the faults must land mid-run
    out = tmp_path / "workers.out"
    # One instance at a time, the pace the faults below are timed against: eight at
    # once finish the run before the first fault lands.
    workers = [spawn_worker(url, env, out, "--concurrency", "1") for _ in range(3)]
    faults = []
    with open_journal(cluster.url(url.partition("schema=")[2].partition("&")[0])) as journal:
        try:
            for fault in ("restart", "terminate", "restart", "terminate"):
                done = finished_now(journal)
                wait_until(lambda: count_finished(journal) >= done + 10, "progress", 120)  # noqa: B023
                if fault == "restart":
                    cluster.restart()
                else:
                    assert cluster.terminate(application) > 0
                faults.append(fault)
            wait_until(lambda: count_finished(journal) == len(ids), "every instance to finish", 180)
            states = final_states(journal, ids)
        finally:
            exited = stop_all(workers)
    text = out.read_text()
    figures(
        "postgres faults", workers=3, instances=len(ids), restarts=faults.count("restart"),
        terminations=faults.count("terminate"), worker_exits=sum(e is not None for e in exited),
        outages_logged=text.count("journal unavailable"),
        recoveries_logged=text.count("journal available again"),
    )  # fmt: skip
    assert exited == [None, None, None]
    for order_id in ids:
        assert [t for _, t, _ in states[order_id][1]] == [
            "PaymentCharged", "EmailSent", "InventoryUpdated",
        ], order_id  # fmt: skip


@pytest.mark.postgres
def test_a_worker_survives_10_postgresql_restarts_in_a_row_during_a_500_instance_run(
    cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    schema = f"chaos_{uuid.uuid4().hex[:8]}"
    url = cluster.url(schema)
    log = tmp_path / "effects.log"
    ids = [f"M-{n:03}" for n in range(500)]
    create_orders(url, ids, log, monkeypatch)
    out = tmp_path / "worker.out"
    # One worker and no supervisor: nothing would start it again.
    # Slow enough that ten restarts land before the run ends (about 50 s of steps).
    worker = spawn_worker(  # at the pace the restarts are timed against (as above)
        url, harness_env(log, "email:slow", WIO_SLOW_SECONDS="0.1"), out, "--concurrency", "1"
    )
    restarts = 0
    with open_journal(url) as journal:
        try:
            while restarts < 10:
                done = finished_now(journal)
                wait_until(lambda: count_finished(journal) > done, "progress", 120)  # noqa: B023
                cluster.restart()
                restarts += 1
            finished_before_the_end = finished_now(journal)
            wait_until(lambda: count_finished(journal) == len(ids), "every instance to finish", 240)
            states = final_states(journal, ids)
        finally:
            (exited,) = stop_all([worker])
    text = out.read_text()
    figures(
        "ten restarts", instances=len(ids), restarts=restarts,
        finished_during_restarts=finished_before_the_end, worker_exited=exited is not None,
        outages_logged=text.count("journal unavailable"),
        recoveries_logged=text.count("journal available again"),
    )  # fmt: skip
    assert exited is None
    assert restarts == 10 and finished_before_the_end < len(ids)  # restarts hit the run
    assert all(len(events) == 3 and status == "finished" for status, events in states.values())
