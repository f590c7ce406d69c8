"""Child instances (`WIO.run_child`): separate instances in the same journal, started
once, awaited durably, woken by their end, cancelled with their parent."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests import children_flows
from tests.children_flows import PayoutRejected, batch, payout
from tests.conftest import ALL_JOURNALS, DURABLE_JOURNALS
from tests.processes import ROOT, effect_counts, harness_env, stop, wait_until, wio
from wio import WIO, Workflow
from wio.compat import compare
from wio.errors import DefinitionError
from wio.inspection import inspect_instance
from wio.journal import InstanceRecord, InstanceStatus, Journal, open_journal
from wio.lint import lint
from wio.operations import cancel
from wio.renderers import Marks, render
from wio.runtime import AsyncRuntime, Runtime
from wio.worker import Worker


@pytest.fixture(autouse=True)
def fresh_side_effects() -> None:
    children_flows.side_effects.clear()


def work(journal: Journal, *workflows: Workflow, rounds: int = 20) -> None:
    """Run a worker serving ``workflows`` until nothing is left to do."""
    worker = Worker(journal, list(workflows), lease_ttl=5)
    for _ in range(rounds):
        if not worker.run_once():
            return


def children_of(journal: Journal, parent: str) -> list[tuple[str, str]]:
    return [(kid, str(journal.get_instance(kid).status)) for kid in journal.family(parent).children]


@ALL_JOURNALS
def test_a_parent_waits_for_its_children_and_combines_their_results(journal_url: str) -> None:
    with open_journal(journal_url) as journal:
        started = Runtime(batch, journal=journal).create("B-1", ["alice", "bob"])
        assert started.status == InstanceStatus.RUNNING
        work(journal, batch, payout)
        assert Runtime(batch, journal=journal).get("B-1").result == 500 + 300
        # Each child is its own instance, with its own id, input and history.
        assert children_of(journal, "B-1") == [
            ("B-1/payout-alice", "finished"),
            ("B-1/payout-bob", "finished"),
        ]
        alice = journal.get_instance("B-1/payout-alice")
        assert (alice.workflow, alice.input) == ("payout", "alice")
        assert [e.type for e in journal.read("B-1/payout-alice")] == ["Paid"]
        assert journal.family("B-1/payout-alice").parent == "B-1"
        parent_events = [e.payload["event"]["type"] for e in journal.read("B-1")]
        assert sorted(parent_events) == ["wio.ChildFinished"] * 2 + ["wio.ChildStarted"] * 2
    assert sorted(children_flows.side_effects) == ["pay alice", "pay bob"]


@DURABLE_JOURNALS
def test_the_childs_end_wakes_the_waiting_parent_in_the_same_transaction(
    journal_url: str,
) -> None:
    with open_journal(journal_url) as journal:
        Runtime(batch, journal=journal).create("B-1", ["alice"])
        work(journal, batch)  # a worker that serves the parent only: it starts the child
        assert journal.get_instance("B-1").status == InstanceStatus.WAITING
        work(journal, payout)  # another serves the child: its end makes the parent runnable
        assert journal.get_instance("B-1/payout-alice").status == InstanceStatus.FINISHED
        assert journal.get_instance("B-1").status == InstanceStatus.RUNNING
        work(journal, batch)
        assert journal.get_instance("B-1").status == InstanceStatus.FINISHED


def test_a_childs_business_error_fails_the_parent_with_it(tmp_path: Path) -> None:
    with open_journal(f"sqlite:///{tmp_path / 'j.db'}") as journal:
        Runtime(batch, journal=journal).create("B-1", ["alice", "mallory"])
        work(journal, batch, payout)
        parent = Runtime(batch, journal=journal).get("B-1")
        assert parent.status == InstanceStatus.FAILED
        assert parent.result == PayoutRejected("mallory is blocked")
        assert journal.get_instance("B-1/payout-mallory").status == InstanceStatus.FAILED


def test_a_child_created_before_a_crash_is_not_created_again(tmp_path: Path) -> None:
    """The crash between "child created" and "parent recorded it": the child's row and
    link exist, the parent's event does not. The parent takes the child it finds."""
    with open_journal(f"sqlite:///{tmp_path / 'j.db'}") as journal:
        Runtime(batch, journal=journal).create("B-1", ["alice"])
        now = datetime.now(UTC)
        left_behind = InstanceRecord(
            "B-1/payout-alice", "payout", 1, InstanceStatus.RUNNING, "alice", now, now
        )
        journal.create_instance(left_behind, parent="B-1")
        work(journal, batch, payout)
        assert journal.get_instance("B-1").status == InstanceStatus.FINISHED
        assert children_of(journal, "B-1") == [("B-1/payout-alice", "finished")]
        assert len(journal.list_instances()) == 2
    assert children_flows.side_effects == ["pay alice"]


def test_replay_never_starts_a_second_child(tmp_path: Path) -> None:
    with open_journal(f"sqlite:///{tmp_path / 'j.db'}") as journal:
        Runtime(batch, journal=journal).create("B-1", ["alice", "bob"])
        work(journal, batch, payout)
        for _ in range(2):  # fresh processes replaying the parent, and a worker pass
            assert Runtime(batch, journal=journal).get("B-1").result == 800
            work(journal, batch, payout)
        assert len(journal.list_instances()) == 3
    assert sorted(children_flows.side_effects) == ["pay alice", "pay bob"]


def test_an_id_taken_by_another_instance_is_refused_precisely(tmp_path: Path) -> None:
    with open_journal(f"sqlite:///{tmp_path / 'j.db'}") as journal:
        Runtime(payout, journal=journal).create("B-1/payout-alice", "alice")  # no parent
        Runtime(batch, journal=journal).create("B-1", ["alice"])
        work(journal, batch)
        record = journal.get_instance("B-1")
        assert record.last_error is not None
        assert "ChildIdTaken" in record.last_error and "'B-1/payout-alice'" in record.last_error
        assert journal.read("B-1") == []


def test_a_cancelled_child_fails_the_parents_wait_as_a_step(tmp_path: Path) -> None:
    with open_journal(f"sqlite:///{tmp_path / 'j.db'}") as journal:
        Runtime(batch, journal=journal).create("B-1", ["alice"])
        work(journal, batch)
        cancel(journal, "B-1/payout-alice", "operator")
        assert journal.get_instance("B-1").status == InstanceStatus.RUNNING  # woken
        work(journal, batch)
        record = journal.get_instance("B-1")
        assert record.last_error is not None and "ChildDidNotFinish" in record.last_error
        assert "was cancelled" in record.last_error


@DURABLE_JOURNALS
def test_cancelling_the_parent_cancels_its_children(journal_url: str) -> None:
    with open_journal(journal_url) as journal:
        Runtime(batch, journal=journal).create("B-1", ["alice", "bob"])
        work(journal, batch)  # the children exist; no worker runs them
        cancel(journal, "B-1", "the batch was withdrawn")
        assert journal.get_instance("B-1").status == InstanceStatus.CANCELLED
        assert children_of(journal, "B-1") == [
            ("B-1/payout-alice", "cancelled"),
            ("B-1/payout-bob", "cancelled"),
        ]
        work(journal, batch, payout)
        assert children_flows.side_effects == []  # nobody was paid


def test_inspect_shows_the_links_both_ways(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'j.db'}"
    with open_journal(url) as journal:
        Runtime(batch, journal=journal).create("B-1", ["alice"])
        work(journal, batch)
        parent = inspect_instance(journal, "B-1", [])
        child = inspect_instance(journal, "B-1/payout-alice", [])
    assert parent["instance"]["parent"] is None
    assert parent["children"] == [
        {"id": "B-1/payout-alice", "workflow": "payout", "status": "running"}
    ]
    assert child["instance"]["parent"] == "B-1"
    assert child["children"] == []
    shown = wio("inspect", "B-1", "--journal", url)
    assert shown.returncode == 0, shown.stderr
    assert "child: 'B-1/payout-alice' (payout, running)" in shown.stdout
    shown = wio("inspect", "B-1/payout-alice", "--journal", url)
    assert "parent: B-1" in shown.stdout


def test_in_memory_a_child_needs_a_journal() -> None:
    instance = Runtime(batch.wio).create("B-1", ["alice"])
    instance.advance()
    assert instance.last_error is not None
    assert isinstance(instance.last_error.exception, DefinitionError)
    assert "needs a journal" in str(instance.last_error.exception)


def test_run_child_refuses_a_bare_wio() -> None:
    with pytest.raises(DefinitionError, match=r"expects a wio\.Workflow"):
        WIO.run_child(payout.wio, id_of=str)


PAYOUTS = "tests/harness/crashable_payouts.py"


def start_worker(url: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable, "-m", "wio.cli", "worker", "--journal", url, "--workflows",
            f"{PAYOUTS}:batch", f"{PAYOUTS}:payout", "--lease-ttl", "2",
            "--poll-interval", "0.1",
        ],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


@DURABLE_JOURNALS
def test_a_worker_killed_while_children_run_is_resumed_by_a_fresh_one(
    journal_url: str, tmp_path: Path
) -> None:
    """A real worker runs the batch and its children; it is killed with SIGKILL once a
    recipient was paid but before the child recorded it. A fresh worker finishes: one
    child per recipient, each parent event once, the interrupted payment run again."""
    log = tmp_path / "effects.log"
    started = wio("start", f"{PAYOUTS}:batch", "--journal", journal_url, "--id", "B-1",
                  "--input", json.dumps(["alice", "bob"]), env=harness_env(log))  # fmt: skip
    assert started.returncode == 0, started.stderr

    doomed = start_worker(journal_url, harness_env(log, block="pay:after"))
    try:
        wait_until(Path(f"{log}.blocked").exists, "the worker to pay a recipient")
    finally:
        doomed.kill()  # SIGKILL: no cleanup, no lease release
        doomed.wait(timeout=30)

    with open_journal(journal_url) as journal:
        assert len(journal.family("B-1").children) == 2  # started before the kill
        fresh = start_worker(journal_url, harness_env(log))
        try:
            wait_until(
                lambda: journal.get_instance("B-1").status == "finished",
                "the fresh worker to finish B-1 once the dead one's leases expire",
            )
        finally:
            assert stop(fresh) == 0
        assert children_of(journal, "B-1") == [
            ("B-1/payout-alice", "finished"),
            ("B-1/payout-bob", "finished"),
        ]
        assert len(journal.list_instances()) == 3
        inner = [(e.payload["key"], e.payload["event"]["type"]) for e in journal.read("B-1")]
        assert sorted(inner) == [
            ("alice", "wio.ChildFinished"), ("alice", "wio.ChildStarted"),
            ("bob", "wio.ChildFinished"), ("bob", "wio.ChildStarted"),
        ]  # fmt: skip
        assert Runtime(batch, journal=journal).get("B-1").result == 800
    counts = effect_counts(log)
    # A payment the kill interrupted ran again (at-least-once); none ran three times.
    assert set(counts) == {"pay alice", "pay bob"}
    assert sum(counts.values()) in (3, 4) and max(counts.values()) == 2


def test_a_parent_shows_where_it_waits_for_its_child(tmp_path: Path) -> None:
    with open_journal(f"sqlite:///{tmp_path / 'j.db'}") as journal:
        Runtime(batch, journal=journal).create("B-1", ["alice"])
        work(journal, batch)
        waiting = Runtime(batch, journal=journal).get("B-1")
        assert waiting.waiting_at == ((0,),)
        assert "waiting for child instance 'B-1/payout-alice' ('payout') at /0" in (
            waiting.waiting_for()
        )
        text = str(render(batch.wio, "text", marks=Marks.of(waiting)))
        assert "RunChild" in text and "workflow=payout" in text


def test_a_handled_child_error_is_not_an_impossible_error() -> None:
    def fallback(_recipient: str) -> int:
        return 0

    guarded = WIO.run_child(payout, id_of=str).handle_error_with(
        WIO.pure_from(fallback), error=PayoutRejected
    )
    assert [p.code for p in lint(guarded)] == []


def test_compat_reports_a_changed_child_workflow() -> None:
    v2 = Workflow(payout.wio, name="payout", version=2, input_type=str)
    report = compare(
        WIO.run_child(payout, id_of=str, name="Pay"), WIO.run_child(v2, id_of=str, name="Pay")
    )
    assert [c.kind for c in report.changes] == ["child-workflow-changed"]


def test_the_asyncio_runtime_starts_and_collects_children(tmp_path: Path) -> None:
    async def scenario(journal: Journal) -> None:
        runtime = AsyncRuntime(batch, journal=journal)
        parent = await runtime.create("B-1", ["alice", "bob"])
        assert await parent.advance() == InstanceStatus.WAITING
        assert len(journal.family("B-1").children) == 2
        work(journal, payout)  # another process's worker runs the children
        woken = await AsyncRuntime(batch, journal=journal).get("B-1")
        assert await woken.advance() == InstanceStatus.FINISHED
        assert woken.result == 800

    with open_journal(f"sqlite:///{tmp_path / 'j.db'}") as journal:
        asyncio.run(scenario(journal))
