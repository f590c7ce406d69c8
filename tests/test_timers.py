"""Durable timers: the release time is recorded once; workers wake instances when due."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import ALL_JOURNALS
from tests.nodes import Effects
from wio import WIO, DefinitionError, InstanceStatus, ManualClock, Runtime, Workflow
from wio.model import to_json
from wio.timers import TimerReleased, TimerStarted
from wio.worker import Worker

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def reminder(effects: Effects) -> WIO[int, Any, int]:
    return (
        effects.step("Ask", 1)
        >> WIO.await_for(timedelta(days=3), name="Three Days")
        >> effects.step("Remind", 10)
    )


def test_a_timer_records_its_release_time_and_waits_for_it() -> None:
    clock, effects = ManualClock(T0), Effects()
    instance = Runtime(reminder(effects), clock=clock).create("i", 0)
    assert (
        instance.advance() == InstanceStatus.RUNNING
    )  # an effect is due later, as a retry would be
    assert [e.event for e in instance.events][1:] == [TimerStarted(T0 + timedelta(days=3), "/1")]
    assert (
        "waiting for timer 'Three Days' at /1 until 2026-03-04T09:00:00+00:00"
        in instance.waiting_for()
    )
    clock.advance(3 * 86_400 - 1)
    instance.advance()
    assert effects.calls == ["Ask"]  # one second early: nothing happens
    clock.advance(1)
    assert instance.advance() == InstanceStatus.FINISHED
    assert instance.result == 11 and effects.calls == ["Ask", "Remind"]
    assert instance.events[2].event == TimerReleased(T0 + timedelta(days=3), "/1")
    assert [r.kind for r in instance.progress] == ["run", "timer", "run"]


def test_a_duration_may_be_computed_from_the_input() -> None:
    clock = ManualClock(T0)
    wait = WIO.await_for(lambda minutes: timedelta(minutes=minutes))
    instance = Runtime(wait, clock=clock).create("i", 45)
    instance.advance()
    assert instance.events[0].event == TimerStarted(T0 + timedelta(minutes=45), "/")
    clock.advance(45 * 60)
    assert instance.advance() == InstanceStatus.FINISHED and instance.result == 45


def test_replay_keeps_the_recorded_release_time() -> None:
    effects = Effects()
    live = Runtime(reminder(effects), clock=ManualClock(T0)).create("i", 0)
    live.advance()
    # A process starting a day later rebuilds the same release time from the journal.
    later = ManualClock(T0 + timedelta(days=1))
    replayed = Runtime(reminder(effects), clock=later, strict=True).rebuild(
        "i", 0, [e.event for e in live.events]
    )
    assert replayed.waiting_for() == live.waiting_for()
    later.advance(2 * 86_400)
    assert replayed.advance() == InstanceStatus.FINISHED


def test_bad_durations_are_clear_errors() -> None:
    with pytest.raises(DefinitionError, match="negative duration"):
        WIO.await_for(timedelta(seconds=-1))
    with pytest.raises(DefinitionError, match="expects a timedelta or a function"):
        WIO.await_for(5)  # type: ignore[arg-type]
    instance = Runtime(WIO.await_for(lambda _: 5)).create("i", 0)  # type: ignore[arg-type,return-value]
    instance.advance()
    assert instance.events == ()
    assert "must be a timedelta of zero or more, got 5" in str(instance.last_error.exception)  # type: ignore[union-attr]


def test_timers_in_the_model() -> None:
    assert to_json(WIO.await_for(timedelta(days=3, hours=2), name="Cool Off")) == (
        '{"meta": {"name": "Cool Off", "error": null}, "duration": "P3DT2H", "_type": "Timer"}'
    )
    assert '"duration": null' in to_json(WIO.await_for(lambda x: timedelta(x)))


@ALL_JOURNALS
def test_a_worker_wakes_a_timer_when_due_even_after_a_restart(open_fresh: Any) -> None:
    clock, effects = ManualClock(T0), Effects()
    definition = Workflow(reminder(effects), name="reminder", input_type=int)
    journal = open_fresh()
    Runtime(definition, journal=journal, clock=clock).create("i", 0)
    worker = Worker(journal, [definition], clock=clock)
    assert worker.run_once() == 1  # asks, starts the timer
    # The lease is given back, and the instance leaves the worker's memory.
    assert [runtime.instances() for runtime in worker.runtimes.values()] == [[]]
    record = journal.get_instance("i")
    assert (record.status, record.wakeup_at, record.lease_owner) == (
        "running",
        T0 + timedelta(days=3),
        None,
    )
    assert Worker(journal, [definition], clock=clock).run_once() == 0  # not due

    # Days later a new worker process (a fresh journal connection) takes over.
    clock.advance(3 * 86_400)
    restarted = open_fresh()
    assert Worker(restarted, [definition], clock=clock).run_once() == 1
    assert restarted.get_instance("i").status == "finished"
    assert [e.type for e in restarted.read("i")] == [
        "Ev",
        "wio.TimerStarted",
        "wio.TimerReleased",
        "Ev",
    ]
    assert effects.calls == ["Ask", "Remind"]
