"""Evaluator: apply one recorded event to a cursor.

The same function serves the live run (the event was just produced by the
next effect) and replay (the event comes from the journal), so a replayed
instance reaches exactly the state of the live one.

An event that no node accepts is never dropped silently: it comes back as
"unmatched", with what the workflow was waiting for. Inside a checkpointed
section, or while a `recover` node waits, it is first "deferred", because a
later checkpoint event may legitimately skip the section it belonged to
(checkpoint rule 2). The checkpoint drops only the deferred events recorded
inside its section; others stay deferred, with the reason, to be reported.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple, assert_never

from wio.algebra import Checkpoint, HandleSignal, Recover, Run, RunChild, Timer, escaping_errors
from wio.children import ChildFinished, ChildStarted
from wio.codec import decode_input, stored_type
from wio.errors import StepFailed, WioError
from wio.for_each import InElement
from wio.interpreter.cursor import (
    ArmTimeout,
    AwaitCheckpoint,
    AwaitChild,
    AwaitEvent,
    AwaitTimer,
    Chain,
    CheckpointFrame,
    CompensatedFrame,
    CompensatingFrame,
    Cursor,
    DeferredEvent,
    EmbedFrame,
    Evaluate,
    FailedWith,
    Finished,
    FlatMapFrame,
    Frame,
    HandleErrorFrame,
    InForEach,
    InParallel,
    InterruptibleFrame,
    LoopFrame,
    ReturnError,
    ReturnValue,
    SequenceFrame,
    TransformFrame,
    UndoFrame,
    Waiting,
    build,
    chain_items,
    detached,
    evolve,
)
from wio.interpreter.proceed import (
    business_result,
    completed,
    further,
    proceed,
    proceed_from,
    settle_for_each,
    with_element,
)
from wio.interpreter.shield import section_event_types
from wio.interpreter.state import describe_wait
from wio.parallel import InFlow, innermost
from wio.paths import (
    BASE,
    INTERRUPTION_HANDLER,
    TRIGGER,
    Path,
    child,
    child_segment,
    format_path,
    within_formatted,
)
from wio.progress import StepRecord
from wio.result import Err
from wio.signals import SignalHandled
from wio.timers import TimerReleased, TimerStarted
from wio.undecoded import UndecodedEvent

Outcome = Literal["accepted", "deferred", "unmatched"]


class Applied(NamedTuple):
    """The result of applying one event."""

    cursor: Cursor
    outcome: Outcome
    expected: str | None = None  # for "unmatched": what the workflow was waiting for
    node: Path | None = None  # for "accepted": the node that took the event


def apply_event(cursor: Cursor, seq: int, event: Any, node: str | None = None) -> Applied:
    """Apply event number ``seq``, recorded by the node at model path ``node`` if
    known; user code in handlers may raise `StepFailed`."""
    match focus := cursor.focus:
        case AwaitEvent():  # the common case, first
            if type(focus.node) is Run:  # the commonest: a step's own event
                if isinstance(event, focus.node.event_type):
                    ran = _ran(cursor, focus, seq, event)
                    return build(Applied, (ran, "accepted", None, focus.path))
            elif accepts(focus.node, event, focus.path):
                accepted = _accept(cursor, focus, seq, event)
                return build(Applied, (accepted, "accepted", None, focus.path))
        case InParallel():
            if type(event) is InFlow:
                routed = _apply_in_flow(cursor, focus, seq, event, node)
                if routed is not None:
                    return routed
        case InForEach():
            if type(event) is InElement and event.section == focus.section:
                routed = _apply_in_element(cursor, focus, seq, event, node)
                if routed is not None:
                    return routed
        case AwaitChild():
            if isinstance(event, ChildFinished) and event.child == focus.child:
                outcome = child_outcome(focus.node, focus.input, focus.path, event)
                name = focus.node.meta.name
                done = completed(cursor, outcome, focus.path, "child", name, seq)
                return Applied(done, "accepted", None, focus.path)
        case AwaitTimer():
            if _timer_event(event, TimerReleased, focus.path):
                outcome = ReturnValue(focus.input)  # a timer passes its input on
                done = completed(cursor, outcome, focus.path, "timer", focus.node.meta.name, seq)
                return Applied(done, "accepted", None, focus.path)
        case ArmTimeout():
            trigger = child(focus.path, TRIGGER)
            if _timer_event(event, TimerStarted, trigger):
                armed = InterruptibleFrame(
                    focus.node, focus.input, focus.path, event.release_at, cursor.stack
                )
                section = Evaluate(focus.node.base, focus.input, child(focus.path, BASE))
                moved = proceed(evolve(cursor, focus=section, stack=armed))
                return Applied(moved, "accepted", None, trigger)
        case AwaitCheckpoint():
            if isinstance(event, focus.node.event_type):
                recover = focus.node.recover_state
                output = _call(recover, focus.path, "recover_state", focus.input, event)
                done = _checkpoint_done(
                    cursor, focus.node, focus.path, focus.token, output, seq, skipped=False
                )
                return Applied(proceed(done), "accepted", None, focus.path)
        case Evaluate() | ReturnValue() | ReturnError() | Finished() | FailedWith():
            pass  # not waiting for an event: only an enclosing section may take it
        case _:
            assert_never(focus)

    frame = _frame_accepting(cursor.stack, event)
    if isinstance(frame, CheckpointFrame):
        # Rule 2: the section's checkpoint completes it, however far it got.
        output = _call(frame.node.recover_state, frame.path, "recover_state", frame.input, event)
        done = _checkpoint_done(
            cursor, frame.node, frame.path, frame.token, output, seq, skipped=True
        )
        return Applied(proceed(evolve(done, stack=frame.parent)), "accepted", None, frame.path)
    if isinstance(frame, InterruptibleFrame):
        return Applied(
            _interrupt(cursor, frame, seq, event), "accepted", None, child(frame.path, TRIGGER)
        )

    token = _innermost_section(cursor)
    if token is not None:
        deferred = Chain(DeferredEvent(seq, event, token, node), cursor.deferred)
        return Applied(evolve(cursor, deferred=deferred), "deferred")
    return Applied(cursor, "unmatched", describe_wait(cursor))


def _apply_in_flow(
    cursor: Cursor, focus: InParallel, seq: int, event: InFlow, node: str | None
) -> Applied | None:
    """Hand a flow's event to that flow; None if no flow of this section takes it."""
    index = _flow_index(focus, event.flow)
    if index is None:
        return None
    flow = focus.flows[index]
    ahead = cursor.ahead
    inside = evolve(
        flow,
        log=cursor.log,
        next_token=cursor.next_token,
        ahead=None if ahead is None else ahead.within(focus.path, index),
    )
    applied = apply_event(inside, seq, event.event, node)
    if applied.outcome == "unmatched":
        return None  # an enclosing section may still take it
    after = applied.cursor
    flows = list(focus.flows)
    flows[index] = detached(after)
    section = InParallel(focus.node, focus.input, focus.path, tuple(flows))
    moved = proceed_from(
        section,
        cursor.stack,
        after.state,
        after.log,
        cursor.deferred,
        after.next_token,
        further(ahead, after.ahead),
    )
    return Applied(moved, applied.outcome, None, applied.node)


def _apply_in_element(
    cursor: Cursor, focus: InForEach, seq: int, event: InElement, node: str | None
) -> Applied | None:
    """Hand an element's event to that element; None if no element has its key.

    The elements share their body's model paths, so recording nodes cannot tell
    them apart: sections inside an element replay without look-ahead."""
    index = focus.positions.get(event.key)
    if index is None:
        return None
    element = focus.elements[index]
    inside = evolve(element, log=cursor.log, next_token=cursor.next_token, ahead=None)
    applied = apply_event(inside, seq, event.event, node)
    if applied.outcome == "unmatched":
        return None  # an enclosing section may still take it
    after = applied.cursor
    moved = detached(after)
    state = after.state if after.state is not element.state else cursor.state
    section = with_element(focus, index, moved)
    focus_, state, log, deferred, token, failure = settle_for_each(
        section, moved, state, after.log, cursor.deferred, after.next_token
    )
    ahead = cursor.ahead
    if failure is not None or type(focus_) is InForEach:
        stopped = Cursor(focus_, cursor.stack, state, log, deferred, token, failure, ahead)
        return Applied(stopped, applied.outcome, None, applied.node)
    moved_on = proceed_from(focus_, cursor.stack, state, log, deferred, token, ahead)
    return Applied(moved_on, applied.outcome, None, applied.node)


def _flow_index(focus: InParallel, flow: str) -> int | None:
    index = child_segment(focus.path, flow)
    return index if index is not None and index < len(focus.flows) else None


def accepts(node: Waiting, event: Any, path: Path) -> bool:
    """Whether a waiting node takes ``event``: a signal takes only its own record."""
    match node:
        case HandleSignal():
            return (
                isinstance(event, SignalHandled)
                and event.signal == node.signal.name
                and isinstance(event.event, node.event_type)
            )
        case Timer():
            return _timer_event(event, TimerStarted, path)
        case Run() | Recover():
            return isinstance(event, node.event_type)
        case RunChild():
            return isinstance(event, ChildStarted) and event.node in ("", format_path(path))
        case _:
            assert_never(node)


def _ran(cursor: Cursor, focus: AwaitEvent, seq: int, event: Any) -> Cursor:
    """A run step's event handled: `completed` with what its handler returned,
    written out for a value (what nearly every replayed event is)."""
    node = focus.node
    assert isinstance(node, Run)
    try:
        result = node.handle(focus.input, event)
    except Exception as exc:
        raise StepFailed(node.meta.name or "<unnamed>", format_path(focus.path), exc) from exc
    if isinstance(result, Err):
        return completed(
            cursor, business_result(node, result), focus.path, "run", node.meta.name, seq
        )
    record = build(StepRecord, (focus.path, "run", node.meta.name, True, result, seq, False, ()))
    return proceed_from(
        build(ReturnValue, (result,)),
        cursor.stack,
        result,
        build(Chain, (record, cursor.log)),
        cursor.deferred,
        cursor.next_token,
        cursor.ahead,
    )


def _accept(cursor: Cursor, focus: AwaitEvent, seq: int, event: Any) -> Cursor:
    match node := focus.node:
        case Run():
            return _ran(cursor, focus, seq, event)
        case Timer():  # started: now it waits for its release
            waiting = AwaitTimer(node, focus.input, focus.path, event.release_at)
            return evolve(cursor, focus=waiting)
        case RunChild():  # started: now it waits for the child's end
            return evolve(cursor, focus=AwaitChild(node, focus.input, focus.path, event.child))
        case HandleSignal():
            result = _call(node.update, focus.path, node.meta.name, focus.input, event.event)
            outcome = business_result(node, result)
            return completed(cursor, outcome, focus.path, "signal", node.meta.name, seq)
        case Recover():
            output = _call(node.recover_state, focus.path, "recover_state", focus.input, event)
            settled = _settle_deferred(cursor.deferred, cursor.next_token, node, focus.path)
            covered = evolve(cursor, deferred=settled)
            return completed(
                covered, ReturnValue(output), focus.path, "recover", node.meta.name, seq
            )
        case _:
            assert_never(node)


def _checkpoint_done(
    cursor: Cursor,
    node: Checkpoint[Any, Any, Any],
    path: Path,
    token: int,
    output: Any,
    seq: int,
    *,
    skipped: bool,
) -> Cursor:
    record = StepRecord(path, "checkpoint", None, True, output, seq, section_skipped=skipped)
    return evolve(
        cursor,
        focus=ReturnValue(output),
        state=output,
        log=Chain(record, cursor.log),
        deferred=_settle_deferred(cursor.deferred, token, node, path),
    )


def _frame_accepting(
    frame: Frame | None, event: Any
) -> CheckpointFrame | InterruptibleFrame | None:
    """The innermost enclosing section that takes ``event``: a checkpointed
    section its checkpoint event, an interruptible one its trigger's event."""
    while frame is not None:
        match frame:
            case CheckpointFrame():
                if isinstance(event, frame.node.event_type):
                    return frame
            case InterruptibleFrame():
                if _triggers(frame, event):
                    return frame
            case (
                SequenceFrame() | TransformFrame() | EmbedFrame() | FlatMapFrame()
                | HandleErrorFrame() | LoopFrame() | CompensatedFrame() | CompensatingFrame()
                | UndoFrame()
            ):  # fmt: skip
                pass  # takes no event of its own
            case _:
                assert_never(frame)
        frame = frame.parent
    return None


def _triggers(frame: InterruptibleFrame, event: Any) -> bool:
    at = child(frame.path, TRIGGER)
    match trigger := frame.node.trigger:
        case HandleSignal():
            return accepts(trigger, event, at)
        case Timer():
            armed = frame.release_at is not None
            return armed and _timer_event(event, TimerReleased, at)
        case _:
            assert_never(trigger)


def _interrupt(cursor: Cursor, frame: InterruptibleFrame, seq: int, event: Any) -> Cursor:
    """Drop the rest of the section: the trigger completes, then the handler runs instead."""
    node, trigger, at = frame.node, frame.node.trigger, child(frame.path, TRIGGER)
    unwound = evolve(cursor, stack=frame.parent)
    outcome: ReturnValue | ReturnError
    match trigger:
        case HandleSignal():
            result = _call(trigger.update, at, trigger.meta.name, frame.input, event.event)
            outcome, kind = business_result(trigger, result), "signal"
        case Timer():
            outcome, kind = ReturnValue(frame.input), "timer"
        case _:
            assert_never(trigger)
    if node.handler is None or not isinstance(outcome, ReturnValue):
        return completed(unwound, outcome, at, kind, trigger.meta.name, seq)
    record = StepRecord(at, kind, trigger.meta.name, True, outcome.value, seq)
    handler = Evaluate(node.handler, outcome.value, child(frame.path, INTERRUPTION_HANDLER))
    return proceed(
        evolve(unwound, focus=handler, log=Chain(record, cursor.log), state=outcome.value)
    )


def _timer_event(event: Any, kind: type[Any], path: Path) -> bool:
    """Whether ``event`` is a timer event of ``kind`` for the timer at ``path``."""
    return isinstance(event, kind) and event.timer in ("", format_path(path))


def _innermost_section(cursor: Cursor) -> int | None:
    """The token of the innermost section whose checkpoint event may still come, if any.

    A `recover` node stands for a section removed in a later version, so the
    events of that old section, which precede its checkpoint event in the
    journal, are deferred like those of a live checkpointed section.
    """
    match focus := cursor.focus:
        case AwaitCheckpoint():
            return focus.token
        case AwaitEvent():
            if isinstance(focus.node, Recover):
                return cursor.next_token  # newer than every open section: covers only its own
        case (
            Evaluate() | ReturnValue() | ReturnError() | AwaitTimer() | AwaitChild() | ArmTimeout()
            | InParallel() | InForEach() | Finished() | FailedWith()
        ):  # fmt: skip
            pass  # the enclosing sections say
        case _:
            assert_never(focus)
    frame = cursor.stack
    while frame is not None:
        if isinstance(frame, CheckpointFrame):
            return frame.token
        frame = frame.parent
    return None


FOREIGN = -1  # the token of a deferred event no checkpoint may cover: it is reported


def _settle_deferred(
    deferred: Chain[DeferredEvent] | None,
    token: int,
    node: Checkpoint[Any, Any, Any] | Recover[Any, Any, Any],
    path: Path,
) -> Chain[DeferredEvent] | None:
    """Drop the events deferred inside a section its checkpoint (or a recovery)
    completed, when they belong to it; keep the others, marked foreign, with why."""
    # Events deferred inside the completed section (token >= its own) are the
    # newest ones, so they sit at the head of the chain, among foreign ones.
    foreign: list[DeferredEvent] = []
    while deferred is not None and (deferred.head.token >= token or deferred.head.token < 0):
        item, deferred = deferred.head, deferred.tail
        if item.token == FOREIGN:
            foreign.append(item)
            continue
        reason = _foreign_to(item, node, path)
        if reason is not None:
            foreign.append(DeferredEvent(item.seq, item.event, FOREIGN, item.node, reason))
    for item in reversed(foreign):
        deferred = Chain(item, deferred)
    return deferred


def _foreign_to(
    item: DeferredEvent, node: Checkpoint[Any, Any, Any] | Recover[Any, Any, Any], path: Path
) -> str | None:
    """Why a deferred event does not belong to the section completed at ``path``;
    None if it does (see `wio.interpreter.shield` for the rules)."""
    section = format_path(path)
    what = "the recovery" if isinstance(node, Recover) else "the checkpointed section"
    if item.node is not None:
        if within_formatted(item.node, section):
            return None
        return f"recorded by node {item.node}, outside {what} at {section} that covers it"
    event = innermost(item.event)
    if isinstance(node, Recover) or isinstance(event, UndecodedEvent):
        return None  # without a node, attributed to the removed or retired section
    if stored_type(event) in section_event_types(node):
        return None
    return f"inside {what} at {section}, which records no {type(event).__name__}"


def held_by_recovery(cursor: Cursor) -> frozenset[int]:
    """The seqs of the deferred events a `recover` node the instance waits at holds.

    They were recorded by the section a later version replaced with that
    recovery, before its checkpoint event: the recovery event, which only an
    operator delivers, covers them (rule 2). Until then they are neither
    applied nor unmatched, and the instance waits at the recovery.
    """
    match focus := cursor.focus:
        case AwaitEvent():
            node = focus.node
            if not isinstance(node, Recover):
                return frozenset()
            # Deferred during this wait (no section was entered since), and its section's.
            return frozenset(
                item.seq
                for item in chain_items(cursor.deferred)
                if item.token >= cursor.next_token and _foreign_to(item, node, focus.path) is None
            )
        case InParallel():
            return frozenset(seq for flow in focus.flows for seq in held_by_recovery(flow))
        case (
            Evaluate() | ReturnValue() | ReturnError() | AwaitTimer() | AwaitChild()
            | ArmTimeout() | AwaitCheckpoint() | InForEach() | Finished() | FailedWith()
        ):  # fmt: skip
            return frozenset()  # for-each elements' deferred events are not reported either
        case _:
            assert_never(focus)


def _call(fn: Any, path: Any, name: str | None, *args: Any) -> Any:
    try:
        return fn(*args)
    except Exception as exc:
        raise StepFailed(name or "<unnamed>", format_path(path), exc) from exc


def child_outcome(
    node: RunChild[Any, Any, Any], input: Any, path: Path, event: ChildFinished
) -> ReturnValue | ReturnError:
    """The node's outcome from its child's end: the result decoded as the node's
    ``result_type`` and mapped by ``output``, or the child's business error."""
    where = f"child instance {event.child!r}"
    if event.error_type is None:
        result = _call(decode_input, path, node.meta.name, event.result, node.result_type, where,
                       "result")  # fmt: skip
        return ReturnValue(_call(node.map_output, path, node.meta.name, input, result))
    classes = {error.__name__: error for error in escaping_errors(node.workflow.wio)}
    error_class = classes.get(event.error_type)
    if error_class is None:
        unknown = WioError(
            f"{where} failed with {event.error_type}, which is none of the errors its "
            f"workflow {node.workflow.name!r} declares ({', '.join(classes) or 'none'})"
        )
        raise StepFailed(node.meta.name or "<unnamed>", format_path(path), unknown)
    error = _call(decode_input, path, node.meta.name, event.error, error_class, where, "error")
    return ReturnError(error)
