"""The approval example, end to end on SQLite and PostgreSQL, with a restart
in the middle of the review wait."""

from __future__ import annotations

from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import DURABLE_JOURNALS, example
from wio import InstanceStatus, ManualClock, Runtime
from wio.worker import Worker

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def approval() -> ModuleType:
    module = example("approval")
    module.side_effects.clear()
    return module


@DURABLE_JOURNALS
def test_an_approval_survives_a_restart_during_the_review_wait(
    approval: ModuleType, open_fresh: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = ManualClock(T0)
    definition = approval.workflow

    def process() -> Runtime[Any, Any, Any]:
        """A new process: a fresh connection to the journal and nothing in memory."""
        return Runtime(definition, journal=open_fresh(), clock=clock)

    def work() -> int:
        return Worker(open_fresh(), [definition], clock=clock).run_once()

    first = process()
    instance = first.create("doc-1", approval.Request("doc-1", "ada"))
    assert instance.advance() == InstanceStatus.WAITING
    assert instance.signal(approval.submit, {"title": "Handbook"}).status == "submitted"
    # The signal ran the instance on to its next wait: the review's three-day timer.
    assert work() == 0  # nothing left for a worker to run
    assert first.journal.get_instance("doc-1").status == "waiting"  # type: ignore[union-attr]

    # The process stops in the middle of the review wait; days pass.
    del first, instance
    clock.advance(3 * 86_400)
    assert work() == 1  # a fresh worker wakes the late review and escalates it
    waiting = process().get("doc-1")
    assert waiting.state.status == "submitted"  # revised, and back in review
    assert waiting.state.revision == 1
    assert approval.side_effects == [
        "filed doc-1", "escalated doc-1", "revision 1 of doc-1",
    ]  # fmt: skip

    # Changes requested, then approved, from yet other processes.
    changes = {"reviewer": "bob", "approve": False, "comments": "shorter"}
    assert process().get("doc-1").signal(approval.review, changes).status == "changes requested"
    assert work() == 0  # the signal ran the author's revision too
    # Publishing fails once; the retry comes 30 s later.
    uploads = iter([ConnectionError("storage down")])

    def flaky_upload(document: Any) -> Any:
        failure = next(uploads, None)
        if failure is not None:
            raise failure
        return approval.Published(f"https://docs.example.com/{document.document_id}")

    monkeypatch.setattr(approval, "upload", flaky_upload)
    final = process().get("doc-1")
    assert final.signal(approval.review, {"reviewer": "bob", "approve": True}).status == "approved"
    assert final.advance() == InstanceStatus.FINISHED
    assert final.result.status == "published"
    assert final.result.revision == 2

    journal = open_fresh()
    types = [e.type for e in journal.read("doc-1")]
    assert types == [
        "wio.SignalHandled",  # submitted
        "wio.TimerStarted", "wio.TimerReleased", "Escalated",  # a late review
        "Revised",
        "wio.TimerStarted", "wio.SignalHandled",  # changes requested in time
        "Revised",
        "wio.TimerStarted", "wio.SignalHandled",  # approved in time
        "Approved",  # the checkpoint
        "Published",
    ]  # fmt: skip
    assert len(set(e.seq for e in journal.read("doc-1"))) == len(types)


def test_the_upload_retry_policy_is_declared_on_the_step(approval: ModuleType) -> None:
    from wio.algebra import Run
    from wio.paths import walk_static as walk

    (publish,) = [
        n for n in walk(approval.workflow.wio) if isinstance(n, Run) and n.meta.name == "Publish"
    ]
    assert (publish.retry.max_attempts, publish.retry.initial_delay) == (5, 30)
