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

from typing import Any, Literal, NamedTuple

from wio.algebra import HandleSignal, Recover, Run, Timer
from wio.errors import StepFailed
from wio.interpreter.cursor import (
    ArmTimeout,
    AwaitCheckpoint,
    AwaitEvent,
    AwaitTimer,
    Chain,
    CheckpointFrame,
    Cursor,
    DeferredEvent,
    Evaluate,
    Frame,
    InParallel,
    InterruptibleFrame,
    Path,
    ReturnValue,
    StepRecord,
    Waiting,
    detached,
    evolve,
    format_path,
)
from wio.interpreter.proceed import business_result, completed, proceed, run
from wio.interpreter.state import describe_wait
from wio.parallel import InFlow
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
    focus = cursor.focus
    if type(focus) is InParallel and type(event) is InFlow:
        routed = _apply_in_flow(cursor, focus, seq, event)
        if routed is not None:
            return routed
    if isinstance(focus, AwaitEvent) and accepts(focus.node, event, focus.path):
        return Applied(_accept(cursor, focus, seq, event), "accepted")
    if isinstance(focus, AwaitTimer) and _timer_event(event, TimerReleased, focus.path):
        outcome = ReturnValue(focus.input)  # a timer passes its input on
        return Applied(
            completed(cursor, outcome, focus.path, "timer", focus.node.meta.name, seq), "accepted"
        )
    if isinstance(focus, ArmTimeout) and _timer_event(event, TimerStarted, (*focus.path, 1)):
        armed = InterruptibleFrame(
            focus.node, focus.input, focus.path, event.release_at, cursor.stack
        )
        section = Evaluate(focus.node.base, focus.input, (*focus.path, 0))
        return Applied(proceed(evolve(cursor, focus=section, stack=armed)), "accepted")
    if isinstance(focus, AwaitCheckpoint) and isinstance(event, focus.node.event_type):
        output = _call(focus.node.recover_state, focus.path, "recover_state", focus.input, event)
        done = _checkpoint_done(cursor, focus.path, focus.token, output, seq, skipped=False)
        return Applied(proceed(done), "accepted")

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
    moved = run(section, cursor.stack, after.state, after.log, cursor.deferred, after.next_token)
    return Applied(moved, applied.outcome)


def _flow_index(focus: InParallel, flow: str) -> int | None:
    prefix = format_path(focus.path)
    head, _, index = flow.rpartition("/")
    if (head or "/") != prefix or not index.isdigit() or int(index) >= len(focus.flows):
        return None
    return int(index)


def accepts(node: Waiting, event: Any, path: Path) -> bool:
    """Whether a waiting node takes ``event``: a signal takes only its own record."""
    if isinstance(node, HandleSignal):
        return (
            isinstance(event, SignalHandled)
            and event.signal == node.signal.name
            and isinstance(event.event, node.event_type)
        )
    if isinstance(node, Timer):
        return _timer_event(event, TimerStarted, path)
    return isinstance(event, node.event_type)


def _accept(cursor: Cursor, focus: AwaitEvent, seq: int, event: Any) -> Cursor:
    node = focus.node
    if isinstance(node, Timer):  # started: now it waits for its release
        return evolve(cursor, focus=AwaitTimer(node, focus.input, focus.path, event.release_at))
    if isinstance(node, HandleSignal):
        result = _call(node.update, focus.path, node.meta.name, focus.input, event.event)
        outcome = business_result(node, result)
        return completed(cursor, outcome, focus.path, "signal", node.meta.name, seq)
    if isinstance(node, Run):
        try:
            result = node.handle(focus.input, event)
        except Exception as exc:
            raise StepFailed(node.meta.name or "<unnamed>", format_path(focus.path), exc) from exc
        return completed(
            cursor, business_result(node, result), focus.path, "run", node.meta.name, seq
        )
    assert isinstance(node, Recover)
    output = _call(node.recover_state, focus.path, "recover_state", focus.input, event)
    covered = evolve(cursor, deferred=_drop_covered(cursor.deferred, cursor.next_token))
    return completed(covered, ReturnValue(output), focus.path, "recover", node.meta.name, seq)


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
        if isinstance(frame, CheckpointFrame) and isinstance(event, frame.node.event_type):
            return frame
        if isinstance(frame, InterruptibleFrame) and _triggers(frame, event):
            return frame
        frame = frame.parent
    return None


def _triggers(frame: InterruptibleFrame, event: Any) -> bool:
    trigger = frame.node.trigger
    if isinstance(trigger, HandleSignal):
        return accepts(trigger, event, (*frame.path, 1))
    armed = frame.release_at is not None
    return armed and _timer_event(event, TimerReleased, (*frame.path, 1))


def _interrupt(cursor: Cursor, frame: InterruptibleFrame, seq: int, event: Any) -> Cursor:
    """Drop the rest of the section: the trigger completes, then the handler runs instead."""
    node, trigger, at = frame.node, frame.node.trigger, (*frame.path, 1)
    unwound = evolve(cursor, stack=frame.parent)
    if isinstance(trigger, HandleSignal):
        result = _call(trigger.update, at, trigger.meta.name, frame.input, event.event)
        outcome = business_result(trigger, result)
        kind = "signal"
    else:
        outcome, kind = ReturnValue(frame.input), "timer"
    if node.handler is None or not isinstance(outcome, ReturnValue):
        return completed(unwound, outcome, at, kind, trigger.meta.name, seq)
    record = StepRecord(at, kind, trigger.meta.name, True, outcome.value, seq)
    handler = Evaluate(node.handler, outcome.value, (*frame.path, 2))
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
    focus = cursor.focus
    if isinstance(focus, AwaitCheckpoint):
        return focus.token
    if isinstance(focus, AwaitEvent) and isinstance(focus.node, Recover):
        return cursor.next_token  # newer than every open section: covers only its own
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
