"""Property: replaying any prefix of a live run's events rebuilds its exact state.

Hypothesis generates random compositions of every node (loops bounded by an
iteration count, timers and timeouts, signals, parallel sections), runs each
live one event at a time (delivering each signal the instance waits for, on
a clock that moves an hour whenever it is read, so every timer comes due),
snapshotting state, progress and status after each event; then it replays
every prefix of the journal in a fresh, strict runtime.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from attrs import frozen
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.nodes import Boom, Ev, restore, save
from wio import WIO, Err, ManualClock, Runtime, Signal
from wio.parallel import InFlow
from wio.timers import TimerReleased, TimerStarted

Spec = tuple[Any, ...]
MOD = 997


class Counter:
    def __init__(self) -> None:
        self.effects = 0


@frozen
class Nudge:
    number: int


nudge = Signal("Nudge", request=Nudge, response=int)


class MovingClock(ManualClock):
    """Moves an hour each time it is read, so a started timer is due at the next look."""

    def now(self) -> datetime:
        self.advance(3600)
        return super().now()


def build(spec: Spec, counter: Counter, in_flow: bool = False) -> WIO[Any, Any, Any]:
    kind, *args = spec

    def child(inner: Spec) -> WIO[Any, Any, Any]:
        return build(inner, counter, in_flow)

    match kind:
        case "pure":
            add, err_mod = args

            def compute(x: int) -> int | Err[Boom]:
                y = (x * 7 + add) % MOD
                return Err(Boom(y)) if err_mod and y % err_mod == 0 else y

            return WIO.pure_from(compute, error=Boom)
        case "run":
            add, err_mod = args

            def effect(x: int) -> Ev:
                counter.effects += 1
                return Ev((x + add) % MOD)

            def handle(x: int, ev: Ev) -> int | Err[Boom]:
                return Err(Boom(ev.value)) if err_mod and ev.value % err_mod == 0 else ev.value

            return WIO.run(effect, handle, error=Boom)
        case "end":  # a parallel flow cannot end the workflow: it passes its value on
            return WIO.pure_from(lambda x: x) if in_flow else WIO.end()
        case "recover":
            return WIO.recover(restore)
        case "seq":
            return WIO.sequence(*(child(s) for s in args[0]))
        case "flat_map":
            base, even, odd = (child(s) for s in args)
            return base.flat_map(lambda v: even if v % 2 == 0 else odd)
        case "map":
            return child(args[0]).map(lambda v: (v * 3 + 1) % MOD)
        case "transform":
            return child(args[0]).transform(lambda x: (x + 1) % MOD, lambda x, out: (out + x) % MOD)
        case "provide":
            return child(args[0]).provide_input(args[1])
        case "handle":
            base, handler = child(args[0]), child(args[1])
            adapted = handler.transform(lambda se: se[1].code, lambda se, out: out)
            return base.handle_error_with(adapted)
        case "fork":
            modulus, branches, default = args
            fork = WIO.fork("F")
            for index, branch in enumerate(branches):
                fork = fork.branch(f"b{index}", lambda x, i=index: x % modulus == i, child(branch))
            return fork.otherwise("default", child(default))
        case "checkpoint":
            return child(args[0]).checkpointed(save, restore)
        case "loop":  # runs its body a fixed number of times, counting in the value
            body, times = child(args[0]), args[1]
            counted = body.transform(lambda xi: xi[0], lambda xi, out: (out, xi[1] + 1))
            loop = WIO.repeat(counted).until(lambda xi: xi[1] >= times)
            return WIO.pure_from(lambda x: (x, 0)) >> loop >> WIO.pure_from(lambda xi: xi[0])
        case "timer":
            return WIO.await_for(timedelta(minutes=args[0]))
        case "timeout":  # fires at once (minutes) or never (a thousand days)
            base, handler, fires = child(args[0]), child(args[1]), args[2]
            wait = timedelta(minutes=30) if fires else timedelta(days=1000)
            return base.timeout(wait, then=handler)
        case "signal":
            add = args[0]

            def handle(x: int, request: Nudge) -> Ev:
                counter.effects += 1
                return Ev((x + request.number + add) % MOD)

            return WIO.handle_signal(nudge, handle, lambda x, e: e.value, lambda x, e, r: e.value)
        case "parallel":
            section = WIO.parallel()
            for index, flow in enumerate(args[0]):
                section = section.flow(f"f{index}", build(flow, counter, in_flow=True))
            return section.combine(lambda x, results: (x + sum(results)) % MOD)
    raise AssertionError(spec)


# Weighted towards run steps, so most workflows record several events; errors,
# ends and recoveries are rarer because each stops the rest of a workflow.
err_mods = st.sampled_from([0, 0, 0, 0, 11, 13])
small = st.integers(0, 50)
leaf_kinds = st.sampled_from(
    ["run"] * 12 + ["pure"] * 5 + ["end", "recover"] + ["timer", "signal"] * 2
)
leaves = leaf_kinds.flatmap(
    lambda kind: (
        st.tuples(st.just(kind), small, err_mods)
        if kind in ("run", "pure")
        else st.tuples(st.just(kind), st.integers(0, 60))
        if kind in ("timer", "signal")
        else st.tuples(st.just(kind))
    )
)


def extend(children: st.SearchStrategy[Spec]) -> st.SearchStrategy[Spec]:
    return st.one_of(
        st.tuples(st.just("seq"), st.lists(children, min_size=2, max_size=4)),
        st.tuples(st.just("flat_map"), children, children, children),
        st.tuples(st.just("map"), children),
        st.tuples(st.just("transform"), children),
        st.tuples(st.just("provide"), children, small),
        st.tuples(st.just("handle"), children, children),
        st.tuples(
            st.just("fork"), st.integers(2, 4), st.lists(children, min_size=1, max_size=3), children
        ),
        st.tuples(st.just("checkpoint"), children),
        st.tuples(st.just("loop"), children, st.integers(1, 4)),
        st.tuples(st.just("timeout"), children, children, st.booleans()),
        st.tuples(st.just("parallel"), st.lists(children, min_size=1, max_size=3)),
    )


workflows = st.recursive(leaves, extend, max_leaves=16)


def snapshot(instance: Any) -> tuple[Any, ...]:
    return (instance.state, instance.progress, instance.status, instance.result)


def drive(instance: Any, after_each: Any = None) -> None:
    """Run to the end, delivering each signal the instance waits for."""
    while True:
        if instance.step():
            pass
        elif instance.expected_signals():
            instance.signal(nudge, Nudge(len(instance.events)), advance=False)
        else:
            return
        if after_each is not None:
            after_each()


def comparable(event: Any) -> Any:
    """An event without the times a clock put in it: runtimes' clocks differ."""
    if isinstance(event, InFlow):
        return InFlow(event.flow, comparable(event.event))
    if isinstance(event, TimerStarted | TimerReleased):
        return (type(event).__name__, event.timer)
    return event


@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(spec=workflows, start=st.integers(0, 100))
def test_replaying_every_prefix_matches_the_live_run(spec: Spec, start: int) -> None:
    counter = Counter()
    workflow = build(spec, counter)
    clock = MovingClock()

    live = Runtime(workflow, clock=clock).create("p", start)
    snapshots = [snapshot(live)]
    drive(live, lambda: snapshots.append(snapshot(live)))
    assert live.last_error is None
    events = [recorded.event for recorded in live.events]
    assert len(snapshots) == len(events) + 1

    for k in range(len(events) + 1):
        effects_before = counter.effects
        # Its clock starts where the live one ended, so every timer is already due.
        later = MovingClock(clock.now())
        replayed = Runtime(workflow, strict=True, clock=later).rebuild("p", start, events[:k])
        assert counter.effects == effects_before, "replay must not run side effects"
        assert snapshot(replayed) == snapshots[k]
        # Carrying on from the prefix reproduces the rest of the live run.
        drive(replayed)
        assert [comparable(r.event) for r in replayed.events] == list(map(comparable, events))
        assert snapshot(replayed) == snapshots[-1]
