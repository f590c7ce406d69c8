"""Evaluator: advance through every step that needs no event.

``proceed`` runs pure steps, enters and leaves sections, chooses fork branches
and unwinds business errors until the machine blocks on an event or finishes.
User code called here (pure steps, conditions, transforms) must be pure: it
runs again on every replay.
"""

from __future__ import annotations

from typing import Any

from wio.algebra import (
    WIO,
    Checkpoint,
    End,
    FlatMap,
    Fork,
    HandleError,
    HandleSignal,
    Interruptible,
    Loop,
    Parallel,
    Pure,
    Recover,
    Run,
    Sequence,
    Timer,
    Transform,
)
from wio.errors import DefinitionError
from wio.interpreter.cursor import (
    ArmTimeout,
    AwaitCheckpoint,
    AwaitEvent,
    Chain,
    CheckpointFrame,
    Cursor,
    DeferredEvent,
    Evaluate,
    FailedWith,
    Finished,
    FlatMapFrame,
    Focus,
    Frame,
    HandleErrorFrame,
    InParallel,
    InterruptibleFrame,
    LoopFrame,
    Path,
    ReturnError,
    ReturnValue,
    SequenceFrame,
    StepFailure,
    StepRecord,
    TransformFrame,
    chain_items,
    detached,
    evolve,
    format_path,
)
from wio.result import Err


def start(workflow: Any, input: Any) -> Cursor:
    """The cursor of a new instance of ``workflow`` on ``input``, advanced."""
    return proceed(Cursor(focus=Evaluate(workflow, input, ()), stack=None, state=input, log=None))


def proceed(cursor: Cursor) -> Cursor:
    """Advance until the machine blocks or finishes.

    If user code raises, the returned cursor stands just before the failing
    step, with ``failure`` set; calling ``proceed`` on it again retries.
    """
    focus, stack, state, log, deferred, token, failure = cursor
    if failure is not None and type(focus) is InParallel:
        focus = _retrying(focus)
    return run(focus, stack, state, log, deferred, token)


def run(
    focus: Focus,
    stack: Frame | None,
    state: Any,
    log: Chain[StepRecord] | None,
    deferred: Chain[DeferredEvent] | None,
    token: int,
) -> Cursor:
    """`proceed`, from registers rather than a cursor."""
    # The registers live in locals while the machine runs; one Cursor is built
    # when it stops. This loop is the hot path of every step and every replay.
    while True:
        kind = type(focus)
        try:
            if kind is Evaluate:
                focus, stack, state, log, token = _evaluate(focus, stack, state, log, token)  # type: ignore[arg-type]
            elif kind is ReturnValue:
                if stack is None:
                    focus = Finished(focus.value)  # type: ignore[union-attr]
                    break
                focus, stack, state = _return_value(focus.value, stack, state)  # type: ignore[union-attr]
            elif kind is ReturnError:
                if stack is None:
                    focus = FailedWith(focus.error)  # type: ignore[union-attr]
                    break
                focus, stack, log = _return_error(focus, stack, state, log)  # type: ignore[arg-type]
            elif kind is InParallel:
                focus, state, log, deferred, token, failure = _advance_flows(
                    focus,  # type: ignore[arg-type]
                    state,
                    log,
                    deferred,
                    token,
                )
                if failure is not None:
                    return Cursor(focus, stack, state, log, deferred, token, failure)
                if type(focus) is InParallel:
                    break
            else:
                break
        except Exception as exc:
            failure = _failure_at(focus, stack, exc)
            return Cursor(focus, stack, state, log, deferred, token, failure)
    return Cursor(focus, stack, state, log, deferred, token, None)


Registers = tuple[Focus, Frame | None, Any, Chain[StepRecord] | None, int]


def _evaluate(
    focus: Evaluate, stack: Frame | None, state: Any, log: Chain[StepRecord] | None, token: int
) -> Registers:
    node, value, path = focus
    match node:
        case Run() | Recover() | HandleSignal() | Timer():
            return AwaitEvent(node, value, path), stack, state, log, token
        case Sequence():
            frame = SequenceFrame(node, 0, path, stack)
            return Evaluate(node.steps[0], value, (*path, 0)), frame, state, log, token
        case Pure():
            outcome = business_result(node, node.compute(value))
            record = _record(outcome, path, "pure", node.meta.name, None)
            state = outcome.value if isinstance(outcome, ReturnValue) else state
            return outcome, stack, state, Chain(record, log), token
        case Transform():
            inner = node.map_input(value)
            frame_t = TransformFrame(node, value, path, stack)
            return Evaluate(node.base, inner, path), frame_t, state, log, token
        case FlatMap():
            frame_f = FlatMapFrame(node, path, stack)
            return Evaluate(node.base, value, (*path, 0)), frame_f, state, log, token
        case HandleError():
            frame_h = HandleErrorFrame(node, path, stack)
            return Evaluate(node.base, value, (*path, 0)), frame_h, state, log, token
        case Checkpoint():
            frame_c = CheckpointFrame(node, value, path, token, stack)
            return Evaluate(node.base, value, (*path, 0)), frame_c, state, log, token + 1
        case Interruptible():
            if isinstance(node.trigger, Timer):  # the timeout starts with the section
                return ArmTimeout(node, value, path), stack, state, log, token
            frame_i = InterruptibleFrame(node, value, path, None, stack)
            return Evaluate(node.base, value, (*path, 0)), frame_i, state, log, token
        case Loop():
            frame_l = LoopFrame(node, False, path, stack)
            return Evaluate(node.body, value, (*path, 0)), frame_l, state, log, token
        case Parallel():
            if not node.flows:
                raise DefinitionError(
                    f"parallel {node.meta.name!r} at {format_path(path)} has no flows: "
                    "add them with .flow(name, wio)"
                )
            flows = tuple(
                Cursor(Evaluate(flow.wio, value, (*path, index)), None, value, None)
                for index, flow in enumerate(node.flows)
            )
            return InParallel(node, value, path, flows), stack, state, log, token
        case Fork():
            for index, branch in enumerate(node.branches):
                if branch.condition(value):
                    record = StepRecord(path, "fork", node.meta.name, True, branch.name)
                    following = Evaluate(branch.wio, value, (*path, index))
                    return following, stack, state, Chain(record, log), token
            names = ", ".join(repr(b.name) for b in node.branches) or "none"
            raise DefinitionError(
                f"fork {node.meta.name!r} at {format_path(path)}: no branch matched "
                f"input {value!r} (branches: {names}); add .otherwise(...)"
            )
        case End():
            record = StepRecord(path, "end", node.meta.name, True, state)
            return Finished(state), None, state, Chain(record, log), token
    raise DefinitionError(f"not a WIO node at {format_path(path)}: {node!r}")


# What a flow of a parallel section does without waiting for an event.
_MOVING = (Evaluate, ReturnValue, ReturnError, InParallel)


def _advance_flows(
    focus: InParallel,
    state: Any,
    log: Chain[StepRecord] | None,
    deferred: Chain[DeferredEvent] | None,
    token: int,
) -> tuple[
    Focus, Any, Chain[StepRecord] | None, Chain[DeferredEvent] | None, int, StepFailure | None
]:
    """Advance each flow of a parallel section as far as it goes without an event;
    then the section completes, fails with the first flow's business error, or
    waits. The flows share the enclosing log and section tokens."""
    node, input, path, flows_in = focus
    flows = list(flows_in)
    failure: StepFailure | None = None
    for index, flow in enumerate(flows):
        if flow.failure is None and type(flow.focus) in _MOVING:
            moved = run(flow.focus, flow.stack, flow.state, log, flow.deferred, token)
            log, token = moved.log, moved.next_token
            if moved.state is not flow.state:  # the flow produced a value
                state = moved.state
            flows[index] = flow = detached(moved)
        if type(flow.focus) is FailedWith:  # the first business error fails the section
            error = flow.focus.error
            record = StepRecord(path, "parallel", node.meta.name, False, error)
            return (
                ReturnError(error),
                state,
                Chain(record, log),
                _merged(flows, deferred),
                token,
                None,
            )
        if failure is None:
            failure = flow.failure
    if failure is not None:
        return InParallel(node, input, path, tuple(flows)), state, log, deferred, token, failure
    if not all(type(flow.focus) is Finished for flow in flows):
        return InParallel(node, input, path, tuple(flows)), state, log, deferred, token, None
    results = tuple(flow.focus.value for flow in flows)  # type: ignore[union-attr]
    value = results if node.combiner is None else node.combiner(input, results)
    record = StepRecord(path, "parallel", node.meta.name, True, value)
    return ReturnValue(value), value, Chain(record, log), _merged(flows, deferred), token, None


def _merged(
    flows: list[Cursor], deferred: Chain[DeferredEvent] | None
) -> Chain[DeferredEvent] | None:
    """The enclosing deferred events plus those the flows still hold, which no
    section inside them covered; an enclosing checkpoint still may."""
    for flow in flows:
        for item in chain_items(flow.deferred):
            deferred = Chain(item, deferred)
    return deferred


def _retrying(focus: InParallel) -> InParallel:
    """The section with its flows' failures cleared, so that failed steps run again."""
    flows = tuple(
        evolve(
            f, failure=None, focus=_retrying(f.focus) if type(f.focus) is InParallel else f.focus
        )
        for f in focus.flows
    )
    return InParallel(focus.node, focus.input, focus.path, flows)


def _return_value(value: Any, frame: Frame, state: Any) -> tuple[Focus, Frame | None, Any]:
    parent = frame.parent
    if type(frame) is SequenceFrame:  # the common case, first and without a pattern
        sequence, position, at, _ = frame
        following = position + 1
        if following < len(sequence.steps):
            step = sequence.steps[following]
            frame = SequenceFrame(sequence, following, at, parent)
            if isinstance(step, (Run, Recover)):  # blocks at once: await it directly
                return AwaitEvent(step, value, (*at, following)), frame, state
            return Evaluate(step, value, (*at, following)), frame, state
        return ReturnValue(value), parent, state
    match frame:
        case TransformFrame():
            output = frame.node.map_output(frame.input, value)
            return ReturnValue(output), parent, output
        case FlatMapFrame(node=node, path=path):
            following_node = node.continuation(value)
            if not isinstance(following_node, WIO):
                raise DefinitionError(
                    f"flat_map at {format_path(path)} returned {following_node!r}, not a WIO node"
                )
            return Evaluate(following_node, value, (*path, 1)), parent, state
        case HandleErrorFrame() | InterruptibleFrame():  # finished in time: disarmed
            return ReturnValue(value), parent, state
        case LoopFrame(node=loop, restarting=restarting, path=path):
            if restarting:  # on_restart is done: the next iteration begins
                return (
                    Evaluate(loop.body, value, (*path, 0)),
                    LoopFrame(loop, False, path, parent),
                    state,
                )
            if loop.condition(value):
                return ReturnValue(value), parent, state
            if loop.on_restart is None:
                return Evaluate(loop.body, value, (*path, 0)), frame, state
            restart = Evaluate(loop.on_restart, value, (*path, 1))
            return restart, LoopFrame(loop, True, path, parent), state
        case CheckpointFrame(node=node, input=input, path=path, token=token):
            return AwaitCheckpoint(node, input, value, path, token), parent, state
    raise AssertionError(f"unknown frame {frame!r}")


def _return_error(
    focus: ReturnError, frame: Frame, state: Any, log: Chain[StepRecord] | None
) -> tuple[Focus, Frame | None, Chain[StepRecord] | None]:
    error = focus.error
    if isinstance(frame, HandleErrorFrame):
        handled = frame.node.error_type
        if handled is None or isinstance(error, handled):
            record = StepRecord(frame.path, "error_handled", frame.node.meta.name, False, error)
            handler = Evaluate(frame.node.handler, (state, error), (*frame.path, 1))
            return handler, frame.parent, Chain(record, log)
    # Any other frame (a checkpoint too: rule 3) lets the error pass unchanged.
    return focus, frame.parent, log


def business_result(
    node: Pure[Any, Any, Any] | Run[Any, Any, Any] | HandleSignal[Any, Any, Any], result: Any
) -> ReturnValue | ReturnError:
    """Turn what user code returned into a value or a declared business error."""
    if not isinstance(result, Err):
        return ReturnValue(result)
    declared = node.error_type
    if declared is None or not isinstance(result.error, declared):
        expected = (
            "declares no business error" if declared is None else f"declares {declared.__name__}"
        )
        raise DefinitionError(
            f"step {node.meta.name!r} returned Err({result.error!r}) but {expected}; "
            "pass error=ErrorClass"
        )
    return ReturnError(result.error)


def completed(
    c: Cursor,
    focus: ReturnValue | ReturnError,
    path: Path,
    kind: str,
    name: str | None,
    seq: int | None = None,
) -> Cursor:
    """Record that a node completed with ``focus`` (a value or an error), and proceed."""
    state = focus.value if isinstance(focus, ReturnValue) else c.state
    log = Chain(_record(focus, path, kind, name, seq), c.log)
    return run(focus, c.stack, state, log, c.deferred, c.next_token)


def _record(
    focus: ReturnValue | ReturnError, path: Path, kind: str, name: str | None, seq: int | None
) -> StepRecord:
    if isinstance(focus, ReturnValue):
        return StepRecord(path, kind, name, True, focus.value, seq)
    return StepRecord(path, kind, name, False, focus.error, seq)


def _failure_at(focus: Focus, frame: Frame | None, exc: Exception) -> StepFailure:
    if isinstance(focus, Evaluate | InParallel):
        return StepFailure(focus.path, focus.node.meta.name, exc)
    path = frame.path if frame is not None else ()
    name = frame.node.meta.name if frame is not None else None
    return StepFailure(path, name, exc)
