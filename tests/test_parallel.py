"""Parallel sections: flows that run concurrently within one instance.

Every flow's events are journaled inside an `InFlow` envelope, so replay
routes each event to its flow whatever the interleaving; the section
completes when all flows have, and the first business error fails it.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import pytest
from attrs import frozen
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import DURABLE_JOURNALS, example
from tests.nodes import Boom, Effects, Ev, Saved, restore, save
from wio import (
    WIO,
    DefinitionError,
    Err,
    InstanceStatus,
    ManualClock,
    Runtime,
    Signal,
    UnmatchedEventError,
    Workflow,
)
from wio.codec import EventDecodeError
from wio.journal import StoredEvent
from wio.parallel import InFlow, innermost
from wio.runtime import AsyncRuntime
from wio.signals import SignalHandled, UnexpectedSignal
from wio.timers import TimerStarted
from wio.worker import Worker

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


@frozen
class Go:
    who: str


@frozen
class Ok:
    who: str


go = Signal("Go", request=Go, response=Ok)
stop = Signal("Stop", request=Go, response=Ok)


class Calls(Effects):
    """`Effects`' recording steps, and signal handlers that record too."""

    @property
    def log(self) -> list[str]:
        return self.calls

    def waiting(self, signal: Signal[Go, Ok] = go) -> WIO[int, Any, int]:
        def handle(x: int, request: Go) -> Ev:
            self.log.append(f"{signal.name} from {request.who}")
            return Ev(x + 100)

        return WIO.handle_signal(
            signal, handle, lambda x, e: e.value, lambda x, e, r: Ok(r.who)
        ).named(signal.name)


def three_flows(calls: Calls) -> WIO[int, Boom, Any]:
    return (
        WIO.parallel("Together")
        .flow("A", calls.step("a1", 1) >> calls.step("a2", 1))
        .flow("B", calls.step("b1", 10))
        .flow("C", calls.waiting())
    )


def replayed(workflow: Any, events: list[Any], input: Any = 0, **options: Any) -> Any:
    return Runtime(workflow, **options).rebuild("r", input, events)


# -- semantics ----------------------------------------------------------------------


def test_every_flow_runs_on_the_input_and_the_results_come_in_flow_order() -> None:
    calls = Calls()
    instance = Runtime(three_flows(calls)).create("p", 5)
    assert instance.advance() == InstanceStatus.WAITING  # A and B ran; C waits for its signal
    assert calls.log == ["a1", "a2", "b1"]
    assert instance.expected_signals() == (go,)
    assert instance.signal(go, Go("ann")) == Ok("ann")
    assert instance.advance() == InstanceStatus.FINISHED
    assert instance.result == (7, 15, 105)  # each flow started from the same input, 5
    kinds = [(record.path, record.kind) for record in instance.progress]
    assert kinds[-1] == ((), "parallel")
    assert ((2,), "signal") in kinds and ((0, 1), "run") in kinds


def test_each_event_is_journaled_in_an_envelope_naming_its_flow() -> None:
    calls = Calls()
    instance = Runtime(three_flows(calls)).create("p", 0)
    instance.advance()
    instance.signal(go, Go("ann"))
    flows = [recorded.event.flow for recorded in instance.events]
    assert flows == ["/0", "/0", "/1", "/2"]
    assert isinstance(instance.events[-1].event.event, SignalHandled)


def test_combine_makes_the_output_from_the_input_and_the_results() -> None:
    calls = Calls()
    section = (
        WIO.parallel()
        .flow("A", calls.step("a", 1))
        .flow("B", calls.step("b", 2))
        .combine(lambda input, results: {"input": input, "sum": sum(results)})
    )
    instance = Runtime(section >> WIO.pure_from(lambda d: d["sum"])).create("p", 10)
    assert instance.advance() == InstanceStatus.FINISHED
    assert instance.result == 23


def test_the_first_business_error_fails_the_section_and_stops_the_other_flows() -> None:
    calls = Calls()
    section = (
        WIO.parallel("Risky")
        .flow("Waits", calls.waiting())
        .flow("Fails", calls.step("fails", -100))
        .flow("Never", calls.step("never"))
    )
    handled = section.handle_error_with(WIO.pure_from(lambda failed: f"handled {failed[1]}"))
    instance = Runtime(handled).create("p", 1)
    assert instance.advance() == InstanceStatus.FINISHED
    assert instance.result == "handled Boom(code=-99)"
    assert calls.log == ["fails"]  # the third flow never ran its step
    (record,) = [r for r in instance.progress if r.kind == "parallel"]
    assert not record.ok and record.value == Boom(-99)
    with pytest.raises(UnexpectedSignal):
        instance.signal(go, Go("late"))  # the waiting flow went with the section


def test_an_unhandled_error_in_a_flow_fails_the_instance() -> None:
    calls = Calls()
    section = WIO.parallel().flow("A", calls.step("a")).flow("B", calls.step("b", -5))
    instance = Runtime(section).create("p", 0)
    assert instance.advance() == InstanceStatus.FAILED
    assert instance.result == Boom(-5)


def test_a_flow_waiting_on_a_timer_does_not_hold_up_the_others() -> None:
    calls = Calls()
    clock = ManualClock(T0)
    section = (
        WIO.parallel()
        .flow("Slow", WIO.await_for(timedelta(hours=1)) >> calls.step("after the hour"))
        .flow("Fast", calls.step("fast"))
        .flow("Signalled", calls.waiting())
    )
    instance = Runtime(section, clock=clock).create("p", 0)
    assert instance.advance() == InstanceStatus.RUNNING  # a started timer: due in an hour
    assert calls.log == ["fast"]
    instance.signal(go, Go("ann"))
    assert instance.advance() == InstanceStatus.RUNNING  # the timer is not due yet
    clock.advance(3600)
    assert instance.advance() == InstanceStatus.FINISHED
    assert calls.log == ["fast", "Go from ann", "after the hour"]


def test_status_is_waiting_only_when_every_unfinished_flow_waits_outside() -> None:
    calls = Calls()
    section = WIO.parallel().flow("A", calls.waiting(go)).flow("B", calls.waiting(stop))
    instance = Runtime(section).create("p", 0)
    assert instance.advance() == InstanceStatus.WAITING
    assert set(instance.expected_signals()) == {go, stop}
    assert "flow 'A' waiting for signal 'Go'" in instance.waiting_for()
    instance.signal(stop, Go("bob"))
    assert instance.status == InstanceStatus.WAITING and instance.expected_signals() == (go,)
    instance.signal(go, Go("ann"))
    assert instance.status == InstanceStatus.FINISHED and instance.result == (100, 100)


def test_a_timeout_around_the_section_interrupts_every_flow() -> None:
    calls = Calls()
    clock = ManualClock(T0)
    section = (WIO.parallel().flow("A", calls.waiting(go)).flow("B", calls.waiting(stop))).timeout(
        timedelta(days=1), then=calls.step("gave up")
    )
    instance = Runtime(section, clock=clock).create("p", 0)
    assert instance.advance() == InstanceStatus.WAITING
    instance.signal(go, Go("ann"))
    clock.advance(86_400)
    assert instance.advance() == InstanceStatus.FINISHED
    assert calls.log == ["Go from ann", "gave up"]
    assert instance.expected_signals() == ()


def test_a_signal_around_the_section_interrupts_it_and_a_timeout_inside_a_flow_works() -> None:
    calls = Calls()
    clock = ManualClock(T0)
    inner = calls.waiting(go).timeout(timedelta(hours=1), then=calls.step("late"))
    section = (
        WIO.parallel().flow("Timed", inner).flow("Waits", calls.waiting(go).named("Again"))
    ).interrupted_by(calls.waiting(stop), then=calls.step("stopped"))
    instance = Runtime(section, clock=clock).create("p", 0)
    assert instance.advance() == InstanceStatus.WAITING
    clock.advance(3600)
    assert (
        instance.advance() == InstanceStatus.WAITING
    )  # the first flow timed out; the second waits
    assert calls.log == ["late"]
    instance.signal(stop, Go("ops"))
    assert instance.advance() == InstanceStatus.FINISHED
    assert calls.log == ["late", "Stop from ops", "stopped"]


def test_two_flows_waiting_for_one_signal_take_it_in_flow_order() -> None:
    # `wio lint` reports this definition (duplicate-signal); the runtime stays deterministic.
    calls = Calls()
    section = WIO.parallel().flow("First", calls.waiting()).flow("Second", calls.waiting())
    instance = Runtime(section).create("p", 0)
    instance.advance()
    instance.signal(go, Go("ann"))
    assert instance.events[-1].event.flow == "/0"
    instance.signal(go, Go("bob"))
    assert instance.events[-1].event.flow == "/1" and instance.status == InstanceStatus.FINISHED


def test_nested_sections_nest_their_envelopes() -> None:
    calls = Calls()
    inner = WIO.parallel().flow("X", calls.step("x", 1)).flow("Y", calls.waiting())
    outer = WIO.parallel().flow("Inner", inner).flow("Z", calls.step("z", 2))
    instance = Runtime(outer).create("p", 0)
    instance.advance()
    instance.signal(go, Go("ann"))
    assert instance.advance() == InstanceStatus.FINISHED
    assert instance.result == ((1, 100), 2)
    first = instance.events[0].event
    assert first == InFlow("/0", InFlow("/0/0", Ev(1)))
    again = replayed(outer, [e.event for e in instance.events])
    assert again.result == ((1, 100), 2) and calls.log.count("x") == 1


def test_a_pure_step_that_raises_in_a_flow_is_retried() -> None:
    attempts: list[int] = []

    def flaky(x: int) -> int:
        attempts.append(x)
        if len(attempts) < 3:
            raise RuntimeError("not yet")
        return x + 1

    calls = Calls()
    section = WIO.parallel().flow("Flaky", WIO.pure_from(flaky)).flow("Steady", calls.step("s"))
    instance = Runtime(section).create("p", 0)
    assert instance.last_error is not None and "not yet" in str(instance.last_error.exception)
    assert instance.advance() == InstanceStatus.RUNNING  # the second attempt fails too
    assert instance.attempts == 2 and calls.log == []  # the stuck flow holds the instance
    assert instance.advance() == InstanceStatus.FINISHED
    assert instance.result == (1, 0) and calls.log == ["s"]


def test_a_checkpoint_inside_a_flow_and_one_around_the_section() -> None:
    calls = Calls()
    flow = calls.step("inner", 1).checkpointed(save, restore)
    section = WIO.parallel().flow("A", flow).flow("B", calls.step("b", 2))
    whole = section.map(lambda results: sum(results)).checkpointed(save, restore)
    instance = Runtime(whole).create("p", 0)
    assert instance.advance() == InstanceStatus.FINISHED and instance.result == 3
    events = [e.event for e in instance.events]
    assert events[1] == InFlow("/0/0", Saved(1)) and events[-1] == Saved(3)
    # A later version replaced the section: its checkpoint still completes it.
    assert replayed(whole, events, strict=True).result == 3
    assert replayed(WIO.recover(restore), events[-1:]).result == 3


def test_a_section_needs_named_flows_and_no_end() -> None:
    with pytest.raises(DefinitionError, match="two flows named 'A'"):
        WIO.parallel().flow("A", WIO.pure(1)).flow("A", WIO.pure(2))
    with pytest.raises(DefinitionError, match="cannot end the whole workflow"):
        WIO.parallel().flow("A", WIO.pure(1) >> WIO.end())
    with pytest.raises(DefinitionError, match="every flow before"):
        WIO.parallel().flow("A", WIO.pure(1)).combine(lambda i, r: r).flow("B", WIO.pure(2))
    empty = Runtime(WIO.parallel("Empty")).create("p", 0)
    assert empty.last_error is not None
    assert "parallel 'Empty' at / has no flows" in str(empty.last_error.exception)


def test_the_async_runtime_runs_the_same_sections() -> None:
    calls = Calls()

    async def main() -> Any:
        instance = await AsyncRuntime(three_flows(calls)).create("p", 0)
        assert await instance.advance() == InstanceStatus.WAITING
        await instance.signal(go, Go("ann"))
        assert await instance.advance() == InstanceStatus.FINISHED
        return instance.result

    assert asyncio.run(main()) == (2, 10, 100)


# -- replay -------------------------------------------------------------------------


def journal_of(calls: Calls) -> list[Any]:
    instance = Runtime(three_flows(calls)).create("p", 0)
    instance.advance()
    instance.signal(go, Go("ann"))
    return [e.event for e in instance.events]


def interleavings(events: list[Any]) -> list[list[Any]]:
    """Every order of ``events`` that keeps each flow's own events in order."""
    by_flow: dict[str, list[Any]] = {}
    for event in events:
        by_flow.setdefault(event.flow, []).append(event)
    slots = [flow for flow, items in by_flow.items() for _ in items]
    orders = []
    for order in set(itertools.permutations(slots)):
        queues = {flow: list(items) for flow, items in by_flow.items()}
        orders.append([queues[flow].pop(0) for flow in order])
    return orders


def test_replay_gives_the_same_result_whatever_the_interleaving() -> None:
    calls = Calls()
    events = journal_of(calls)
    orders = interleavings(events)
    assert len(orders) == 12  # 4!/2!: a1 before a2, the others anywhere
    for order in orders:
        instance = replayed(three_flows(calls), order, strict=True)
        assert instance.status == InstanceStatus.FINISHED, order
        assert instance.result == (2, 10, 100)
    assert calls.log == ["a1", "a2", "b1", "Go from ann"]  # replay ran no effect


@settings(max_examples=40, deadline=None)
@given(st.randoms(use_true_random=False))
def test_a_live_run_in_any_order_replays_to_the_same_instance(random: Any) -> None:
    """Whatever order the flows' events were journaled in, replay rebuilds the instance."""
    calls = Calls()
    width = random.randint(2, 4)
    section = WIO.parallel()
    for flow in range(width):
        steps = [calls.step(f"{flow}.{n}", flow + 1) for n in range(random.randint(1, 3))]
        section = section.flow(f"F{flow}", WIO.sequence(*steps))
    live = Runtime(section).create("p", 0)
    live.advance()
    events = [e.event for e in live.events]
    queues: dict[str, list[Any]] = {}
    for event in events:
        queues.setdefault(event.flow, []).append(event)
    shuffled = []
    while queues:  # a random merge that keeps each flow's own order
        flow = random.choice(sorted(queues))
        shuffled.append(queues[flow].pop(0))
        if not queues[flow]:
            del queues[flow]
    again = replayed(section, shuffled, strict=True)
    assert (again.status, again.result) == (live.status, live.result)


def test_an_event_for_an_unknown_flow_is_reported_with_its_number() -> None:
    calls = Calls()
    events = journal_of(calls)
    bad = [*events[:2], InFlow("/7", Ev(1)), *events[2:]]
    with pytest.raises(UnmatchedEventError) as raised:
        replayed(three_flows(calls), bad, strict=True)
    assert raised.value.seq == 3 and "Ev in flow /7" in str(raised.value)
    lenient = replayed(three_flows(calls), bad)
    assert [u.seq for u in lenient.unmatched_events] == [3]
    assert lenient.result == (2, 10, 100)


def test_an_event_for_the_wrong_flow_is_not_taken() -> None:
    calls = Calls()
    events = journal_of(calls)
    wrong = [InFlow("/2", innermost(events[0])), *events]  # flow C waits for a signal
    instance = replayed(three_flows(calls), wrong)
    assert [u.seq for u in instance.unmatched_events] == [1]


# -- the journal --------------------------------------------------------------------


def test_envelopes_round_trip_through_the_codec() -> None:
    calls = Calls()
    codec = Workflow(three_flows(calls), name="three").codec
    events = [*journal_of(calls), InFlow("/0", InFlow("/0/1", TimerStarted(T0, "/0/1/0")))]
    codec.register(TimerStarted)
    for seq, event in enumerate(events, start=1):
        new = codec.encode(event)
        stored = StoredEvent("p", seq, new.type, new.version, new.payload, T0)
        assert codec.decode(stored) == event
    assert codec.encode(events[0]).payload == {
        "flow": "/0",
        "event": {"type": "Ev", "version": 1, "payload": {"value": 1}},
    }


@pytest.mark.parametrize(
    "payload", [{"event": {}}, {"flow": 3, "event": {}}, {"flow": "/0", "event": "x"}, []]
)
def test_a_malformed_envelope_fails_to_decode_naming_the_event(payload: Any) -> None:
    codec = Workflow(three_flows(Calls()), name="three").codec
    with pytest.raises(EventDecodeError) as raised:
        codec.decode(StoredEvent("p", 4, "wio.InFlow", 1, payload, T0))
    assert raised.value.seq == 4 and "parallel flow" in str(raised.value)


@pytest.fixture
def fulfilment() -> ModuleType:
    module = example("fulfilment")
    module.side_effects.clear()
    module.declined_cards.clear()
    return module


@DURABLE_JOURNALS
def test_a_fulfilment_survives_a_restart_while_its_flows_wait(
    fulfilment: ModuleType, open_fresh: Any
) -> None:
    clock = ManualClock(T0)
    definition = fulfilment.workflow

    def process() -> Runtime[Any, Any, Any]:
        return Runtime(definition, journal=open_fresh(), clock=clock)

    def work() -> int:
        return Worker(open_fresh(), [definition], clock=clock).run_once()

    first = process()
    first.create("o-1", fulfilment.Order("o-1", 1200, "pen"))
    first.create("o-2", fulfilment.Order("o-2", 900, "ink"))
    assert work() == 2  # each charged, reserved and waiting for a courier, with a timeout
    assert first.journal.get_instance("o-1").status == "waiting"  # type: ignore[union-attr]
    del first

    # A new process: o-1 gets its courier; o-2's two days run out.
    booking = process().get("o-1").signal(fulfilment.assign_courier, {"courier": "Kim"})
    assert booking == fulfilment.Booking("o-1", "Kim")
    assert process().get("o-1").status == "finished"  # the signal ran it on to the end
    clock.advance(2 * 86_400)
    assert work() == 1  # o-2's timeout
    done = {id_: process().get(id_) for id_ in ("o-1", "o-2")}
    assert {id_: i.status for id_, i in done.items()} == {"o-1": "finished", "o-2": "finished"}
    assert done["o-1"].result == "track-o-1" and done["o-2"].result == "track-o-2"
    assert sorted(fulfilment.side_effects) == sorted(
        [
            "charged o-1", "reserved pen for o-1", "booked Kim for o-1",
            "shipped o-1 with Kim",
            "charged o-2", "reserved ink for o-2", "booked the house courier for o-2",
            "shipped o-2 with house courier",
        ]
    )  # fmt: skip
    flows = {innermost(e.event).__class__.__name__: e.event.flow for e in done["o-2"].events[:-1]}
    assert flows["Charged"] == "/0/0/0" and flows["TimerReleased"] == "/0/0/2"
    assert innermost(done["o-2"].events[-1].event) == fulfilment.Shipped("track-o-2")


@DURABLE_JOURNALS
def test_a_declined_card_cancels_the_order_durably(fulfilment: ModuleType, open_fresh: Any) -> None:
    fulfilment.declined_cards.add("o-3")
    runtime = Runtime(fulfilment.workflow, journal=open_fresh(), clock=ManualClock(T0))
    instance = runtime.create("o-3", fulfilment.Order("o-3", 100, "pen"))
    assert instance.advance() == InstanceStatus.FINISHED
    assert instance.result == "cancelled: insufficient funds"
    assert fulfilment.side_effects == ["charged o-3", "cancelled: insufficient funds"]
    again = Runtime(fulfilment.workflow, journal=open_fresh(), strict=True).get("o-3")
    assert again.result == instance.result and again.unmatched_events == ()


# -- concurrency in the asyncio runtime ----------------------------------------------


class Rendezvous:
    """Async steps that each wait until every flow's step has started: they can only
    finish if the runtime awaits them concurrently."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.started: list[str] = []
        self.all_started = asyncio.Event()

    def step(self, name: str, add: int = 0) -> WIO[int, Boom, int]:
        async def effect(x: int) -> Ev:
            self.started.append(name)
            if len(self.started) == self.expected:
                self.all_started.set()
            await asyncio.wait_for(self.all_started.wait(), timeout=30)
            return Ev(x + add)

        def handle(x: int, event: Ev) -> int | Err[Boom]:
            return Err(Boom(event.value)) if event.value < 0 else event.value

        return WIO.run(effect, handle, error=Boom).named(name)


def test_the_async_runtime_awaits_every_flows_step_concurrently() -> None:
    meet = Rendezvous(3)
    section = (
        WIO.parallel()
        .flow("A", meet.step("a", 1) >> WIO.pure_from(lambda x: x * 10))
        .flow("B", meet.step("b", 2))
        .flow("C", meet.step("c", 3))
    )

    async def main() -> Any:
        instance = await AsyncRuntime(section).create("p", 0)
        assert await instance.advance() == InstanceStatus.FINISHED
        return instance

    instance = asyncio.run(main())
    assert instance.result == (10, 2, 3) and sorted(meet.started) == ["a", "b", "c"]
    assert [e.event.flow for e in instance.events] == ["/0", "/1", "/2"]  # in flow order
    assert replayed(section, [e.event for e in instance.events]).result == (10, 2, 3)


def test_a_business_error_among_concurrent_steps_drops_the_other_flows_events() -> None:
    meet = Rendezvous(2)
    section = WIO.parallel().flow("Fails", meet.step("fails", -1)).flow("Ok", meet.step("ok"))
    handled = section.handle_error_with(WIO.pure_from(lambda failed: "handled"))

    async def main() -> Any:
        instance = await AsyncRuntime(handled).create("p", 0)
        assert await instance.advance() == InstanceStatus.FINISHED
        return instance

    instance = asyncio.run(main())
    assert instance.result == "handled" and sorted(meet.started) == ["fails", "ok"]
    (only,) = instance.events  # the second flow's event is not recorded: its section ended
    assert only.event == InFlow("/0/0", Ev(-1))
    again = replayed(handled, [only.event], strict=True)
    assert again.result == "handled" and again.unmatched_events == ()


def test_a_concurrent_step_that_raises_is_retried_while_the_others_are_recorded() -> None:
    attempts: list[int] = []

    async def flaky(x: int) -> Ev:
        attempts.append(x)
        if len(attempts) == 1:
            raise ConnectionError("try again")
        return Ev(x + 5)

    calls = Calls()
    section = (
        WIO.parallel()
        .flow("Flaky", WIO.run(flaky, lambda x, e: e.value).named("Flaky"))
        .flow("Steady", calls.step("steady", 1))
    )

    async def main() -> Any:
        runtime = AsyncRuntime(section, clock=ManualClock(T0))
        instance = await runtime.create("p", 0)
        assert (
            await instance.advance() == InstanceStatus.RUNNING
        )  # the failed step awaits its retry
        assert instance.attempts == 1 and "try again" in str(instance.last_error)
        assert [e.event for e in instance.events] == [InFlow("/1", Ev(1))]
        assert await instance.advance() == InstanceStatus.FINISHED
        return instance

    instance = asyncio.run(main())
    assert instance.result == (5, 1) and calls.log == ["steady"] and len(attempts) == 2
