"""Interruptions: a signal or a timeout cuts a section short; its handler runs instead."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema
import pytest

from tests.conftest import ALL_JOURNALS, ROOT
from tests.harness import review as example
from wio import InstanceStatus, ManualClock, Runtime, UnexpectedSignal
from wio.model import from_json, to_model, unstructure
from wio.timers import TimerReleased, TimerStarted
from wio.worker import Worker

T0 = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
Document, Verdict = example.Document, example.Verdict


@pytest.fixture(autouse=True)
def clean() -> None:
    example.notifications.clear()


def started(clock: ManualClock, runtime: Any = None) -> Any:
    runtime = runtime or Runtime(example.guarded, clock=clock)
    instance = runtime.create("d", Document("Spec"))
    assert instance.advance() == InstanceStatus.WAITING
    return instance


def test_the_timeout_starts_with_the_section_and_both_signals_are_expected() -> None:
    instance = started(ManualClock(T0))
    assert instance.events[0].event == TimerStarted(T0 + timedelta(days=3), "/1")
    assert instance.expected_signals() == (example.review, example.withdraw)


def test_a_signal_interrupts_the_rest_of_its_section() -> None:
    instance = started(ManualClock(T0))
    response = instance.signal(example.withdraw, example.Withdrawal("duplicate"))
    assert response == example.Acknowledgement("Spec", accepted=False)
    assert instance.status == InstanceStatus.FINISHED
    assert instance.result.status == "withdrawn: duplicate"
    with pytest.raises(UnexpectedSignal):
        instance.signal(example.review, Verdict("ada", True))
    assert [r.kind for r in instance.progress][-1] == "signal"


def test_the_timeout_interrupts_and_its_handler_runs_instead() -> None:
    clock = ManualClock(T0)
    instance = started(clock)
    clock.advance(3 * 86_400)
    assert instance.advance() == InstanceStatus.FINISHED
    assert instance.result.status == "escalated to the editor"
    assert instance.events[1].event == TimerReleased(T0 + timedelta(days=3), "/1")
    assert example.notifications == ["escalated Spec"]
    with pytest.raises(UnexpectedSignal):
        instance.signal(example.review, Verdict("ada", True))


def test_finishing_in_time_disarms_the_timeout() -> None:
    clock = ManualClock(T0)
    instance = started(clock)
    instance.signal(example.review, Verdict("ada", True))
    assert instance.status == InstanceStatus.FINISHED and instance.result.status == "approved"
    clock.advance(10 * 86_400)
    instance.advance()
    assert [type(e.event).__name__ for e in instance.events] == ["TimerStarted", "SignalHandled"]


def test_replay_takes_the_same_way_out() -> None:
    clock = ManualClock(T0)
    live = started(clock)
    clock.advance(3 * 86_400)
    live.advance()
    example.notifications.clear()
    replayed = Runtime(example.guarded, clock=clock, strict=True).rebuild(
        "d", Document("Spec"), [e.event for e in live.events]
    )
    assert replayed.state == live.state and replayed.progress == live.progress
    assert example.notifications == []


@ALL_JOURNALS
def test_a_worker_wakes_a_timed_out_wait_after_a_restart(open_fresh: Any) -> None:
    clock = ManualClock(T0)
    journal = open_fresh()
    started(clock, Runtime(example.guarded, journal=journal, clock=clock))
    record = journal.get_instance("d")
    assert (record.status, record.wakeup_at) == ("waiting", T0 + timedelta(days=3))
    assert Worker(journal, [example.guarded], clock=clock).run_once() == 0  # not due
    clock.advance(3 * 86_400)
    restarted = open_fresh()
    assert Worker(restarted, [example.guarded], clock=clock).run_once() == 1
    assert restarted.get_instance("d").status == "finished"
    assert [e.type for e in restarted.read("d")] == [
        "wio.TimerStarted", "wio.TimerReleased", "Escalated",
    ]  # fmt: skip


def test_interruptions_in_the_model() -> None:
    model = to_model(example.guarded.wio)
    data = unstructure(model)
    jsonschema.validate(data, json.loads((ROOT / "docs" / "model.schema.json").read_text()))
    assert from_json(json.dumps(data)) == model
    assert data["_type"] == "Interruptible"
    assert data["trigger"] == {
        "meta": {"name": "Three Days", "error": None},
        "duration": "P3D",
        "_type": "Timer",
    }
    assert data["base"]["steps"][1]["trigger"]["signal"] == "Withdraw"
