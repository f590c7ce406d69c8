"""The checkpoint and recover rules (issue: the WIO algebra), one test each or more."""

from __future__ import annotations

import logging
from types import ModuleType

import pytest

from tests.conftest import example
from tests.nodes import Boom, Effects, Ev, Other, Saved, restore, save
from wio import (
    WIO,
    Err,
    InstanceStatus,
    NotWaitingForEvent,
    RecordedEvent,
    Runtime,
    UnmatchedEventError,
)


def section(effects: Effects) -> WIO[int, Boom, int]:
    return effects.step("A", 1) >> effects.step("B", 10)


# Rule 1 ---------------------------------------------------------------------------


def test_rule1_checkpoint_event_is_appended_after_the_sections_events() -> None:
    effects = Effects()
    wf = section(effects).checkpointed(save, restore) >> effects.step("C", 100)
    instance = Runtime(wf).create("i", 0)
    assert instance.advance() == InstanceStatus.FINISHED
    assert [e.event for e in instance.events] == [Ev(1), Ev(11), Saved(11), Ev(111)]
    assert [e.seq for e in instance.events] == [1, 2, 3, 4]
    assert instance.result == 111


def test_rule1_save_state_receives_input_and_output() -> None:
    seen: list[tuple[int, int]] = []

    def saving(i: int, o: int) -> Saved:
        seen.append((i, o))
        return Saved(o)

    wf = section(Effects()).checkpointed(saving, restore)
    Runtime(wf).create("i", 5).advance()
    assert seen == [(5, 16)]


# Rule 2 ---------------------------------------------------------------------------


def test_rule2_checkpoint_completes_the_section_when_its_events_replay() -> None:
    effects = Effects()
    wf = section(effects).checkpointed(save, restore)
    live = Runtime(wf).create("i", 0)
    live.advance()
    effects.calls.clear()
    replayed = Runtime(wf, strict=True).rebuild("i", 0, [e.event for e in live.events])
    assert replayed.status == InstanceStatus.FINISHED
    assert replayed.state == live.state == 11
    assert effects.calls == []


def test_rule2_checkpoint_alone_completes_the_section_without_its_events() -> None:
    effects = Effects()
    wf = section(effects).checkpointed(save, restore) >> WIO.pure_from(lambda x: x * 2)
    replayed = Runtime(wf, strict=True).rebuild("i", 0, [Saved(42)])
    assert replayed.status == InstanceStatus.FINISHED
    assert replayed.result == 84
    assert effects.calls == []
    checkpoint = next(r for r in replayed.progress if r.kind == "checkpoint")
    assert checkpoint.section_skipped and checkpoint.event_seq == 1


def test_rule2_changed_section_code_is_not_run_and_its_old_events_are_not_warnings(
    caplog: pytest.LogCaptureFixture,
) -> None:
    v1_effects = Effects()
    v1 = section(v1_effects).checkpointed(save, restore) >> v1_effects.step("C", 100)
    live = Runtime(v1).create("i", 0)
    live.step(), live.step(), live.step()  # A, B, checkpoint: C is still to run
    assert [e.event for e in live.events] == [Ev(1), Ev(11), Saved(11)]

    # v2's section records a different event type, so v1's section events match
    # nothing; they name the nodes inside the section that recorded them.
    v2_effects = Effects()
    v2_section = WIO.run(lambda x: Other(x), lambda x, e: -1, event=Other).named("New")
    v2 = v2_section.checkpointed(save, restore) >> v2_effects.step("C", 100)
    assert [e.node for e in live.events] == ["/0/0/0", "/0/0/1", "/0"]
    with caplog.at_level(logging.WARNING):
        resumed = Runtime(v2, strict=True).rebuild("i", 0, live.events)
    assert caplog.records == []
    assert resumed.unmatched_events == ()
    assert resumed.state == 11
    assert resumed.advance() == InstanceStatus.FINISHED
    assert resumed.result == 111
    assert v2_effects.calls == ["C"]


def test_rule2_checkpoint_inside_a_longer_section_unwinds_nested_frames() -> None:
    effects = Effects()
    inner = (effects.step("A", 1) >> effects.step("B", 2)).handle_error_with(WIO.pure(0))
    wf = (WIO.pure_from(lambda x: x) >> inner).checkpointed(save, restore) >> WIO.pure_from(str)
    # Only A's event, then the checkpoint: B never replays, the section still completes.
    replayed = Runtime(wf, strict=True).rebuild("i", 0, [Ev(1), Saved(9)])
    assert replayed.result == "9"


# Rule 3 ---------------------------------------------------------------------------


def test_rule3_business_error_writes_no_checkpoint_and_propagates() -> None:
    effects = Effects()
    failing = effects.step("A", 1) >> WIO.pure_from(lambda x: Err(Boom(x)), error=Boom)
    wf = failing.checkpointed(save, restore).handle_error_with(
        WIO.pure_from(lambda se: f"handled {se[1].code}")
    )
    instance = Runtime(wf).create("i", 0)
    assert instance.advance() == InstanceStatus.FINISHED
    assert instance.result == "handled 1"
    assert [e.event for e in instance.events] == [Ev(1)]
    assert not any(r.kind == "checkpoint" for r in instance.progress)


def test_rule3_unhandled_error_in_checkpointed_section_fails_the_instance() -> None:
    wf = WIO.pure_from(lambda x: Err(Boom(x)), error=Boom).checkpointed(save, restore)
    instance = Runtime(wf).create("i", 3)
    assert instance.advance() == InstanceStatus.FAILED
    assert instance.result == Boom(3)
    assert instance.events == ()


# Rule 4 ---------------------------------------------------------------------------


def test_rule4_recover_waits_without_its_event_and_runs_no_logic() -> None:
    effects = Effects()
    wf = WIO.recover(restore) >> effects.step("after", 1)
    instance = Runtime(wf).create("i", 0)
    assert instance.advance() == InstanceStatus.WAITING
    assert instance.events == ()
    assert effects.calls == []
    assert "recovery event Saved" in instance.waiting_for()


def test_rule4_recover_consumes_an_operator_inserted_event() -> None:
    effects = Effects()
    wf = WIO.recover(restore) >> effects.step("after", 1)
    instance = Runtime(wf).create("i", 0)
    instance.advance()
    with pytest.raises(NotWaitingForEvent, match="cannot accept Ev"):
        instance.deliver(Ev(3))
    assert instance.events == ()
    instance.deliver(Saved(41))
    assert instance.advance() == InstanceStatus.FINISHED
    assert instance.result == 42
    assert [e.event for e in instance.events] == [Saved(41), Ev(42)]


def test_rule4_recover_consumes_an_event_already_in_the_journal() -> None:
    wf = WIO.recover(restore) >> WIO.pure_from(lambda x: x + 1)
    assert Runtime(wf, strict=True).rebuild("i", 0, [Saved(1)]).result == 2


# Rule 5 ---------------------------------------------------------------------------


def test_rule5_a_v1_instance_past_its_checkpoint_finishes_under_v2(shipment: ModuleType) -> None:
    v1 = example("evolution_v1").workflow
    v2 = example("evolution_v2").workflow
    order = shipment.Shipment("S-1", 1_500)

    started = Runtime(v1).create("S-1", order)
    while not any(isinstance(e.event, shipment.PaymentSettled) for e in started.events):
        assert started.step()
    journal = [e.event for e in started.events]  # the events kept by the v1 deployment
    assert shipment.side_effects == ["reserve S-1", "charge S-1"]
    shipment.side_effects.clear()

    resumed = Runtime(v2, strict=True).rebuild("S-1", order, journal)
    assert resumed.unmatched_events == ()
    assert resumed.advance() == InstanceStatus.FINISHED
    assert resumed.result == shipment.Shipment("S-1", 1_500, True, True, "TRK-S-1")
    assert shipment.side_effects == ["ship S-1"]  # the removed section did not run


def test_rule5_a_new_v2_instance_waits_for_a_migrated_event(shipment: ModuleType) -> None:
    v2 = example("evolution_v2").workflow
    instance = Runtime(v2).create("S-2", shipment.Shipment("S-2", 10))
    assert instance.advance() == InstanceStatus.WAITING
    assert shipment.side_effects == []


# Unmatched events ---------------------------------------------------------------


def test_an_unmatched_event_is_reported_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    wf = Effects().step("A", 1) >> Effects().step("B", 1)
    with caplog.at_level(logging.WARNING, logger="wio.replay"):
        instance = Runtime(wf).rebuild("order-7", 0, [Ev(1), Other(5), Ev(2)])
    (unmatched,) = instance.unmatched_events
    assert (unmatched.instance_id, unmatched.seq, unmatched.event_type) == ("order-7", 2, "Other")
    assert "waiting for event Ev of step 'B'" in unmatched.expected
    assert instance.status == InstanceStatus.FINISHED
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert "'order-7'" in record.getMessage() and "#2" in record.getMessage()


def test_strict_replay_raises_on_an_unmatched_event() -> None:
    wf = Effects().step("A", 1)
    runtime = Runtime(wf, strict=True)
    with pytest.raises(UnmatchedEventError) as raised:
        runtime.rebuild("order-8", 0, [Ev(1), Ev(2)])
    assert (raised.value.instance_id, raised.value.seq, raised.value.event_type) == (
        "order-8",
        2,
        "Ev",
    )
    assert "finished" in raised.value.expected
    # A failed recovery leaves no half-built instance behind.
    assert runtime.instances() == []


def test_events_of_a_section_whose_checkpoint_never_came_are_unmatched() -> None:
    wf = WIO.run(lambda x: Other(x), lambda x, e: e.value, event=Other).checkpointed(save, restore)
    with pytest.raises(UnmatchedEventError) as raised:
        Runtime(wf, strict=True).rebuild("i", 0, [Ev(1)])
    assert raised.value.seq == 1
    assert "waiting for event Other" in raised.value.expected


def test_events_before_a_recovery_event_are_held_until_it_comes() -> None:
    wf = WIO.recover(restore) >> WIO.pure_from(lambda x: x + 1)
    assert Runtime(wf, strict=True).rebuild("i", 0, [Ev(1), Ev(2), Saved(5)]).result == 6
    # Without it, they wait with the instance at the recovery: neither applied nor
    # unmatched, even strictly; the recovery event, delivered, covers them.
    waiting = Runtime(wf, strict=True).rebuild("i", 0, [Ev(1)])
    assert "waiting for recovery event Saved" in waiting.waiting_for()
    assert not waiting.unmatched_events
    waiting.deliver(Saved(5))
    assert waiting.advance() == InstanceStatus.FINISHED and waiting.result == 6
    # One that the section the recovery replaced did not record is reported.
    with pytest.raises(UnmatchedEventError) as raised:
        Runtime(wf, strict=True).rebuild("i", 0, [RecordedEvent(1, Ev(1), "/1")])
    assert "waiting for recovery event Saved" in raised.value.expected
