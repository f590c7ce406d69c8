"""Property: what `wio.compat` calls safe for an instance replays the same.

Hypothesis builds a random workflow (steps, pure steps, timers, signals,
forks, parallel sections, checkpoints, loops, error handlers, interruptions)
and a random new version of it (a step inserted, removed or swapped, an event
type, timer or signal changed, a section wrapped or unwrapped, a checkpoint
replaced by a recovery, a branch or flow added). It runs a v1 instance through
every stage, and wherever compat says no change breaks that instance, strict
replay of its journal against v2 must reach the same state and status.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from attrs import frozen
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.test_compat import Approval, replays_the_same, stages
from wio import WIO, InstanceStatus, Signal
from wio.compat import compare

Spec = tuple[Any, ...]


@frozen
class E0:
    value: int


@frozen
class E1:
    value: int


@frozen
class E2:
    value: int


@frozen
class P0:
    value: int


@frozen
class P1:
    value: int


@frozen
class Answered:
    value: int


EVENTS = (E0, E1, E2)
CHECKPOINTS = (P0, P1)
SIGNALS = {name: Signal(name, request=Approval, response=int) for name in ("Go", "Halt", "Stop")}


def build(spec: Spec, depth: int = 0) -> WIO[int, Any, int]:
    """The workflow of ``spec``; ``depth`` counts enclosing checkpoints, so nested
    checkpoints save different event types."""
    kind, *args = spec
    match kind:
        case "run":
            event = EVENTS[args[0]]
            return WIO.run(lambda v, ev=event: ev(v + 1), lambda _v, e: e.value, event=event)
        case "pure":
            return WIO.pure_from(lambda v: v)
        case "timer":
            return WIO.await_for(timedelta(hours=args[0]))
        case "signal":
            return WIO.handle_signal(
                SIGNALS[args[0]],
                lambda v, _request: Answered(v + 1),
                lambda _v, e: e.value,
                lambda _v, e, _request: e.value,
                event=Answered,
            )
        case "seq":
            return WIO.sequence(*(build(child, depth) for child in args[0]))
        case "fork":
            branches = args[0]
            fork = WIO.fork("F")
            for index, branch in enumerate(branches[:-1]):
                fork = fork.branch(
                    f"b{branch[0]}", lambda v, i=index, n=len(branches): v % n == i,  # noqa: B008
                    build(branch[1], depth),
                )  # fmt: skip
            return fork.otherwise(f"b{branches[-1][0]}", build(branches[-1][1], depth))
        case "par":
            section = WIO.parallel("P")
            for name, flow in args[0]:
                section = section.flow(f"f{name}", build(flow, depth))  # type: ignore[assignment]
            return section.combine(lambda _v, outputs: max(outputs))  # type: ignore[no-any-return]
        case "cp":
            checkpoint = CHECKPOINTS[depth % len(CHECKPOINTS)]
            return build(args[0], depth + 1).checkpointed(
                lambda _i, out, ev=checkpoint: ev(out),
                lambda _i, e: e.value,
                event=checkpoint,
            )
        case "recover":
            checkpoint = CHECKPOINTS[depth % len(CHECKPOINTS)]
            return WIO.recover(lambda _i, e: e.value, event=checkpoint)
        case "loop":  # every iteration records an event, and the value grows to 12
            body = build(("run", 0), depth) >> build(args[0], depth)
            return WIO.repeat(body).until(lambda v: v >= 12)
        case "handler":
            handler = build(args[1], depth).transform(lambda pair: pair[0], lambda _p, out: out)
            return build(args[0], depth).handle_error_with(handler)
        case "intr":
            stop = build(("signal", "Stop"), depth)
            return build(args[0], depth).interrupted_by(stop)
    raise AssertionError(spec)


leaves = st.one_of(
    st.tuples(st.just("run"), st.integers(0, 2)),
    st.tuples(st.just("run"), st.integers(0, 2)),
    st.tuples(st.just("pure")),
    st.tuples(st.just("timer"), st.integers(1, 3)),
    st.tuples(st.just("signal"), st.sampled_from(["Go", "Halt"])),
)


def _named(children: st.SearchStrategy[Spec]) -> st.SearchStrategy[tuple[tuple[int, Spec], ...]]:
    return st.lists(children, min_size=1, max_size=3).map(lambda items: tuple(enumerate(items)))


def extend(children: st.SearchStrategy[Spec]) -> st.SearchStrategy[Spec]:
    return st.one_of(
        st.tuples(st.just("seq"), st.lists(children, min_size=2, max_size=4).map(tuple)),
        st.tuples(st.just("seq"), st.lists(children, min_size=2, max_size=4).map(tuple)),
        st.tuples(st.just("fork"), _named(children).filter(lambda b: len(b) >= 2)),
        st.tuples(st.just("par"), _named(children)),
        st.tuples(st.just("cp"), children),
        st.tuples(st.just("loop"), children),
        st.tuples(st.just("handler"), children, children),
        st.tuples(st.just("intr"), children),
    )


workflows = st.recursive(leaves, extend, max_leaves=10)


# -- mutations -----------------------------------------------------------------


def positions(spec: Spec, at: tuple[int, ...] = ()) -> list[tuple[int, ...]]:
    """Every node's position in the spec tree."""
    return [at] + [p for i, child in enumerate(_kids(spec)) for p in positions(child, (*at, i))]


def _kids(spec: Spec) -> list[Spec]:
    kind, *args = spec
    if kind == "seq":
        return list(args[0])
    if kind in ("fork", "par"):
        return [child for _, child in args[0]]
    if kind in ("cp", "loop", "intr"):
        return [args[0]]
    if kind == "handler":
        return [args[0], args[1]]
    return []


def node_at(spec: Spec, at: tuple[int, ...]) -> Spec:
    for index in at:
        spec = _kids(spec)[index]
    return spec


def replace_at(spec: Spec, at: tuple[int, ...], new: Spec) -> Spec:
    if not at:
        return new
    kind, *args = spec
    head, rest = at[0], at[1:]
    if kind == "seq":
        steps = list(args[0])
        steps[head] = replace_at(steps[head], rest, new)
        return ("seq", tuple(steps))
    if kind in ("fork", "par"):
        items = list(args[0])
        name, child = items[head]
        items[head] = (name, replace_at(child, rest, new))
        return (kind, tuple(items))
    if kind == "handler":
        kids = [args[0], args[1]]
        kids[head] = replace_at(kids[head], rest, new)
        return ("handler", *kids)
    return (kind, replace_at(args[0], rest, new))


@st.composite
def mutated(draw: st.DrawFn, spec: Spec) -> Spec:
    """``spec`` with one random change."""
    at = draw(st.sampled_from(positions(spec)))
    node = node_at(spec, at)
    kind = node[0]
    options = ["insert-before", "insert-after", "wrap"]
    if kind == "seq":
        options += ["remove", "swap"]
    if kind == "run":
        options.append("retype")
    if kind == "timer":
        options.append("retime")
    if kind == "signal":
        options.append("rename-signal")
    if kind in ("cp", "loop", "intr", "handler"):
        options.append("unwrap")
    if kind == "cp":
        options.append("recover")
    if kind in ("fork", "par"):
        options.append("add-child")
    choice = draw(st.sampled_from(options))
    match choice:
        case "insert-before" | "insert-after":
            leaf = draw(leaves)
            steps = (leaf, node) if choice == "insert-before" else (node, leaf)
            return replace_at(spec, at, ("seq", steps))
        case "wrap":
            wrapper = draw(st.sampled_from(["cp", "loop", "intr", "handler"]))
            wrapped = (wrapper, node, ("run", 2)) if wrapper == "handler" else (wrapper, node)
            return replace_at(spec, at, wrapped)
        case "remove":
            steps = list(node[1])
            del steps[draw(st.integers(0, len(steps) - 1))]
            return replace_at(spec, at, ("seq", tuple(steps)) if len(steps) > 1 else steps[0])
        case "swap":
            steps = list(node[1])
            i = draw(st.integers(0, len(steps) - 2))
            steps[i], steps[i + 1] = steps[i + 1], steps[i]
            return replace_at(spec, at, ("seq", tuple(steps)))
        case "retype":
            return replace_at(spec, at, ("run", (node[1] + 1) % len(EVENTS)))
        case "retime":
            return replace_at(spec, at, ("timer", node[1] + 1))
        case "rename-signal":
            return replace_at(spec, at, ("signal", "Halt" if node[1] == "Go" else "Go"))
        case "unwrap":
            return replace_at(spec, at, node[1])
        case "recover":
            return replace_at(spec, at, ("recover",))
        case "add-child":
            items = list(node[1])
            index = draw(st.integers(0, len(items) - (1 if kind == "fork" else 0)))
            items.insert(index, (100 + len(items), draw(leaves)))
            return replace_at(spec, at, (kind, tuple(items)))
    raise AssertionError(choice)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data(), spec=workflows, start=st.integers(0, 10))
def test_what_compat_calls_safe_replays_the_same(
    data: st.DataObject, spec: Spec, start: int
) -> None:
    new_spec = data.draw(mutated(spec))
    v1, v2 = build(spec), build(new_spec)
    report = compare(v1, v2)
    for stage in stages(v1, start):
        if stage.status is InstanceStatus.FINISHED:
            continue  # not in flight
        if not report.breaking_for(stage.event_paths, stage.waiting_at):
            # By type alone, an event of a checkpointed section whose type the new
            # section no longer records is claimed by the node that records that type
            # now (seq(cp(run E0), run E0) -> seq(cp(run E1), run E0)); the journal's
            # recording nodes tell it apart, and it is covered. Strict replay with
            # nodes, though, refuses an event whose node moved (a step inserted before
            # it), which compat rightly calls safe: see the note on issue #11's
            # migrate check. So either reading must replay.
            assert replays_the_same(v1, v2, stage) or replays_the_same(v1, v2, stage, nodes=True), (
                f"v1 {spec}\nv2 {new_spec}\nevents at {stage.event_paths}, "
                f"waiting at {stage.waiting_at}\n{[(c.kind, c.verdict) for c in report.changes]}"
            )
