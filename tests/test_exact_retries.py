"""Retry counts come from the journal's registry, never from a worker's memory: with
several workers taking turns on failing instances, each step still runs exactly
``RetryPolicy.max_attempts`` times (issue 12, finding 2)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import ALL_JOURNALS, DURABLE_JOURNALS, ROOT
from tests.nodes import Ev
from tests.processes import (
    HARNESS,
    effect_counts,
    harness_env,
    order_input,
    start_worker,
    stop,
    wait_until,
)
from wio import WIO, RetryPolicy, Workflow
from wio.clock import ManualClock
from wio.journal import (
    InstanceChanged,
    InstanceRecord,
    InstanceStatus,
    Journal,
    StatusUpdate,
    open_journal,
)
from wio.loading import load_definition
from wio.runtime import Runtime
from wio.worker import Worker

MAX_ATTEMPTS = 4
INSTANCES = 20


@DURABLE_JOURNALS
def test_racing_workers_run_each_failing_step_exactly_max_attempts_times(
    journal_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workers_count = 4 if journal_url.startswith("postgres") else 2
    log = tmp_path / "effects.log"
    env = harness_env(log, "inventory:raise", WIO_MAX_ATTEMPTS=str(MAX_ATTEMPTS))
    monkeypatch.setenv("WIO_EFFECTS_LOG", str(log))  # the harness is loaded here too
    monkeypatch.setenv("WIO_MAX_ATTEMPTS", str(MAX_ATTEMPTS))
    ids = [f"R-{n:02}" for n in range(INSTANCES)]
    with open_journal(journal_url) as journal:
        definition = load_definition(str(ROOT / HARNESS))
        runtime = Runtime(definition, journal=journal)
        for order_id in ids:
            runtime.create(order_id, definition.input_type(**json.loads(order_input(order_id))))
        # Short leases, so that the workers take turns on the same instances. (Leases
        # much shorter than a commit under load lapse in the middle of a step; a second
        # worker then runs that attempt again, at-least-once: see docs/worker.md.)
        workers = [start_worker(journal_url, env, "--lease-ttl", "1") for _ in range(workers_count)]
        try:
            wait_until(
                lambda: len(journal.list_instances(status="failed")) == INSTANCES,  # type: ignore[arg-type]
                f"all {INSTANCES} instances to fail",
                timeout=180,
            )
        finally:
            codes = [stop(worker) for worker in workers]
        assert codes == [0] * workers_count
        records = {i: journal.get_instance(i) for i in ids}

    counts = effect_counts(log)
    assert {i: counts[f"inventory {i}"] for i in ids} == dict.fromkeys(ids, MAX_ATTEMPTS)
    assert {i: r.attempts for i, r in records.items()} == dict.fromkeys(ids, MAX_ATTEMPTS)


@ALL_JOURNALS
def test_a_worker_whose_claim_went_stale_takes_the_retry_state_from_the_registry(
    open_fresh: Callable[[], Journal],
) -> None:
    clock = ManualClock()
    runs: list[datetime] = []

    def flaky(x: int) -> Ev:
        runs.append(clock.now())
        raise ConnectionError(f"gateway down ({len(runs)})")

    policy = RetryPolicy(max_attempts=MAX_ATTEMPTS, initial_delay=10, multiplier=1)
    workflow = Workflow(WIO.run(flaky, lambda x, e: e.value, retry=policy).named("Pay"), name="pay")
    journal = open_fresh()
    Runtime(workflow, journal=journal, clock=clock).create("i", 1)
    slow = Worker(journal, [workflow], owner="slow", lease_ttl=1, clock=clock)
    quick = Worker(journal, [workflow], owner="quick", lease_ttl=1, clock=clock)

    # The slow worker claims the instance, then stalls past its lease...
    (stale,) = journal.claim_runnable("slow", clock.now(), timedelta(seconds=1), 10)
    clock.advance(2)
    # ...while the quick one takes its turn: attempt 1 fails, attempt 2 is due in 10 s.
    (fresh,) = journal.claim_runnable("quick", clock.now(), timedelta(seconds=1), 10)
    quick.advance(fresh)
    assert (len(runs), journal.get_instance("i").attempts) == (1, 1)
    # The slow worker comes back with its stale record: the registry's count and retry
    # time hold, so it runs nothing yet and counts nothing.
    slow.advance(stale)
    assert (len(runs), journal.get_instance("i").attempts) == (1, 1)
    assert journal.get_instance("i").lease_owner is None

    while journal.get_instance("i").status != "failed":
        clock.advance(10)
        for worker in (slow, quick):
            for record in journal.claim_runnable(
                worker.owner, clock.now(), timedelta(seconds=1), 10
            ):
                worker.advance(record)
    assert len(runs) == MAX_ATTEMPTS
    assert journal.get_instance("i").attempts == MAX_ATTEMPTS
    assert [later - earlier for earlier, later in itertools.pairwise(runs)] == [
        timedelta(seconds=10)
    ] * (MAX_ATTEMPTS - 1)


@ALL_JOURNALS
def test_a_failure_update_from_a_stale_count_is_refused(open_fresh: Callable[[], Journal]) -> None:
    journal = open_fresh()
    now = datetime(2026, 1, 1, tzinfo=UTC)
    journal.create_instance(InstanceRecord("i", "flow", 1, InstanceStatus.RUNNING, 0, now, now))
    journal.update_instance(
        "i", StatusUpdate(InstanceStatus.RUNNING, attempts=2), now, expected_attempts=0
    )
    with pytest.raises(InstanceChanged, match=r"expected 1 failed attempt\(s\), found 2"):
        journal.update_instance(
            "i", StatusUpdate(InstanceStatus.RUNNING, attempts=2), now, expected_attempts=1
        )
    assert journal.get_instance("i").attempts == 2
