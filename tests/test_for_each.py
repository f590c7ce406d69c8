"""For-each sections: one body per element of a collection, run concurrently.

Every element's events are journaled inside an `InElement` envelope naming
its key, so replay routes each event to its element whatever the
interleaving, and whatever order the collection comes in.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import DURABLE_JOURNALS, example
from tests.nodes import Boom, Effects, Ev
from wio import (
    WIO,
    DefinitionError,
    InstanceStatus,
    ManualClock,
    Runtime,
    UnmatchedEventError,
    Workflow,
)
from wio.codec import EventDecodeError
from wio.for_each import BY_POSITION, InElement
from wio.interpreter import start
from wio.interpreter.cursor import InForEach
from wio.journal import StoredEvent
from wio.parallel import InFlow, innermost
from wio.runtime import AsyncRuntime
from wio.signals import UnexpectedSignal

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


def body(calls: Effects) -> WIO[int, Boom, int]:
    """Two steps per element: element + 1, then + 10 (a negative value fails)."""

    def first(x: int) -> Ev:
        calls.calls.append(f"first {x}")
        return Ev(x + 1)

    def second(x: int) -> Ev:
        calls.calls.append(f"second {x}")
        return Ev(x + 10)

    def check(_x: int, e: Ev) -> Any:
        from wio import Err

        return Err(Boom(e.value)) if e.value < 0 else e.value

    return WIO.run(first, check, error=Boom).named("First") >> WIO.run(
        second, lambda x, e: e.value
    ).named("Second")


def each(calls: Effects, **options: Any) -> WIO[list[int], Boom, Any]:
    return WIO.for_each(lambda items: items, body(calls), name="Each", **options)


def replayed(workflow: Any, events: list[Any], input: Any, **options: Any) -> Any:
    return Runtime(workflow, **options).rebuild("r", input, events)


# -- semantics ----------------------------------------------------------------------


def test_every_element_runs_its_body_and_results_are_keyed_in_element_order() -> None:
    calls = Effects()
    instance = Runtime(each(calls)).create("e", [3, 1, 2])
    assert instance.advance() == InstanceStatus.FINISHED
    assert instance.result == {"3": 14, "1": 12, "2": 13}
    assert list(instance.result) == ["3", "1", "2"]
    assert sorted(calls.calls) == sorted(
        ["first 3", "second 4", "first 1", "second 2", "first 2", "second 3"]
    )


def test_each_event_is_journaled_in_an_envelope_naming_its_element_key() -> None:
    calls = Effects()
    instance = Runtime(each(calls, key=lambda x: f"item-{x}")).create("e", [5, 6])
    instance.advance()
    routed = [(e.event.section, e.event.key, innermost(e.event)) for e in instance.events]
    assert sorted(routed, key=repr) == sorted(
        [("/", "item-5", Ev(6)), ("/", "item-5", Ev(16)), ("/", "item-6", Ev(7)),
         ("/", "item-6", Ev(17))], key=repr,
    )  # fmt: skip


def test_combine_makes_the_output_from_the_input_and_the_keyed_results() -> None:
    calls = Effects()
    section = each(calls, combine=lambda items, results: (len(items), sum(results.values())))
    instance = Runtime(section).create("e", [1, 2])
    instance.advance()
    assert instance.result == (2, 12 + 13)


def test_an_empty_collection_completes_at_once_with_no_event() -> None:
    instance = Runtime(each(Effects())).create("e", [])
    assert instance.advance() == InstanceStatus.FINISHED
    assert instance.result == {} and not instance.events


def test_the_first_business_error_fails_the_section_and_stops_the_others() -> None:
    calls = Effects()
    handled = each(calls).handle_error_with(WIO.pure_from(lambda failed: f"failed {failed[1]}"))
    instance = Runtime(handled).create("e", [-5, 1])
    instance.advance()
    assert instance.result == f"failed {Boom(-4)}"
    assert "second -4" not in calls.calls


def test_events_follow_their_key_when_the_collection_changes_order() -> None:
    calls = Effects()
    live = Runtime(each(calls)).create("e", [1, 2])
    live.advance()
    events = [e.event for e in live.events]
    again = replayed(each(calls), events, [2, 1], strict=True)
    assert again.result == {"2": 13, "1": 12}
    assert len(calls.calls) == 4  # replay ran no effect


def test_by_position_routes_events_to_the_element_at_the_same_position() -> None:
    calls = Effects()
    live = Runtime(each(calls, key=BY_POSITION)).create("e", [1, 2])
    live.advance()
    assert {e.event.key for e in live.events} == {"0", "1"}
    # Reordered, position 0's events (recorded for element 1) now go to element 2.
    again = replayed(each(calls, key=BY_POSITION), [e.event for e in live.events], [2, 1])
    assert again.result == {"0": 12, "1": 13}


def test_keys_must_be_unique_and_of_str_or_int() -> None:
    # Raised at the section, like a fork no branch matches: the same items would raise it
    # again, so the instance fails at once instead of being retried.
    for items, options, message in [
        ([1, 2, 1], {}, "for_each 'Each' at /: two elements have the key '1'"),
        ([1], {"key": lambda x: 1.5}, "for_each at /: key of element 0 (1) is 1.5"),
        ([(1,)], {}, "for_each at /: element (1,) is not a str or an int: pass key="),
    ]:
        instance = Runtime(each(Effects(), **options)).create("e", items)
        assert instance.advance() == InstanceStatus.FAILED and not instance.events
        assert instance.attempts == 1 and instance.last_error is not None
        assert message in str(instance.last_error.exception)
    with pytest.raises(DefinitionError, match=r"WIO\.end"):
        WIO.for_each(lambda x: x, WIO.end())


def test_a_signal_can_be_addressed_to_one_element() -> None:
    approvals = example("packing")
    lines = approvals.Order("o-1", (approvals.Line("pen", 1), approvals.Line("ink", 2)))
    instance = Runtime(approvals.checked_lines).create("c", lines)
    assert instance.advance() == InstanceStatus.WAITING
    response = instance.signal(approvals.check, {"ok": False}, element="ink")
    assert response == approvals.Checked("ink", False)
    assert "element 'pen' waiting for signal 'Check Line'" in instance.waiting_for()
    with pytest.raises(UnexpectedSignal, match="in element 'ink'"):
        instance.signal(approvals.check, {"ok": True}, element="ink")
    instance.signal(approvals.check, {"ok": True})  # unaddressed: the first element waiting
    assert instance.result == {"pen": True, "ink": False}


def test_a_pure_step_that_raises_in_one_element_is_retried_alone() -> None:
    failing = {"b"}

    def flaky(x: str) -> str:
        if x in failing:
            raise ConnectionError(f"no {x}")
        return x.upper()

    calls = Effects()
    section = WIO.for_each(
        lambda items: items, WIO.pure_from(flaky) >> WIO.pure_from(lambda s: s + "!")
    )
    runtime = Runtime(section)
    instance = runtime.create("e", ["a", "b"])
    instance.advance()
    assert instance.status == InstanceStatus.RUNNING and "ConnectionError" in instance.waiting_for()
    failing.clear()
    instance.advance()
    assert instance.result == {"a": "A!", "b": "B!"} and calls.calls == []


def test_sections_nest_inside_parallel_flows_and_other_for_each_sections() -> None:
    calls = Effects()
    grid = WIO.for_each(
        lambda rows: rows,
        WIO.for_each(lambda row: row, calls.step("cell", 1), key=lambda x: x),
        key=lambda row: f"row{row[0]}",
    )
    both = WIO.parallel().flow("Grid", grid).flow("Rows", WIO.pure_from(len))
    live = Runtime(both).create("n", [[1, 2], [3]])
    live.advance()
    assert live.result == ({"row1": {"1": 2, "2": 3}, "row3": {"3": 4}}, 2)
    first = next(e.event for e in live.events if isinstance(e.event.event, InElement))
    assert isinstance(first, InFlow) and first.event.section == "/0"
    assert isinstance(first.event.event, InElement) and first.event.event.section == "/0/0"
    again = replayed(both, [e.event for e in reversed(live.events)], [[1, 2], [3]], strict=True)
    assert again.result == live.result


def test_the_async_runtime_runs_every_elements_step_concurrently() -> None:
    arrived: list[int] = []
    everyone = asyncio.Event()

    async def meet(x: int) -> Ev:
        arrived.append(x)
        if len(arrived) == 3:
            everyone.set()
        await everyone.wait()  # finishes only if the other elements' steps run meanwhile
        return Ev(x)

    section = WIO.for_each(lambda xs: xs, WIO.run(meet, lambda x, e: e.value * 2))

    async def main() -> Any:
        instance = await AsyncRuntime(section).create("a", [1, 2, 3])
        await instance.advance()
        return instance.result

    assert asyncio.run(main()) == {"1": 2, "2": 4, "3": 6}


def test_a_timer_in_one_element_does_not_hold_up_the_others() -> None:
    clock = ManualClock(T0)
    calls = Effects()
    section = WIO.for_each(
        lambda xs: xs,
        WIO.fork()
        .branch("Slow", lambda x: x == 1, WIO.await_for(timedelta(hours=1)) >> calls.step("slow"))
        .otherwise("Fast", calls.step("fast")),
    )
    instance = Runtime(section, clock=clock).create("t", [1, 2])
    instance.advance()
    assert calls.calls == ["fast"] and instance.status == InstanceStatus.RUNNING
    assert instance._core.wakeup_at == T0 + timedelta(hours=1)
    clock.advance(3600)
    instance.advance()
    assert instance.result == {"1": 1, "2": 2} and calls.calls == ["fast", "slow"]


# -- replay of every interleaving ------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.randoms(use_true_random=False), st.lists(st.integers(0, 50), unique=True, max_size=6))
def test_any_interleaving_of_the_elements_events_replays_to_the_same_instance(
    random: Any, items: list[int]
) -> None:
    """Whatever order the elements' events were journaled in, replay rebuilds the instance."""
    calls = Effects()
    live = Runtime(each(calls)).create("p", items)
    live.advance()
    effects = len(calls.calls)
    queues: dict[str, list[Any]] = {}
    for recorded in live.events:
        queues.setdefault(recorded.event.key, []).append(recorded.event)
    shuffled = []
    while queues:  # a random merge that keeps each element's own order
        key = random.choice(sorted(queues))
        shuffled.append(queues[key].pop(0))
        if not queues[key]:
            del queues[key]
    shuffled_items = random.sample(items, len(items))
    again = replayed(each(calls), shuffled, shuffled_items, strict=True)
    assert again.status == live.status == InstanceStatus.FINISHED
    assert again.result == {str(x): live.result[str(x)] for x in shuffled_items}
    assert len(calls.calls) == effects  # replay ran no effect


def test_an_event_for_an_unknown_element_is_reported_with_its_number() -> None:
    calls = Effects()
    live = Runtime(each(calls)).create("e", [1])
    live.advance()
    events = [e.event for e in live.events]
    bad = [events[0], InElement("/", "9", Ev(1)), events[1]]
    with pytest.raises(UnmatchedEventError) as raised:
        replayed(each(calls), bad, [1], strict=True)
    assert raised.value.seq == 2 and "Ev in element '9' of /" in str(raised.value)
    lenient = replayed(each(calls), bad, [1])
    assert [u.seq for u in lenient.unmatched_events] == [2] and lenient.result == {"1": 12}


# -- cost ---------------------------------------------------------------------------


def test_an_event_updates_one_element_and_shares_the_others() -> None:
    """Structural, not timed: an event replaces one element's cursor in a persistent
    map, and the section's bookkeeping names only the elements with work to do."""
    calls = Effects()
    cursor = start(each(calls), list(range(1000)))
    focus = cursor.focus
    assert isinstance(focus, InForEach)
    assert len(focus.active) == 1000 and not focus.pending and focus.unfinished == 1000
    from wio.interpreter import apply_event

    after = apply_event(cursor, 1, InElement("/", "7", Ev(8))).cursor.focus
    assert isinstance(after, InForEach)
    changed = [i for i in range(1000) if after.elements[i] is not focus.elements[i]]
    assert changed == [7]
    assert after.keys is focus.keys and after.positions is focus.positions


# -- the journal --------------------------------------------------------------------


def test_envelopes_round_trip_through_the_codec() -> None:
    codec = Workflow(each(Effects()), name="each").codec
    events = [InElement("/", "a", Ev(1)), InFlow("/0", InElement("/0", "b c", Ev(2)))]
    for seq, event in enumerate(events, start=1):
        new = codec.encode(event)
        stored = StoredEvent("p", seq, new.type, new.version, new.payload, T0)
        assert codec.decode(stored) == event
    assert codec.encode(events[0]).payload == {
        "section": "/",
        "key": "a",
        "event": {"type": "Ev", "version": 1, "payload": {"value": 1}},
    }


@pytest.mark.parametrize(
    "payload",
    [{"event": {}}, {"section": 3, "key": "a", "event": {}}, {"section": "/", "key": 1, "event": {}},
     {"section": "/", "key": "a", "event": "x"}, []],
)  # fmt: skip
def test_a_malformed_envelope_fails_to_decode_naming_the_event(payload: Any) -> None:
    codec = Workflow(each(Effects()), name="each").codec
    with pytest.raises(EventDecodeError) as raised:
        codec.decode(StoredEvent("p", 4, "wio.InElement", 1, payload, T0))
    assert raised.value.seq == 4 and "for-each element" in str(raised.value)


@pytest.fixture
def packing() -> ModuleType:
    module = example("packing")
    module.side_effects.clear()
    module.empty_shelves.clear()
    return module


@DURABLE_JOURNALS
def test_packing_survives_a_restart_in_the_middle(packing: ModuleType, open_fresh: Any) -> None:
    order = packing.Order("o-1", (packing.Line("pen", 2), packing.Line("ink", 1)))
    first = Runtime(packing.workflow, journal=open_fresh()).create("o-1", order)
    first.advance(until=lambda: len(first.events) == 3)  # then the process goes away
    assert [type(innermost(e.event)) for e in first.events[:1]] == [packing.Picked]
    again = Runtime(packing.workflow, journal=open_fresh()).get("o-1")
    assert again.advance() == InstanceStatus.FINISHED
    assert again.result == "o-1: parcel-pen-2, parcel-ink-1"
    assert sorted(packing.side_effects) == ["pack ink", "pack pen", "pick ink", "pick pen"]
    assert {e.event.key for e in again.events} == {"pen", "ink"} and len(again.events) == 4


def test_progress_marks_a_body_step_once_an_element_ran_it(packing: ModuleType) -> None:
    from wio.renderers import Marks, executed_paths, render

    order = packing.Order("o-1", (packing.Line("pen", 2), packing.Line("ink", 1)))
    instance = Runtime(packing.workflow).create("o-1", order)
    instance.advance(until=lambda: len(instance.events) == 1)  # the pen is picked
    text = render(packing.workflow.wio, "text", executed=executed_paths(instance.progress))
    assert "[x] RunIO 'Pick'" in text and "[ ] RunIO 'Pack'" in text
    assert "[x] ForEach 'Order Lines' by=key" in text  # the strongest mark inside it
    # Where it waits: the pen's element at Pack, the ink's still at Pick.
    pick, pack = (0, 0, 0), (0, 0, 1)
    assert set(instance.waiting_at) == {pick, pack} and instance.failed_at == ()
    text = render(packing.workflow.wio, "text", marks=Marks.of(instance))
    assert "[>] ForEach 'Order Lines' by=key" in text
    assert "[>] RunIO 'Pick'" in text and "[>] RunIO 'Pack'" in text
    instance.advance()
    assert instance.waiting_at == ()
    text = render(packing.workflow.wio, "text", marks=Marks.of(instance))
    assert "[x] ForEach 'Order Lines' by=key" in text and "[x] RunIO 'Pack'" in text
