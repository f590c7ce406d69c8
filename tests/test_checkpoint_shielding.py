"""Checkpoint shielding (issue 11): a checkpoint event in the journal completes its
section on replay, and none of the section's logic runs again, whatever v2 changed.

Version 1 of each workflow runs live; version 2 keeps the shape but changes every
piece of logic inside the checkpointed section (pure step, fork condition, event
handlers, loop condition, signal handler) to fail. Replaying v1's journal under
v2 must run none of it, in every place a section can be nested.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from attrs import frozen

from tests.conftest import DURABLE_JOURNALS
from tests.nodes import Boom, Saved, restore, save
from wio import (
    WIO,
    Err,
    InstanceStatus,
    RecordedEvent,
    Runtime,
    Signal,
    UnmatchedEventError,
    Workflow,
)
from wio.journal import NewEvent, open_journal
from wio.parallel import innermost
from wio.undecoded import UndecodedEvent


@frozen
class Paid:
    amount: int


@frozen
class Tick:
    value: int


@frozen
class Bumped:
    by: int


@frozen
class Bump:
    by: int


@frozen
class Shipped:
    value: int


@frozen
class Outer:
    value: int


@frozen
class Foreign:
    value: int


bump = Signal("Bump", request=Bump, response=int)


class Logic:
    """One version of the checkpointed section's logic; v2's fails everywhere."""

    def __init__(self, *, broken: Callable[[str], Any] | None = None) -> None:
        self.calls: list[str] = []
        self.broken = broken

    def ran(self, name: str, value: Any) -> Any:
        self.calls.append(name)
        return value if self.broken is None else self.broken(name)

    def section(self) -> WIO[int, Any, int]:
        pay = WIO.run(
            lambda x: Paid(x + 1), lambda x, e: self.ran("Pay", e.amount), event=Paid
        ).named("Pay")
        fork = (
            WIO.fork("Large?")
            .branch("large", lambda x: self.ran("large?", x > 1_000), WIO.pure_from(lambda x: x))
            .otherwise("small", WIO.pure_from(lambda x: self.ran("small", x + 1)))
        )
        tick = WIO.run(lambda x: Tick(x + 1), lambda x, e: self.ran("Tick", e.value), event=Tick)
        loop = WIO.repeat(tick).until(lambda x: self.ran("until", x % 3 == 0))
        check = WIO.pure_from(lambda x: self.ran("check", x), error=Boom).named("Check")
        signal = WIO.handle_signal(
            bump,
            lambda x, r: Bumped(r.by),
            lambda x, e: self.ran("Bump", x + e.by),
            lambda x, e, r: x + e.by,
            event=Bumped,
        )
        return pay >> fork >> loop >> check >> signal

    def checkpointed(self) -> WIO[int, Any, int]:
        return self.section().checkpointed(save, restore)


def business_error(name: str) -> Any:
    return Err(Boom(len(name)))


def raises(name: str) -> Any:
    raise RuntimeError(f"v2 changed {name}")


def ship() -> WIO[int, Any, int]:
    return WIO.run(lambda x: Shipped(x * 10), lambda x, e: e.value, event=Shipped).named("Ship")


NESTINGS: dict[str, Callable[[Logic], WIO[int, Any, Any]]] = {
    "top level": lambda v: v.checkpointed() >> ship(),
    "in a loop": lambda v: WIO.repeat(v.checkpointed()).until(lambda x: x > 30) >> ship(),
    "in a parallel flow": lambda v: (
        WIO.parallel()
        .flow("paid", v.checkpointed())
        .flow("shipped", ship())
        .combine(lambda x, results: sum(results))
    ),
    "in an error handler": lambda v: (
        WIO.pure_from(lambda x: Err(Boom(x)), error=Boom).handle_error_with(
            v.checkpointed().transform(lambda se: se[1].code, lambda se, out: out)
        )
        >> ship()
    ),
    "in another checkpoint": lambda v: (
        (WIO.pure_from(lambda x: x + 1) >> v.checkpointed() >> ship()).checkpointed(
            lambda i, o: Outer(o), lambda i, e: e.value, event=Outer
        )
        >> WIO.pure_from(lambda x: x * 2)
    ),
}


def run_v1(nesting: str, journal: str | None = None) -> Any:
    v1 = Logic()
    runtime = Runtime(workflow(NESTINGS[nesting](v1)), journal=journal)
    instance = runtime.create("i", 1)
    while instance.advance() == InstanceStatus.WAITING and instance.expected_signals():
        instance.signal(bump, Bump(5))
    assert instance.status == InstanceStatus.FINISHED, instance.waiting_for()
    assert "check" in v1.calls and "until" in v1.calls and "Bump" in v1.calls
    return instance


def workflow(wio: WIO[Any, Any, Any]) -> Workflow[Any, Any]:
    return Workflow(wio, name="shielded", events=(Saved, Outer))


@pytest.mark.parametrize("nesting", NESTINGS)
@pytest.mark.parametrize("broken", [business_error, raises], ids=["error", "raises"])
def test_replay_under_v2_runs_none_of_a_checkpointed_sections_logic(
    nesting: str, broken: Callable[[str], Any]
) -> None:
    v1_instance = run_v1(nesting)
    v2 = Logic(broken=broken)
    replayed = Runtime(NESTINGS[nesting](v2), strict=True).rebuild("i", 1, v1_instance.events)
    assert v2.calls == []
    assert replayed.status == InstanceStatus.FINISHED
    assert replayed.result == v1_instance.result
    assert replayed.last_error is None and replayed.unmatched_events == ()
    shields = [r for r in replayed.progress if r.section_skipped]
    assert shields and all(r.covered for r in shields if r.kind == "checkpoint")


@pytest.mark.parametrize("nesting", NESTINGS)
def test_every_journal_prefix_that_ends_at_a_checkpoint_replays_without_the_section(
    nesting: str,
) -> None:
    journal = run_v1(nesting).events
    ends = [k for k, r in enumerate(journal, 1) if isinstance(innermost(r.event), Saved | Outer)]
    assert ends
    for end in ends:
        v2 = Logic(broken=raises)
        replayed = Runtime(NESTINGS[nesting](v2), strict=True).rebuild("i", 1, journal[:end])
        assert v2.calls == [], (end, v2.calls)
        assert replayed.last_error is None and replayed.unmatched_events == ()


@DURABLE_JOURNALS
@pytest.mark.parametrize("nesting", ["top level", "in a parallel flow", "in a loop"])
def test_a_durable_v1_instance_resumes_under_v2_without_its_sections_logic(
    journal_url: str, nesting: str
) -> None:
    v1 = Logic()
    with Runtime(workflow(NESTINGS[nesting](v1)), journal=journal_url, owner="v1") as runtime:
        instance = runtime.create("i", 1)

        # v1 stops just past a checkpoint (a loop runs to its end: v2 could not run
        # its later iterations).
        def done() -> bool:
            if nesting == "in a loop":
                return instance.status == InstanceStatus.FINISHED
            return any(isinstance(innermost(r.event), Saved) for r in instance.events)

        while not done():
            if not instance.step():
                instance.signal(bump, Bump(5))
        # Every event names the node that recorded it.
        assert all(r.node is not None for r in instance.events)
    expected = run_v1(nesting).result

    v2 = Logic(broken=raises)
    v2_workflow = workflow(NESTINGS[nesting](v2))
    with Runtime(v2_workflow, journal=journal_url, strict=True, owner="v1") as runtime:
        resumed = runtime.get("i")
        assert resumed.last_error is None and resumed.unmatched_events == ()
        while resumed.advance() == InstanceStatus.WAITING and resumed.expected_signals():
            resumed.signal(bump, Bump(5))
        assert resumed.status == InstanceStatus.FINISHED
        assert resumed.result == expected
        assert resumed.last_error is None
    assert v2.calls == []


def test_the_checkpoint_event_alone_or_after_the_sections_events_shields_it() -> None:
    for journal in ([Paid(5), Saved(5)], [Saved(5)]):
        v2 = Logic(broken=business_error)
        wf = v2.checkpointed() >> WIO.pure_from(lambda x: x * 2)
        replayed = Runtime(wf, strict=True).rebuild("i", 1, journal)
        assert v2.calls == []
        assert replayed.result == 10
        (checkpoint,) = [r for r in replayed.progress if r.kind == "checkpoint"]
        assert checkpoint.section_skipped and checkpoint.covered == tuple(range(1, len(journal)))


def test_covered_events_are_kept_undecoded() -> None:
    v1_instance = run_v1("top level")
    replayed = Runtime(NESTINGS["top level"](Logic()), strict=True).rebuild(
        "i", 1, v1_instance.events
    )
    kinds = [type(r.event).__name__ for r in replayed.events]
    # The section's own events are covered (kept as given here, never applied);
    # the checkpoint and what follows it are applied.
    assert kinds == [type(r.event).__name__ for r in v1_instance.events]
    assert replayed.result == v1_instance.result


def test_an_entry_left_by_a_business_error_is_not_shielded_by_a_later_entrys_checkpoint() -> None:
    # Each iteration enters the section; the first one fails inside it (no checkpoint),
    # the error is handled, and the second completes it. Replay must fail the first
    # entry again rather than complete it from the second entry's checkpoint.
    def body(calls: list[int]) -> WIO[int, Any, int]:
        def pay(x: int, e: Paid) -> int | Err[Boom]:
            calls.append(x)
            return Err(Boom(e.amount)) if e.amount == 2 else e.amount

        section = WIO.run(lambda x: Paid(x + 1), pay, event=Paid, error=Boom).checkpointed(
            save, restore
        )
        handled = WIO.run(lambda se: Shipped(se[1].code), lambda se, e: e.value, event=Shipped)
        return section.handle_error_with(handled)

    live_calls: list[int] = []
    wf = WIO.repeat(body(live_calls)).until(lambda x: x >= 4)
    live = Runtime(wf).create("i", 1)
    assert live.advance() == InstanceStatus.FINISHED
    replay_calls: list[int] = []
    replayed = Runtime(WIO.repeat(body(replay_calls)).until(lambda x: x >= 4), strict=True)
    again = replayed.rebuild("i", 1, live.events)
    assert again.result == live.result == 4
    assert replay_calls == [1]  # the failed entry ran again; the later ones were shielded
    handled = [r for r in again.progress if r.kind == "error_handled"]
    assert [r.value for r in handled] == [Boom(2)]
    assert [r.event_seq for r in again.progress if r.section_skipped] == [4, 6]


# Finding 2: a foreign event inside a completed checkpointed section --------------


def foreign_flow() -> WIO[int, Any, int]:
    pay = WIO.run(lambda x: Paid(x), lambda x, e: e.amount, event=Paid).named("Pay")
    return pay.checkpointed(save, restore) >> WIO.pure_from(lambda x: x + 1)


def test_a_foreign_event_inside_a_checkpointed_span_fails_strict_replay() -> None:
    with pytest.raises(UnmatchedEventError) as raised:
        Runtime(foreign_flow(), strict=True).rebuild("i", 0, [Paid(5), Foreign(1), Saved(5)])
    error = raised.value
    assert (error.instance_id, error.seq, error.event_type) == ("i", 2, "Foreign")
    assert "checkpointed section at /0" in error.expected


def test_a_foreign_event_with_a_node_outside_the_section_names_that_node() -> None:
    journal = [
        RecordedEvent(1, Paid(5), "/0/0"),
        RecordedEvent(2, Foreign(1), "/7"),
        RecordedEvent(3, Saved(5), "/0"),
    ]
    with pytest.raises(UnmatchedEventError) as raised:
        Runtime(foreign_flow(), strict=True).rebuild("i", 0, journal)
    error = raised.value
    assert (error.seq, error.event_type, error.node) == (2, "Foreign", "/7")
    assert "recorded by node /7" in str(error)

    lenient = Runtime(foreign_flow()).rebuild("i", 0, journal)
    (unmatched,) = lenient.unmatched_events
    assert (unmatched.seq, unmatched.event_type, unmatched.node) == (2, "Foreign", "/7")
    assert "outside the checkpointed section at /0" in unmatched.expected
    assert lenient.result == 6


# Findings 4 and retired events ----------------------------------------------------


def v1_shipping() -> Workflow[Any, Any]:
    pay = WIO.run(lambda x: Paid(x), lambda x, e: e.amount, event=Paid).named("Pay")
    return Workflow(pay.checkpointed(save, restore) >> ship(), name="shipping")


def v2_shipping(retired: tuple[str, ...] = ("Paid",)) -> Workflow[Any, Any]:
    # v2 has no Paid class any more: the section is replaced by its recovery.
    return Workflow(WIO.recover(restore) >> ship(), name="shipping", retired_events=retired)


@DURABLE_JOURNALS
def test_a_v1_journal_loads_under_v2_without_the_removed_sections_event_classes(
    journal_url: str,
) -> None:
    with Runtime(v1_shipping(), journal=journal_url, owner="ops") as runtime:
        past = runtime.create("past", 4)
        past.step(), past.step()  # Paid, then the checkpoint: Ship is still to run
        inside = runtime.create("inside", 4)
        inside.step()  # Paid only: the checkpoint never came
    for retired in [("Paid",), ()]:  # covered events need no class, retired or not
        with Runtime(
            v2_shipping(retired), journal=journal_url, strict=True, owner="ops"
        ) as runtime:
            resumed = runtime.get("past")
            assert isinstance(resumed.events[0].event, UndecodedEvent)
            assert resumed.events[0].event.type == "Paid"
    with Runtime(v2_shipping(), journal=journal_url, strict=True, owner="ops") as runtime:
        assert runtime.get("past").advance() == InstanceStatus.FINISHED
        assert runtime.get("past").result == 40
    # `inside` had not reached the checkpoint: its retired event waits, held
    # undecoded, for the recovery event, which only an operator delivers. It is
    # neither applied nor unmatched, even strictly, and the instance waits.
    for strict in (True, False):
        with Runtime(v2_shipping(), journal=journal_url, strict=strict, owner="ops") as runtime:
            waiting = runtime.get("inside")
            assert waiting.status == InstanceStatus.WAITING
            assert waiting.waiting_for() == "waiting for recovery event Saved at /0"
            assert not waiting.unmatched_events
            assert waiting.events[0].event == UndecodedEvent("Paid", 1, {"amount": 4})
    with Runtime(v2_shipping(), journal=journal_url, strict=True, owner="ops") as runtime:
        # The operator delivers the recovery event; the retired event is then covered.
        waiting = runtime.get("inside")
        waiting.deliver(Saved(4))
        assert waiting.advance() == InstanceStatus.FINISHED and waiting.result == 40
    # A retired event that no recovery or checkpoint can cover is a precise error.
    with Runtime(v2_shipping(), journal=journal_url, owner="ops") as runtime:
        runtime.create("stray", 4)
    with open_journal(journal_url) as journal:
        stray = NewEvent("Paid", 1, {"amount": 4}, node="/1")
        journal.append("stray", 0, [stray], datetime.now(UTC))
    with Runtime(v2_shipping(), journal=journal_url, strict=True, owner="ops") as runtime:
        with pytest.raises(UnmatchedEventError) as raised:
            runtime.get("stray")
        error = raised.value
        assert (error.instance_id, error.seq, error.event_type, error.node) == (
            "stray",
            1,
            "Paid",
            "/1",
        )
    with Runtime(v2_shipping(), journal=journal_url, owner="ops") as runtime:
        (unmatched,) = runtime.get("stray").unmatched_events
        assert (unmatched.seq, unmatched.event_type, unmatched.node) == (1, "Paid", "/1")


def test_a_retired_name_still_in_use_is_refused() -> None:
    with pytest.raises(Exception, match="'Paid' is listed as retired"):
        Workflow(v1_shipping().wio, name="shipping", retired_events=("Paid",))


@DURABLE_JOURNALS
def test_the_asyncio_runtime_shields_sections_alike(journal_url: str) -> None:
    import asyncio

    from wio import AsyncRuntime

    run_v1_at = Runtime(workflow(NESTINGS["top level"](Logic())), journal=journal_url, owner="a")
    with run_v1_at as runtime:
        instance = runtime.create("i", 1)
        while not any(isinstance(r.event, Saved) for r in instance.events):
            if not instance.step():
                instance.signal(bump, Bump(5))
    v2 = Logic(broken=raises)

    async def resume() -> Any:
        runtime = AsyncRuntime(workflow(NESTINGS["top level"](v2)), journal=journal_url, owner="a")
        try:
            resumed = await runtime.get("i")
            assert await resumed.advance() == InstanceStatus.FINISHED
            return resumed.result
        finally:
            runtime.close()

    assert asyncio.run(resume()) == run_v1("top level").result
    assert v2.calls == []


def test_a_checkpoint_around_a_for_each_section_shields_every_element() -> None:
    def each(logic: Logic) -> WIO[int, Any, Any]:
        pay = WIO.run(lambda x: Paid(x), lambda x, e: logic.ran("Pay", e.amount), event=Paid)
        section = WIO.for_each(lambda x: range(x), pay, combine=lambda x, out: sum(out.values()))
        return section.checkpointed(save, restore) >> ship()

    live = Runtime(each(Logic())).create("i", 3)
    assert live.advance() == InstanceStatus.FINISHED
    assert [r.node for r in live.events][:3] == ["/0/0/0"] * 3  # each element's Pay
    v2 = Logic(broken=raises)
    replayed = Runtime(each(v2), strict=True).rebuild("i", 3, live.events)
    assert v2.calls == [] and replayed.result == live.result


def test_a_checkpoint_inside_a_for_each_element_replays_correctly() -> None:
    # Elements share their body's model paths, so a section inside an element
    # replays without look-ahead: its logic runs, and the result is the same.
    def each(logic: Logic) -> WIO[int, Any, Any]:
        pay = WIO.run(lambda x: Paid(x), lambda x, e: logic.ran("Pay", e.amount), event=Paid)
        return WIO.for_each(lambda x: range(x), pay.checkpointed(save, restore)) >> WIO.pure_from(
            lambda out: sorted(out.values())
        )

    live = Runtime(each(Logic())).create("i", 3)
    assert live.advance() == InstanceStatus.FINISHED
    replayed = Runtime(each(Logic()), strict=True).rebuild("i", 3, live.events)
    assert replayed.result == live.result == [0, 1, 2]
    assert replayed.unmatched_events == ()
