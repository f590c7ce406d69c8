"""Property: replaying any prefix of a live run's events rebuilds its exact state.

Hypothesis generates random compositions of every node, runs each live one
effect at a time (snapshotting state, progress and status after each event),
then replays every prefix of the journal in a fresh, strict runtime.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.nodes import Boom, Ev, restore, save
from wio import WIO, Err, Runtime

Spec = tuple[Any, ...]
MOD = 997


class Counter:
    def __init__(self) -> None:
        self.effects = 0


def build(spec: Spec, counter: Counter) -> WIO[Any, Any, Any]:
    kind, *args = spec
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
        case "end":
            return WIO.end()
        case "recover":
            return WIO.recover(restore)
        case "seq":
            return WIO.sequence(*(build(s, counter) for s in args[0]))
        case "flat_map":
            base, even, odd = (build(s, counter) for s in args)
            return base.flat_map(lambda v: even if v % 2 == 0 else odd)
        case "map":
            return build(args[0], counter).map(lambda v: (v * 3 + 1) % MOD)
        case "transform":
            return build(args[0], counter).transform(
                lambda x: (x + 1) % MOD, lambda x, out: (out + x) % MOD
            )
        case "provide":
            return build(args[0], counter).provide_input(args[1])
        case "handle":
            base, handler = build(args[0], counter), build(args[1], counter)
            adapted = handler.transform(lambda se: se[1].code, lambda se, out: out)
            return base.handle_error_with(adapted)
        case "fork":
            modulus, branches, default = args
            fork = WIO.fork("F")
            for index, branch in enumerate(branches):
                fork = fork.branch(
                    f"b{index}", lambda x, i=index: x % modulus == i, build(branch, counter)
                )
            return fork.otherwise("default", build(default, counter))
        case "checkpoint":
            return build(args[0], counter).checkpointed(save, restore)
    raise AssertionError(spec)


# Weighted towards run steps, so most workflows record several events; errors,
# ends and recoveries are rarer because each stops the rest of a workflow.
err_mods = st.sampled_from([0, 0, 0, 0, 11, 13])
small = st.integers(0, 50)
leaf_kinds = st.sampled_from(["run"] * 12 + ["pure"] * 5 + ["end", "recover"])
leaves = leaf_kinds.flatmap(
    lambda kind: (
        st.tuples(st.just(kind), small, err_mods)
        if kind in ("run", "pure")
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
    )


workflows = st.recursive(leaves, extend, max_leaves=16)


def snapshot(instance: Any) -> tuple[Any, ...]:
    return (instance.state, instance.progress, instance.status, instance.result)


@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(spec=workflows, start=st.integers(0, 100))
def test_replaying_every_prefix_matches_the_live_run(spec: Spec, start: int) -> None:
    counter = Counter()
    workflow = build(spec, counter)

    live = Runtime(workflow).create("p", start)
    snapshots = [snapshot(live)]
    while live.step():
        snapshots.append(snapshot(live))
    assert live.last_error is None
    events = [recorded.event for recorded in live.events]
    assert len(snapshots) == len(events) + 1

    for k in range(len(events) + 1):
        effects_before = counter.effects
        replayed = Runtime(workflow, strict=True).recover("p", start, events[:k])
        assert counter.effects == effects_before, "replay must not run side effects"
        assert snapshot(replayed) == snapshots[k]
        # Carrying on from the prefix reproduces the rest of the live run.
        replayed.run()
        assert [r.event for r in replayed.events] == events
        assert snapshot(replayed) == snapshots[-1]
