"""`wio.compat`: each classification, checked against strict replay of real instances.

Every pair of versions below runs real v1 instances to every stage they pass
through (one more effect at a time, signals sent and clocks moved when they
wait), then strictly replays each stage's journal against v2. Whatever compat
calls safe for that instance must replay to the same state and status; what
it calls breaking must not.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from attrs import frozen

from tests.nodes import Boom
from tests.processes import wio
from tests.test_every_node_kind import COMPOSITE_KINDS, NAME, node_of, other_effect, other_handle
from wio import (
    WIO,
    Err,
    InstanceStatus,
    ManualClock,
    Runtime,
    Signal,
    WioError,
    event,
)
from wio.codec import EventCodec
from wio.compat import (
    CompatReport,
    Verdict,
    compare,
    runs_after,
    to_json,
    unstructure,
)
from wio.definition import event_types, signals
from wio.interpreter import Cursor, Path
from wio.interpreter.cursor import InParallel
from wio.journal import StoredEvent
from wio.model import from_json
from wio.model import to_json as model_json
from wio.parallel import innermost
from wio.paths import descend, walk_static
from wio.runtime.core import RecordedEvent
from wio.timers import TimerStarted


@frozen
class A:
    value: int


@frozen
class B:
    value: int


@frozen
class B2:
    value: int


@frozen
class C:
    value: int


@event("compat.Charged")
@frozen
class Charged:
    value: int


@event("compat.Charged")  # the same event, its class renamed
@frozen
class CardCharged:
    value: int


@frozen
class D:
    value: int


@frozen
class X:
    value: int


@frozen
class Paid:
    value: int


@frozen
class Approval:
    by: str


@frozen
class ApprovalById:
    by: int


@frozen
class Failure:
    code: int


fails = WIO.pure_from(lambda v: Err(Failure(v)), error=Failure).named("Fail")


@frozen
class Approved:
    by: str


def step(name: str, event: type[Any]) -> WIO[int, Any, int]:
    """A step that records ``event(input + 1)`` and outputs its value."""
    return WIO.run(lambda x: event(x + 1), lambda _x, e: e.value, event=event).named(name)


a, b, c, d = step("A", A), step("B", B), step("C", C), step("D", D)
x_step = step("X", X)
check = WIO.pure_from(lambda v: v).named("Check")  # records nothing, changes nothing
approve = Signal("Approve", request=Approval, response=str)
approve_by_id = Signal("Approve", request=ApprovalById, response=str)
confirm = Signal("Confirm", request=Approval, response=str)


def waits_for(signal: Signal[Any, Any]) -> WIO[int, Any, int]:
    return WIO.handle_signal(
        signal,
        lambda _x, request: Approved(str(request.by)),
        lambda x, _event: x + 100,
        lambda _x, event, _request: event.by,
        event=Approved,
    )


def handler(name: str, event: type[Any]) -> WIO[tuple[int, Failure], Any, int]:
    """An error handler: it gets the last state and the error."""
    return WIO.run(lambda pair: event(pair[0] + 1), lambda _p, e: e.value, event=event).named(name)


def save(_input: int, output: int) -> Paid:
    return Paid(output)


def restore(_input: int, event: Paid) -> int:
    return event.value


def size(*extra: tuple[str, Callable[[int], bool], WIO[int, Any, int]]) -> WIO[int, Any, int]:
    fork = WIO.fork("Size").branch("small", lambda v: v <= 10, b)
    for name, when, then in extra:
        fork = fork.branch(name, when, then)
    return fork.otherwise("big", c)


def section(*flows: tuple[str, WIO[int, Any, int]]) -> WIO[int, Any, int]:
    parallel = WIO.parallel("Both")
    for name, flow in flows:
        parallel = parallel.flow(name, flow)  # type: ignore[assignment]
    return parallel.combine(lambda _x, outputs: sum(outputs))  # type: ignore[no-any-return]


def hour(hours: int) -> WIO[int, Any, int]:
    return WIO.await_for(timedelta(hours=hours), name="Cool Down")


def counting(body: WIO[int, Any, int]) -> WIO[int, Any, int]:
    return WIO.repeat(body).until(lambda v: v >= 3, name="Three?")


@frozen
class Case:
    v1: WIO[int, Any, Any]
    v2: WIO[int, Any, Any]
    expected: list[tuple[str, Verdict]]  # (kind, verdict) of every change, in order
    inputs: tuple[int, ...] = (0,)


CASES = {
    "step added": Case(a >> b >> c, a >> x_step >> b >> c, [("step-added", Verdict.BREAKING)]),
    "pure step added": Case(a >> b >> c, a >> check >> b >> c, [("step-added", Verdict.SAFE)]),
    "step removed": Case(a >> b >> c, a >> c, [("step-removed", Verdict.BREAKING)]),
    "steps reordered": Case(a >> b >> c, b >> a >> c, [("step-moved", Verdict.BREAKING)]),
    "fork branch inserted": Case(
        a >> size() >> d,
        a >> size(("huge", lambda v: v > 100, x_step)) >> d,
        [("branch-added", Verdict.BREAKING)],
        inputs=(5, 500),  # small keeps its branch; 501 took "big" and now matches "huge"
    ),
    "fork branch appended": Case(
        a
        >> WIO.fork("Size").branch("small", lambda v: v <= 10, b).branch("big", lambda v: v > 10, c)
        >> d,
        a
        >> WIO.fork("Size")
        .branch("small", lambda v: v <= 10, b)
        .branch("big", lambda v: v > 10, c)
        .branch("huge", lambda v: v > 100, x_step)
        >> d,
        [("branch-added", Verdict.SAFE)],
        inputs=(5, 500),
    ),
    "signal renamed": Case(
        a >> waits_for(approve) >> c,
        a >> waits_for(confirm) >> c,
        [("renamed", Verdict.SAFE), ("signal-changed", Verdict.BREAKING)],
    ),
    "checkpoint replaced by a recovery": Case(
        (a >> b).checkpointed(save, restore) >> c,
        WIO.recover(restore) >> c,
        [("checkpoint-replaced-by-recovery", Verdict.RECOVERY)],
    ),
    "node renamed": Case(a >> b >> c, a >> b.named("Bee") >> c, [("renamed", Verdict.SAFE)]),
    "sequence regrouped and named": Case(a >> b >> c >> d, a >> (b >> c).named("Middle") >> d, []),
    "event type changed": Case(
        a >> b >> c, a >> step("B", B2) >> c, [("event-type-changed", Verdict.BREAKING)]
    ),
    "event class renamed, stored name kept": Case(
        a >> step("B", Charged) >> c,
        a >> step("B", CardCharged) >> c,
        [("event-class-renamed", Verdict.SAFE)],
    ),
    "timer duration changed": Case(
        a >> hour(1) >> c, a >> hour(2) >> c, [("timer-changed", Verdict.SAFE)]
    ),
    "timer moved": Case(
        a >> hour(1) >> c,
        a >> check >> hour(1) >> c,
        [("step-added", Verdict.SAFE), ("path-changed", Verdict.BREAKING)],
    ),
    "parallel flow added": Case(
        a >> section(("left", b), ("right", c)) >> d,
        a >> section(("left", b), ("right", c), ("extra", x_step)) >> d,
        [("flow-added", Verdict.BREAKING)],
    ),
    "error handler added": Case(
        a >> b >> c,
        a >> b.handle_error_with(x_step) >> c,
        [("error-handler-added", Verdict.SAFE)],
    ),
    "step added inside a checkpointed section": Case(
        (a >> b).checkpointed(save, restore) >> c,
        (a >> x_step >> b).checkpointed(save, restore) >> c,
        [("step-added", Verdict.SAFE_PAST)],
    ),
    "section wrapped in a checkpoint": Case(
        a >> b >> c,
        (a >> b).checkpointed(save, restore) >> c,
        [("checkpoint-added", Verdict.BREAKING)],
    ),
    "fork branch removed": Case(
        a >> size(("huge", lambda v: v > 100, x_step)) >> d,
        a >> size() >> d,
        [("branch-removed", Verdict.BREAKING)],
        inputs=(5, 50, 500),
    ),
    "parallel flow removed": Case(
        a >> section(("left", b), ("right", c)) >> d,
        a >> section(("right", c)) >> d,
        [("flow-removed", Verdict.BREAKING), ("path-changed", Verdict.BREAKING)],
    ),
    "checkpoint removed, its steps kept": Case(
        (a >> b).checkpointed(save, restore) >> c,
        a >> b >> c,
        [("checkpoint-removed", Verdict.BREAKING)],
    ),
    "timeout added": Case(
        a >> b >> c,
        a >> b.timeout(timedelta(hours=1)) >> c,
        [("interruption-added", Verdict.BREAKING)],
    ),
    "signal interruption added": Case(
        a >> b >> c,
        a >> b.interrupted_by(waits_for(approve)) >> c,
        [("interruption-added", Verdict.SAFE)],
    ),
    "inner error handler added under an outer one": Case(
        a >> (b >> fails).handle_error_with(handler("Refund", D)),
        a
        >> (b >> fails.handle_error_with(handler("Retry", X))).handle_error_with(
            handler("Refund", D)
        ),
        # The outer handler no longer sees Failure: it comes from the new inner one.
        [("handled-error-changed", Verdict.BREAKING), ("error-handler-added", Verdict.BREAKING)],
    ),
    "signal request type changed": Case(
        a >> waits_for(approve) >> c,
        a >> waits_for(approve_by_id) >> c,
        [("signal-request-changed", Verdict.BREAKING)],
    ),
    "loop body grows": Case(
        counting(a) >> c, counting(a >> x_step) >> c, [("step-added", Verdict.BREAKING)]
    ),
}


@frozen
class Stage:
    """A v1 instance stopped after some of its effects."""

    input: int
    events: tuple[Any, ...]
    event_paths: tuple[Path, ...]  # the old model path of each event's node, in order
    nodes: tuple[str | None, ...]  # each event's recording node, as the journal stores it
    waiting_at: tuple[Path, ...]  # the nodes it waits at (one per running parallel flow)
    state: Any
    status: InstanceStatus


def stages(workflow: WIO[int, Any, Any], input: int) -> list[Stage]:
    """Every stage a v1 instance passes through, from creation to its end."""
    clock = ManualClock()
    instance = Runtime(workflow, clock=clock).create("v1", input)
    found = [_stage(instance, input)]
    for _ in range(1_000):  # a loop of timers takes a few hundred
        if instance.status in (InstanceStatus.FINISHED, InstanceStatus.FAILED):
            return found
        if not instance.step():
            signals = instance.expected_signals()
            if signals:
                instance.signal(signals[0], Approval("ops"))
            else:
                clock.advance(timedelta(days=1).total_seconds())  # a timer waits
                continue
        found.append(_stage(instance, input))
    raise AssertionError("the v1 instance did not finish")


def _stage(instance: Any, input: int) -> Stage:
    by_seq = {record.event_seq: record.path for record in instance.progress if record.event_seq}
    for recorded in instance.events:
        event = innermost(recorded.event)
        if isinstance(event, TimerStarted):  # a started timer completes no node yet
            by_seq[recorded.seq] = tuple(int(p) for p in event.timer.strip("/").split("/") if p)
    assert sorted(by_seq) == [r.seq for r in instance.events], "every event has its node"
    return Stage(
        input,
        tuple(r.event for r in instance.events),
        tuple(by_seq[seq] for seq in sorted(by_seq)),
        tuple(r.node for r in instance.events),
        tuple(_waiting(instance._core.cursor)),  # where the instance stands, from its cursor
        instance.state,
        instance.status,
    )


def _waiting(cursor: Cursor) -> list[Path]:
    focus = cursor.focus
    if isinstance(focus, InParallel):
        return [path for flow in focus.flows for path in _waiting(flow)]
    path = getattr(focus, "path", None)
    return [] if path is None else [path]


def _stored_name(event_type: type[Any]) -> str:
    return EventCodec([event_type]).name_of(event_type)


def _through_the_journal(
    v1: WIO[int, Any, Any], v2: WIO[int, Any, Any], numbered: tuple[int, Any]
) -> Any:
    seq, event = numbered
    stored = EventCodec(event_types(v1), signals(v1)).encode(event)
    # v2 keeps v1's event classes and signals registered (docs/checkpointing.md),
    # unless it has its own under the same name.
    kept = {_stored_name(t): t for t in event_types(v1)}
    kept |= {_stored_name(t): t for t in event_types(v2)}
    known = {s.name: s for s in signals(v1)} | {s.name: s for s in signals(v2)}
    codec = EventCodec(kept.values(), known.values())
    return codec.decode(StoredEvent("v1", seq, stored.type, stored.version, stored.payload, None))


def replays_the_same(
    v1: WIO[int, Any, Any], workflow: WIO[int, Any, Any], stage: Stage, *, nodes: bool = False
) -> bool:
    """Whether strict replay of the stage's journal against ``workflow`` takes every
    event and reaches the state v1 had, from where the instance can go on: it
    neither waits for a recovery event only an operator can give, nor is running
    when v1 had finished. (Its status may differ otherwise: a step inserted where
    it stands runs next, and a step removed there need not run.) The events go through the journal's codec first: v1
    encodes them, v2 decodes them, as when v2 loads a v1 journal. With ``nodes``, each
    event keeps the node that recorded it, as a journal stores it: checkpoints then
    shield their sections' events by node, not only by type."""
    try:
        events = [
            RecordedEvent(
                seq, _through_the_journal(v1, workflow, (seq, event)), node if nodes else None
            )
            for seq, (event, node) in enumerate(zip(stage.events, stage.nodes, strict=True), 1)
        ]
        replayed = Runtime(workflow, strict=True).rebuild("v2", stage.input, events)
    except WioError:
        return False
    stuck = "recovery event" in replayed.waiting_for() and replayed.status is InstanceStatus.WAITING
    finished = stage.status is InstanceStatus.FINISHED
    return bool(
        replayed.state == stage.state
        and not stuck
        and (replayed.status is InstanceStatus.FINISHED or not finished)
    )


@pytest.mark.parametrize("name", CASES)
def test_each_change_is_classified_and_matches_strict_replay(name: str) -> None:
    case = CASES[name]
    report = compare(case.v1, case.v2)
    assert [(c.kind, c.verdict) for c in report.changes] == case.expected, to_json(report)
    assert report.compatible == all(v is Verdict.SAFE for _, v in case.expected)
    seen = {True: 0, False: 0}
    for input in case.inputs:
        for stage in stages(case.v1, input):
            breaking = report.breaking_for(stage.event_paths, stage.waiting_at)
            same = replays_the_same(case.v1, case.v2, stage)
            assert same == (not breaking), (
                f"{name}: input {input}, events {stage.event_paths}: compat says "
                f"{[c.kind for c in breaking] or 'safe'} but replay "
                f"{'matches' if same else 'diverges'}"
            )
            seen[same] += 1
    # Each pair shows both sides unless every change is safe for every instance.
    assert seen[True] > 0
    assert seen[False] > 0 or report.compatible


def test_the_recovery_moves_exactly_the_instances_past_the_checkpoint() -> None:
    case = CASES["checkpoint replaced by a recovery"]
    report = compare(case.v1, case.v2)
    (change,) = report.changes
    assert change.old_path == change.new_path == (0,)
    movable = []
    for stage in stages(case.v1, 0):
        can_move = not report.breaking_for(stage.event_paths)
        assert can_move == ((0,) in stage.event_paths)
        movable.append(can_move)
        replayed = Runtime(case.v2, strict=True).rebuild("v2", 0, stage.events)
        if not can_move:  # before or inside the section: it waits for an operator,
            assert "recovery event Paid" in replayed.waiting_for()  # its events held
            assert not replayed.unmatched_events
            replayed.deliver(Paid(2))
        assert replayed.advance() == InstanceStatus.FINISHED and replayed.result == 3
    assert movable == [False, False, False, True, True]  # created, A, B | Paid, C


def test_a_change_inside_a_checkpoint_is_safe_only_past_it() -> None:
    report = compare(*_pair("step added inside a checkpointed section"))
    (change,) = report.changes
    assert change.old_path is None and change.new_path == (0, 0, 1)
    assert [(c.kind, c.path) for c in change.when_any] == [("events_from", (0, 0, 1))]
    assert [(c.kind, c.path) for c in change.unless_any] == [("past", (0,))]
    assert report.breaking_for([(0, 0, 0), (0, 0, 1)]) == (change,)
    assert report.breaking_for([(0, 0, 0), (0, 0, 1), (0,)]) == ()
    assert (
        "safe only for instances past checkpoint /0" in unstructure(report)["changes"][0]["impact"]
    )


def _pair(name: str) -> tuple[WIO[int, Any, Any], WIO[int, Any, Any]]:
    return CASES[name].v1, CASES[name].v2


def test_model_json_compares_like_the_workflows() -> None:
    for name, case in CASES.items():
        if name in ("signal request type changed", "event class renamed, stored name kept"):
            continue  # the model JSON holds neither request types nor stored names
        from_models = compare(from_json(model_json(case.v1)), from_json(model_json(case.v2)))
        from_code = compare(case.v1, case.v2)
        assert _verdicts(from_models) == _verdicts(from_code), name


def _verdicts(report: CompatReport) -> list[tuple[Any, ...]]:
    """All but the details, which name event types only the code knows."""
    return [
        (c.kind, c.verdict, c.old_path, c.new_path, c.when_any, c.unless_any)
        for c in report.changes
    ]


def test_code_shows_event_types_the_model_json_leaves_out() -> None:
    @frozen
    class Settled:
        value: int

    def settled(_input: int, event: Settled) -> int:
        return event.value

    v1 = (a >> b).checkpointed(save, restore) >> c
    v2 = WIO.recover(settled, event=Settled) >> c
    (change,) = compare(v1, v2).changes
    assert change.verdict is Verdict.BREAKING and "takes Settled" in change.detail
    (blind,) = compare(from_json(model_json(v1)), from_json(model_json(v2))).changes
    assert blind.verdict is Verdict.RECOVERY


def test_fork_branches_run_as_alternatives() -> None:
    branching = frozenset({(1,)})
    assert runs_after((2,), (1, 0, 3), branching)  # after the fork
    assert not runs_after((1, 1), (1, 0, 3), branching)  # another branch
    assert runs_after((1, 0, 4), (1, 0, 3), branching)
    assert runs_after((0,), (0, 1), branching)  # a checkpoint's event follows its section
    assert not runs_after((0, 0), (1,), branching)


def test_a_changed_condition_is_code_the_model_does_not_show() -> None:
    """The documented limit: only replay of real journals catches it."""
    v1 = a >> WIO.fork("Size").branch("small", lambda v: v <= 10, b).otherwise("big", c)
    v2 = a >> WIO.fork("Size").branch("small", lambda v: v <= 1000, b).otherwise("big", c)
    assert compare(v1, v2).changes == ()
    past_the_fork = stages(v1, 500)[2]
    assert not replays_the_same(v1, v2, past_the_fork)


def test_identical_versions_have_no_changes() -> None:
    report = compare(CASES["step added"].v1, CASES["step added"].v1)
    assert report.changes == () and report.compatible


def test_past_a_checkpoint_means_its_latest_run_completed() -> None:
    # In a loop, a section runs again: its earlier checkpoint event does not
    # shield the events of the run under way (found by tests/test_compat_property.py).
    v1 = counting(a >> (b >> hour(1)).checkpointed(save, restore))
    v2 = counting(a >> (b >> check >> hour(1)).checkpointed(save, restore))
    report = compare(v1, v2)
    assert [(c.kind, c.verdict) for c in report.changes] == [
        ("step-added", Verdict.SAFE),
        ("path-changed", Verdict.SAFE_PAST),
    ]
    again = next(
        s
        for s in stages(v1, 0)
        if s.event_paths.count((0, 1)) == 1 and s.event_paths[-1] == (0, 1, 0, 1)
    )
    assert report.breaking_for(again.event_paths, again.waiting_at)
    assert not replays_the_same(v1, v2, again)


def test_a_checkpoint_event_from_an_earlier_iteration_still_needs_a_taker() -> None:
    # Found by tests/test_compat_property.py: in a loop, an instance inside the
    # section's second run is not past the checkpoint, but holds its first event.
    v1 = WIO.repeat(a >> (b >> c).checkpointed(save, restore)).until(lambda v: v >= 6)
    v2 = WIO.repeat(a >> b >> c).until(lambda v: v >= 6)
    report = compare(v1, v2)
    assert [(c.kind, c.verdict) for c in report.changes] == [
        ("checkpoint-removed", Verdict.BREAKING)
    ]
    again = next(
        s for s in stages(v1, 0) if (0, 1) in s.event_paths and s.event_paths[-1] == (0, 1, 0, 0)
    )
    assert report.breaking_for(again.event_paths, again.waiting_at)
    assert not replays_the_same(v1, v2, again)


def test_a_loop_that_began_again_is_not_past_the_checkpoint_in_it() -> None:
    # Found by tests/test_compat_property.py: past the checkpoint in the first
    # iteration, the instance began a second one, and waits at the recovery there.
    v1 = WIO.repeat(a >> (b >> c).checkpointed(save, restore)).until(lambda v: v >= 6)
    v2 = WIO.repeat(a >> WIO.recover(restore)).until(lambda v: v >= 6)
    report = compare(v1, v2)
    first = next(s for s in stages(v1, 0) if s.event_paths[-1:] == ((0, 1),))
    again = next(s for s in stages(v1, 0) if s.event_paths[-2:] == ((0, 1), (0, 0)))
    assert report.breaking_for(first.event_paths, first.waiting_at) == ()
    assert replays_the_same(v1, v2, first)
    assert report.breaking_for(again.event_paths, again.waiting_at)
    assert not replays_the_same(v1, v2, again)


def test_breaking_for_reads_a_journal_in_order() -> None:
    # The loop body's events repeat the same paths; a repeat means a new iteration.
    report: CompatReport = compare(*_pair("loop body grows"))
    assert report.breaking_for([(0, 0)]) == ()
    assert len(report.breaking_for([(0, 0), (0, 0)])) == 1


def test_a_step_appended_after_every_recording_step_breaks_no_in_flight_instance() -> None:
    v1, v2 = a >> b, a >> b >> c
    (change,) = compare(v1, v2).changes
    assert (change.kind, change.verdict) == ("step-added", Verdict.SAFE)
    in_flight = [s for s in stages(v1, 0) if s.status is not InstanceStatus.FINISHED]
    assert len(in_flight) == 2
    assert all(replays_the_same(v1, v2, stage) for stage in in_flight)
    # Inserted before the last step instead, it breaks the instances that reached it.
    (inserted,) = compare(v1, a >> c >> b).changes
    assert inserted.verdict is Verdict.BREAKING
    assert [c.kind for c in compare(v1, a >> c >> b).breaking_for([(0,), (1,)])] == ["step-added"]


# -- the command, run as a separate process ------------------------------------

V1 = "docs/examples/evolution_v1.py:workflow"
V2 = "docs/examples/evolution_v2.py:workflow"


def test_cli_prints_the_report_and_exits_1_when_some_instances_break() -> None:
    done = wio("compat", V1, V2)
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"compat {V1} -> {V2}"
    assert lines[1].split() == ["recovery", "checkpoint-replaced-by-recovery", "at", "/0"]
    assert "instances past checkpoint /0 can move" in done.stdout
    assert lines[-1].startswith("1 change(s): 0 safe, 0 safe-past, 0 breaking, 1 recovery")


def test_cli_json_is_the_documented_structure(tmp_path: Any) -> None:
    done = wio("compat", V1, V2, "--json")
    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout) == {
        "format": 1,
        "compatible": False,
        "counts": {"safe": 0, "safe-past": 0, "breaking": 0, "recovery": 1},
        "branching": [],
        "loops": [],
        "changes": [
            {
                "kind": "checkpoint-replaced-by-recovery",
                "verdict": "recovery",
                "old_path": "/0",
                "new_path": "/0",
                "old_name": None,
                "new_name": None,
                "detail": "the checkpointed section at /0 is replaced by a recovery that "
                "consumes its checkpoint event PaymentSettled",
                "impact": "instances past checkpoint /0 can move; those inside or before it "
                "cannot, unless an operator delivers the recovery event",
                "when_any": [{"not_past": "/0"}],
                "unless_any": [],
            }
        ],
    }


def test_cli_takes_model_json_files(tmp_path: Any) -> None:
    old = tmp_path / "v1.json"
    exported = wio("render", V1, "--format", "json", "-o", str(old))
    assert exported.returncode == 0, exported.stderr
    same = wio("compat", str(old), V1, "--json")
    assert same.returncode == 0, same.stderr
    assert json.loads(same.stdout)["changes"] == []
    assert json.loads(same.stdout)["compatible"] is True
    moved = wio("compat", str(old), V2, "--json")
    assert moved.returncode == 1
    assert [c["kind"] for c in json.loads(moved.stdout)["changes"]] == [
        "checkpoint-replaced-by-recovery"
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((V1,), "the following arguments are required: NEW"),
        (("missing.json", V2), "cannot read model JSON missing.json"),
        (("docs/examples/order.py:nothing", V2), "has no attribute 'nothing'"),
        (("BAD_JSON", V2), "unknown node _type 'Nope'"),
        (("BROKEN_MODULE", V2), "cannot load"),
    ],
)
def test_cli_usage_errors_exit_2_without_a_traceback(
    tmp_path: Any, args: tuple[str, ...], message: str
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"_type": "Nope"}')
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('import fails')\n")
    replaced = [
        {"BAD_JSON": str(bad), "BROKEN_MODULE": f"{broken}:workflow"}.get(a, a) for a in args
    ]
    done = wio("compat", *replaced)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert message in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("kind", COMPOSITE_KINDS, ids=lambda k: k.__name__)
def test_compat_sees_a_change_inside_every_kind_of_node(kind: type[Any]) -> None:
    before = node_of(kind)
    after = node_of(kind, WIO.run(other_effect, other_handle, error=Boom).named(NAME))
    (step,) = [
        node
        for node in walk_static(before)
        if getattr(node, "meta", None) and node.meta.name == NAME
    ]
    where = next(path for node, path in descend(before) if node is step)
    report = compare(before, after)
    assert [(c.kind, c.old_path, c.new_path) for c in report.changes] == [
        ("event-type-changed", where, where)
    ]
    assert report.breaking_for([where]) == report.changes
    assert compare(before, node_of(kind)).changes == ()


@frozen
class Voided:
    value: int


def test_the_cleanup_flows_of_two_versions_are_compared() -> None:
    """A cleanup (`Workflow.on_cancel`) is a tree of its own: its changes break the
    instances whose cleanup recorded events, and only those; the workflow's own
    changes never break an instance for its cleanup's events."""
    from wio import Workflow

    void = WIO.run(lambda v: Voided(v), lambda v, e: e.value, event=Voided).named("C")

    def version(flow: WIO[int, Any, Any], cleanup: WIO[int, Any, Any] | None) -> Any:
        return Workflow(flow, name="voiding", input_type=int, on_cancel=cleanup)

    v1 = version(a >> b, c)
    cleaning_up = [(0,), (1,), (-1,)]  # a, b, then the cleanup's step after a cancel
    for old, new in [
        (v1, version(a >> b, void)),
        (v1, from_json(model_json(version(a >> b, void)))),
    ]:
        (changed,) = compare(old, new).changes
        assert (changed.kind, changed.old_path, changed.verdict) == (
            "event-type-changed", (-1,), Verdict.BREAKING
        )  # fmt: skip
        report = compare(old, new)
        assert report.breaking_for(cleaning_up) == (changed,)
        assert report.breaking_for([(0,), (1,)]) == ()  # not cancelled: not affected
    (added,) = compare(version(a >> b, None), v1).changes
    assert (added.kind, added.new_path, added.verdict) == ("cleanup-added", (-1,), Verdict.SAFE)
    removed = compare(v1, version(a >> b, None))
    assert [c.kind for c in removed.changes] == ["cleanup-removed"]
    assert removed.breaking_for(cleaning_up) == removed.changes
    assert removed.breaking_for([(0,)]) == ()
    # A step inserted in the workflow breaks those past it, not for a cleanup's events.
    inserted = compare(v1, version(a >> d >> b, c))
    assert inserted.breaking_for([(0,), (-1,)]) == ()
    assert inserted.breaking_for([(0,), (1,)]) != ()
    assert compare(v1, version(a >> b, c)).changes == ()


def test_wio_compat_compares_the_cleanup_flow_of_a_workflow_target(tmp_path: Any) -> None:
    from wio import Workflow
    from wio.loading import load_definition

    shop = load_definition("docs/examples/shop.py:workflow")
    without = tmp_path / "without-cleanup.json"
    without.write_text(model_json(Workflow(shop.wio, name="shop")))
    removed = wio("compat", "docs/examples/shop.py:workflow", str(without))
    assert removed.returncode == 1, removed.stdout + removed.stderr
    assert "breaking   cleanup-removed                  old /-1" in removed.stdout
    added = wio("compat", str(without), "docs/examples/shop.py:workflow")
    assert added.returncode == 0 and "safe       cleanup-added" in added.stdout, added.stdout
