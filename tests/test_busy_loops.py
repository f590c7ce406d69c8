"""An instance that waits for something only an operator or a signal can give is
registered as waiting, with no wake-up time, so no worker reloads it in a loop.

Replays are counted (reads of the instance's events), never timed: a worker
that spins would read the journal again and again. The counting journal stops
a spinning worker after a few reads, so a regression fails instead of hanging.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from attrs import evolve

from tests.conftest import DURABLE_JOURNALS, ROOT, example
from tests.processes import wio
from wio import Runtime, Workflow
from wio.journal import InstanceStatus, Journal, StatusUpdate, open_journal
from wio.loading import load_module
from wio.worker import Worker

SPIN_LIMIT = 20


class Spinning(Exception):
    pass


class CountingJournal:
    """A real journal that counts reads of each instance's events."""

    def __init__(self, journal: Journal) -> None:
        self._journal = journal
        self.reads: Counter[str] = Counter()

    def read(self, instance_id: str, after_seq: int = 0, *, times: bool = True) -> Any:
        self.reads[instance_id] += 1
        if self.reads[instance_id] > SPIN_LIMIT:
            raise Spinning(f"instance {instance_id!r} was replayed {SPIN_LIMIT} times")
        return self._journal.read(instance_id, after_seq, times=times)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._journal, name)


def v1_inside_the_section(url: str, instance_id: str) -> None:
    """A v1 shipment that reserved stock but has not reached its payment checkpoint."""
    v1, shipment = example("evolution_v1"), example("shipment")
    with Runtime(v1.shipping, journal=url) as runtime:
        instance = runtime.create(instance_id, shipment.Shipment(instance_id, 100))
        instance.advance(until=lambda: len(instance.events) >= 1)
    assert [e.event for e in instance.events] == [shipment.StockReserved(instance_id)]


def v2_as_version_1() -> Workflow[Any, Any, Any]:
    """v2's code deployed under v1's name and version: the v1 instance resumes on it."""
    v2 = example("evolution_v2").shipping
    return evolve(v2, version=1)  # everything of v2's but the version


@DURABLE_JOURNALS
def test_an_instance_waiting_at_a_recover_node_is_replayed_once_then_left_waiting(
    journal_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    v1_inside_the_section(journal_url, "S-1")
    caplog.set_level(logging.WARNING)
    journal = CountingJournal(open_journal(journal_url))
    try:
        worker = Worker(journal, [v2_as_version_1()])  # type: ignore[arg-type]
        assert worker.run_once() == 1  # returns: it did not spin
        assert journal.reads["S-1"] == 1
        record = journal.get_instance("S-1")
        assert (record.status, record.wakeup_at, record.lease_owner) == (
            InstanceStatus.WAITING,
            None,
            None,
        )
        # Later passes leave it alone: nothing to claim, nothing replayed.
        assert worker.run_once() == 0
        assert journal.reads["S-1"] == 1
        assert journal.get_instance("S-1").last_seq == 1  # nothing was written
        # v2 retired StockReserved: it is held for the recovery event, not reported.
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    finally:
        journal.close()


def review_waiting(url: str, instance_id: str) -> Workflow[Any, Any, Any]:
    review = load_module(str(ROOT / "tests/harness/review.py"))
    with Runtime(review.workflow, journal=url) as runtime:
        assert str(runtime.create(instance_id, review.Document("spec")).advance()) == "waiting"
    return review.workflow  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "registered",
    [
        StatusUpdate(InstanceStatus.RUNNING),
        StatusUpdate(InstanceStatus.WAITING, wakeup_at=datetime(2020, 1, 1, tzinfo=UTC)),
        StatusUpdate(InstanceStatus.RUNNING, wakeup_at=datetime.now(UTC) - timedelta(hours=1)),
    ],
    ids=["running", "waiting-with-past-wakeup", "running-with-past-wakeup"],
)
@DURABLE_JOURNALS
def test_a_registry_row_that_says_due_is_corrected_after_one_replay(
    journal_url: str, registered: StatusUpdate
) -> None:
    # The class of the bug: whatever wrote the row (older code, another version,
    # a crash), a worker that finds nothing due corrects it instead of reloading.
    workflow = review_waiting(journal_url, "R-1")
    journal = CountingJournal(open_journal(journal_url))
    try:
        journal.update_instance("R-1", registered, datetime.now(UTC))
        worker = Worker(journal, [workflow])  # type: ignore[arg-type]
        assert worker.run_once() == 1
        assert worker.run_once() == 0
        assert journal.reads["R-1"] == 1
        record = journal.get_instance("R-1")
        assert (record.status, record.wakeup_at) == (InstanceStatus.WAITING, None)
    finally:
        journal.close()


@DURABLE_JOURNALS
def test_wio_worker_once_exits_with_an_instance_waiting_at_a_recover_node(
    journal_url: str,
) -> None:
    v1_inside_the_section(journal_url, "S-2")
    # v2's code under version 1, in a real `wio worker --once` process.
    target = "tests/harness/shipping_v2_as_v1.py:shipping"
    done = subprocess.run(
        [sys.executable, "-m", "wio.cli", "worker", "--journal", journal_url, "--workflows",
         target, "--once"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ran 1 instance(s)"
    listed = wio("instances", "--journal", journal_url)
    assert "waiting" in listed.stdout.splitlines()[1], listed.stdout
