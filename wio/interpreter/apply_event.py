"""Evaluator: apply one recorded event to a cursor.

The same function serves the live run (the event was just produced by the
next effect) and replay (the event comes from the journal), so a replayed
instance reaches exactly the state of the live one.

An event that no node accepts is never dropped silently: it comes back as
"unmatched", with what the workflow was waiting for. Inside a checkpointed
section, or while a `recover` node waits, it is first "deferred", because a
later checkpoint event may legitimately skip the section it belonged to
(checkpoint rule 2).
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple, assert_never

from wio.algebra import HandleSignal, Recover, Run, Timer
from wio.errors import StepFailed
from wio.for_each import InElement
from wio.interpreter.cursor import (
    ArmTimeout,
    AwaitCheckpoint,
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
    detached,
    evolve,
)
from wio.interpreter.proceed import (
    business_result,
    completed,
    proceed,
    proceed_from,
    settle_for_each,
    with_element,
)
from wio.interpreter.state import describe_wait
from wio.parallel import InFlow
from wio.paths import BASE, INTERRUPTION_HANDLER, TRIGGER, Path, child, child_segment, format_path
from wio.progress import StepRecord
from wio.signals import SignalHandled
from wio.timers import TimerReleased, TimerStarted

Outcome = Literal["accepted", "deferred", "unmatched"]


class Applied(NamedTuple):
    """The result of applying one event."""

    cursor: Cursor
    outcome: Outcome
    expected: str | None = None  # for "unmatched": what the workflow was waiting for


def apply_event(cursor: Cursor, seq: int, event: Any) -> Applied:
    """Apply event number ``seq``; user code in handlers may raise `StepFailed`."""
    match focus := cursor.focus:
        case AwaitEvent():  # the common case, first
            if accepts(focus.node, event, focus.path):
                return Applied(_accept(cursor, focus, seq, event), "accepted")
        case InParallel():
            if type(event) is InFlow:
                routed = _apply_in_flow(cursor, focus, seq, event)
                if routed is not None:
                    return routed
        case InForEach():
            if type(event) is InElement and event.section == focus.section:
                routed = _apply_in_element(cursor, focus, seq, event)
                if routed is not None:
                    return routed
        case AwaitTimer():
            if _timer_event(event, TimerReleased, focus.path):
                outcome = ReturnValue(focus.input)  # a timer passes its input on
                done = completed(cursor, outcome, focus.path, "timer", focus.node.meta.name, seq)
                return Applied(done, "accepted")
        case ArmTimeout():
            if _timer_event(event, TimerStarted, child(focus.path, TRIGGER)):
                armed = InterruptibleFrame(
                    focus.node, focus.input, focus.path, event.release_at, cursor.stack
                )
                section = Evaluate(focus.node.base, focus.input, child(focus.path, BASE))
                return Applied(proceed(evolve(cursor, focus=section, stack=armed)), "accepted")
        case AwaitCheckpoint():
            if isinstance(event, focus.node.event_type):
                recover = focus.node.recover_state
                output = _call(recover, focus.path, "recover_state", focus.input, event)
                done = _checkpoint_done(cursor, focus.path, focus.token, output, seq, skipped=False)
                return Applied(proceed(done), "accepted")
        case Evaluate() | ReturnValue() | ReturnError() | Finished() | FailedWith():
            pass  # not waiting for an event: only an enclosing section may take it
        case _:
            assert_never(focus)

    frame = _frame_accepting(cursor.stack, event)
    if isinstance(frame, CheckpointFrame):
        # Rule 2: the section's checkpoint completes it, however far it got.
        output = _call(frame.node.recover_state, frame.path, "recover_state", frame.input, event)
        done = _checkpoint_done(cursor, frame.path, frame.token, output, seq, skipped=True)
        return Applied(proceed(evolve(done, stack=frame.parent)), "accepted")
    if isinstance(frame, InterruptibleFrame):
        return Applied(_interrupt(cursor, frame, seq, event), "accepted")

    token = _innermost_section(cursor)
    if token is not None:
        deferred = Chain(DeferredEvent(seq, event, token), cursor.deferred)
        return Applied(evolve(cursor, deferred=deferred), "deferred")
    return Applied(cursor, "unmatched", describe_wait(cursor))


def _apply_in_flow(cursor: Cursor, focus: InParallel, seq: int, event: InFlow) -> Applied | None:
    """Hand a flow's event to that flow; None if no flow of this section takes it."""
    index = _flow_index(focus, event.flow)
    if index is None:
        return None
    flow = focus.flows[index]
    inside = evolve(flow, log=cursor.log, next_token=cursor.next_token)
    applied = apply_event(inside, seq, event.event)
    if applied.outcome == "unmatched":
        return None  # an enclosing section may still take it
    after = applied.cursor
    flows = list(focus.flows)
    flows[index] = detached(after)
    section = InParallel(focus.node, focus.input, focus.path, tuple(flows))
    moved = proceed_from(
        section, cursor.stack, after.state, after.log, cursor.deferred, after.next_token
    )
    return Applied(moved, applied.outcome)


def _apply_in_element(
    cursor: Cursor, focus: InForEach, seq: int, event: InElement
) -> Applied | None:
    """Hand an element's event to that element; None if no element has its key."""
    index = focus.positions.get(event.key)
    if index is None:
        return None
    element = focus.elements[index]
    inside = evolve(element, log=cursor.log, next_token=cursor.next_token)
    applied = apply_event(inside, seq, event.event)
    if applied.outcome == "unmatched":
        return None  # an enclosing section may still take it
    after = applied.cursor
    moved = detached(after)
    state = after.state if after.state is not element.state else cursor.state
    section = with_element(focus, index, moved)
    focus_, state, log, deferred, token, failure = settle_for_each(
        section, moved, state, after.log, cursor.deferred, after.next_token
    )
    if failure is not None or type(focus_) is InForEach:
        return Applied(
            Cursor(focus_, cursor.stack, state, log, deferred, token, failure), applied.outcome
        )
    return Applied(proceed_from(focus_, cursor.stack, state, log, deferred, token), applied.outcome)


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
        case _:
            assert_never(node)


def _accept(cursor: Cursor, focus: AwaitEvent, seq: int, event: Any) -> Cursor:
    match node := focus.node:
        case Run():
            try:
                result = node.handle(focus.input, event)
            except Exception as exc:
                where = format_path(focus.path)
                raise StepFailed(node.meta.name or "<unnamed>", where, exc) from exc
            return completed(
                cursor, business_result(node, result), focus.path, "run", node.meta.name, seq
            )
        case Timer():  # started: now it waits for its release
            waiting = AwaitTimer(node, focus.input, focus.path, event.release_at)
            return evolve(cursor, focus=waiting)
        case HandleSignal():
            result = _call(node.update, focus.path, node.meta.name, focus.input, event.event)
            outcome = business_result(node, result)
            return completed(cursor, outcome, focus.path, "signal", node.meta.name, seq)
        case Recover():
            output = _call(node.recover_state, focus.path, "recover_state", focus.input, event)
            covered = evolve(cursor, deferred=_drop_covered(cursor.deferred, cursor.next_token))
            return completed(
                covered, ReturnValue(output), focus.path, "recover", node.meta.name, seq
            )
        case _:
            assert_never(node)


def _checkpoint_done(
    cursor: Cursor, path: Any, token: int, output: Any, seq: int, *, skipped: bool
) -> Cursor:
    record = StepRecord(path, "checkpoint", None, True, output, seq, section_skipped=skipped)
    return evolve(
        cursor,
        focus=ReturnValue(output),
        state=output,
        log=Chain(record, cursor.log),
        deferred=_drop_covered(cursor.deferred, token),
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
            Evaluate() | ReturnValue() | ReturnError() | AwaitTimer() | ArmTimeout()
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


def _drop_covered(deferred: Chain[DeferredEvent] | None, token: int) -> Chain[DeferredEvent] | None:
    # Events deferred inside the completed section (token >= its own) are the
    # newest ones, so they sit at the head of the chain.
    while deferred is not None and deferred.head.token >= token:
        deferred = deferred.tail
    return deferred


def _call(fn: Any, path: Any, name: str | None, *args: Any) -> Any:
    try:
        return fn(*args)
    except Exception as exc:
        raise StepFailed(name or "<unnamed>", format_path(path), exc) from exc
