"""Compensation: when a business error leaves a compensating section, the undos of
the steps that completed inside it run, newest first, each journaled as a step;
then the error goes on unwinding."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

from tests.conftest import DURABLE_JOURNALS, example
from tests.nodes import Boom, Effects, Ev
from wio import WIO, DefinitionError, Err, InstanceStatus, Runtime
from wio.lint import lint
from wio.paths import format_path
from wio.renderers import render


@pytest.fixture
def booking() -> ModuleType:
    module = example("booking")
    module.side_effects.clear()
    module.bookings.clear()
    module.cities_without_cars.clear()
    return module


def test_a_failed_car_cancels_the_hotel_then_the_flight(booking: ModuleType) -> None:
    booking.cities_without_cars.add("Rome")
    instance = Runtime(booking.workflow).create("t", booking.Trip("t", "Rome"))
    assert instance.advance() == InstanceStatus.FINISHED
    assert instance.result == "failed: no car in Rome"  # the error went on to the handler
    assert booking.side_effects == [
        "book flight t", "book hotel t", "book car t", "cancel hotel-t", "cancel flight-t",
    ]  # fmt: skip
    assert booking.bookings == set()
    # Each undo is a step of its own in the journal.
    assert [type(e.event).__name__ for e in instance.events] == [
        "Booked", "Booked", "CarAnswer", "Cancelled", "Cancelled",
    ]  # fmt: skip
    undone = [r for r in instance.progress if r.kind == "run" and r.name and "Cancel" in r.name]
    assert [(r.name, format_path(r.path)) for r in undone] == [
        ("Cancel Hotel", "/0/0/1/1"), ("Cancel Flight", "/0/0/0/1"),
    ]  # fmt: skip


def test_a_booked_trip_undoes_nothing(booking: ModuleType) -> None:
    instance = Runtime(booking.workflow).create("t", booking.Trip("t", "Oslo"))
    instance.advance()
    assert instance.result == "booked t"
    assert booking.bookings == {"flight-t", "hotel-t", "car-t"}
    assert not any(e.startswith("cancel") for e in booking.side_effects)


def test_replay_runs_no_undo_again(booking: ModuleType) -> None:
    booking.cities_without_cars.add("Rome")
    live = Runtime(booking.workflow).create("t", booking.Trip("t", "Rome"))
    live.advance()
    again = Runtime(booking.workflow, strict=True).rebuild(
        "t", booking.Trip("t", "Rome"), [e.event for e in live.events]
    )
    assert again.result == live.result and len(booking.side_effects) == 5


def test_a_restart_in_the_middle_of_compensating_runs_only_the_undos_left(
    booking: ModuleType,
) -> None:
    booking.cities_without_cars.add("Rome")
    live = Runtime(booking.workflow).create("t", booking.Trip("t", "Rome"))
    live.advance()
    events = [e.event for e in live.events][:4]  # the hotel was cancelled, not the flight
    booking.side_effects.clear()
    resumed = Runtime(booking.workflow).rebuild("t", booking.Trip("t", "Rome"), events)
    assert resumed.status == InstanceStatus.RUNNING and "Cancelled" in resumed.waiting_for()
    resumed.advance()
    assert resumed.result == "failed: no car in Rome"
    assert booking.side_effects == ["cancel flight-t"]


def test_an_undo_that_raises_is_retried_per_policy() -> None:
    effects = Effects()
    attempts: list[int] = []

    def flaky(done: Any) -> Ev:
        attempts.append(1)
        if len(attempts) < 3:
            raise ConnectionError("service down")
        return Ev(done[1])

    undo = WIO.run(flaky, lambda d, e: e.value).named("Undo")
    failing = WIO.pure_from(lambda x: Err(Boom(x)), error=Boom).named("Fail")
    section = (effects.step("Do", 1).compensate_with(undo) >> failing).compensating()
    from wio.retry import RetryPolicy

    instance = Runtime(section, retry=RetryPolicy(max_attempts=5, initial_delay=0)).create("r", 1)
    instance.advance()
    while instance.status == InstanceStatus.RUNNING:
        instance.advance()
    assert instance.status == InstanceStatus.FAILED and instance.result == Boom(2)
    assert len(attempts) == 3


def plain_undo(effects: Effects, name: str) -> WIO[Any, Any, Any]:
    """An undo that records its call and declares no business error."""

    def effect(_done: Any) -> Ev:
        effects.calls.append(f"undo {name}")
        return Ev(0)

    return WIO.run(effect, lambda _d, e: e.value).named(f"Undo {name}")


def test_a_completed_inner_section_is_undone_when_the_outer_one_fails() -> None:
    effects = Effects()

    def undo(name: str) -> WIO[Any, Any, Any]:
        return plain_undo(effects, name)

    inner = (
        effects.step("a").compensate_with(undo("a")) >> effects.step("b").compensate_with(undo("b"))
    ).compensating()
    failing = WIO.pure_from(lambda x: Err(Boom(x)), error=Boom)
    outer = (effects.step("c").compensate_with(undo("c")) >> inner >> failing).compensating()
    instance = Runtime(outer).create("n", 0)
    instance.advance()
    assert instance.result == Boom(0)
    assert effects.calls == ["c", "a", "b", "undo b", "undo a", "undo c"]


def test_an_error_handled_inside_the_section_undoes_nothing() -> None:
    effects = Effects()
    failing = WIO.pure_from(lambda x: Err(Boom(x)), error=Boom)
    section = (
        effects.step("a").compensate_with(plain_undo(effects, "a"))
        >> failing.handle_error_with(WIO.pure(7))
    ).compensating()
    instance = Runtime(section).create("h", 0)
    instance.advance()
    assert instance.result == 7 and effects.calls == ["a"]


def test_definitions_that_cannot_work_are_refused() -> None:
    effects = Effects()
    with pytest.raises(DefinitionError, match="cannot raise a business error"):
        effects.step("a").compensate_with(effects.step("undo"))  # Effects' steps declare Boom
    inside = WIO.parallel().flow("A", WIO.pure(1).compensate_with(WIO.pure(0)))
    with pytest.raises(DefinitionError, match="parallel or for-each section is not supported"):
        inside.compensating()


def test_lint_reports_an_undo_no_section_encloses() -> None:
    step = WIO.pure(1).named("Charge").compensate_with(WIO.pure(0).named("Refund"))
    (problem,) = lint(WIO.pure(0) >> step)
    assert (problem.code, format_path(problem.path)) == ("unused-compensation", "/1")
    assert lint(step.compensating()) == []


def test_diagrams_draw_undo_links(booking: ModuleType) -> None:
    mermaid = render(booking.workflow.wio, "mermaid")
    assert 'n0_0_0_0 -.->|"undo"| n0_0_0_1' in mermaid
    dot = render(booking.workflow.wio, "dot")
    assert "label=undo style=dotted" in dot
    bpmn = render(booking.workflow.wio, "bpmn")
    assert '<bpmn:compensateEventDefinition id="Compensation_0_0_0_definition"/>' in bpmn
    assert 'isForCompensation="true"' in bpmn and "<bpmn:association " in bpmn


@DURABLE_JOURNALS
def test_the_booking_resumes_after_a_restart_mid_compensation(
    booking: ModuleType, open_fresh: Any
) -> None:
    booking.cities_without_cars.add("Rome")
    first = Runtime(booking.workflow, journal=open_fresh()).create("t", booking.Trip("t", "Rome"))
    first.advance(
        until=lambda: len(first.events) == 4
    )  # the hotel cancelled; then the process goes
    assert first.status == InstanceStatus.RUNNING
    again = Runtime(booking.workflow, journal=open_fresh()).get("t")
    assert again.advance() == InstanceStatus.FINISHED
    assert again.result == "failed: no car in Rome"
    assert booking.side_effects.count("cancel hotel-t") == 1
    assert booking.side_effects.count("cancel flight-t") == 1
    assert booking.bookings == set()
