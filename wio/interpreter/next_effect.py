"""Evaluator: the next effect a runtime must perform, if any.

The interpreter never performs effects itself. It names them; a runtime
performs one, records the event it yields, and applies that event.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, NamedTuple, assert_never

import attrs
from attrs import frozen

from wio.algebra import Checkpoint, HandleSignal, Interruptible, Recover, Run, RunChild, Timer
from wio.for_each import ElementHop
from wio.interpreter.cursor import (
    ArmTimeout,
    AwaitCheckpoint,
    AwaitChild,
    AwaitEvent,
    AwaitTimer,
    Cursor,
    Evaluate,
    FailedWith,
    Finished,
    Focus,
    Frame,
    InForEach,
    InParallel,
    InterruptibleFrame,
    ReturnError,
    ReturnValue,
)
from wio.paths import TRIGGER, Path, child, child_segment, format_path

Hop = str | ElementHop
"""A parallel flow (its model path) or a for-each element an effect runs in."""

Route = tuple[Hop, ...]
"""The parallel flows and for-each elements (outermost first) an effect runs in;
its event is recorded inside one envelope per hop: `wio.parallel.InFlow` for a
flow, `wio.for_each.InElement` for an element."""


@frozen
class RunStep:
    """Call ``node.effect(input)``; it returns the event to record."""

    node: Run[Any, Any, Any]
    input: Any
    path: Path
    route: Route = ()


@frozen
class SaveCheckpoint:
    """Record ``node.save_state(input, output)`` as the section's checkpoint event."""

    node: Checkpoint[Any, Any, Any]
    input: Any
    output: Any
    path: Path
    route: Route = ()


@frozen
class DeliverSignal:
    """Call ``node.handle(input, request)`` for a signal from outside; it returns an event."""

    node: HandleSignal[Any, Any, Any]
    input: Any
    path: Path
    request: Any
    route: Route = ()


@frozen
class StartTimer:
    """Record the timer's release time: now, by the runtime's clock, plus its duration."""

    node: Timer[Any, Any, Any]
    input: Any
    path: Path
    route: Route = ()


@frozen
class ReleaseTimer:
    """Record that the timer released; due at ``release_at``, not before."""

    node: Timer[Any, Any, Any]
    input: Any
    path: Path
    release_at: datetime
    route: Route = ()


@frozen
class StartChild:
    """Create the child instance unless it exists, and record `ChildStarted`."""

    node: RunChild[Any, Any, Any]
    input: Any
    path: Path
    route: Route = ()


@frozen
class CollectChild:
    """Record `ChildFinished` once the child instance ``child`` has ended; not due before
    (only a runtime can tell: see `awaited_children`)."""

    node: RunChild[Any, Any, Any]
    input: Any
    path: Path
    child: str
    route: Route = ()


Effect = (
    RunStep | SaveCheckpoint | DeliverSignal | StartTimer | ReleaseTimer | StartChild | CollectChild
)


def next_effect(cursor: Cursor) -> Effect | None:
    """The effect to perform now, or None when finished or waiting for the outside.

    In a parallel section, the first flow's that has one (see `ready_effects`).
    """
    return next(ready_effects(cursor), None)


def ready_effects(cursor: Cursor) -> Iterator[Effect]:
    """The next effect of each flow that has one, lazily: one at most outside
    parallel sections. A `ReleaseTimer` among them may not be due yet."""
    if cursor.failure is not None:
        return
    focus = cursor.focus
    if type(focus) is InParallel:
        for index, flow in enumerate(focus.flows):
            for inner in ready_effects(flow):
                yield _routed(inner, format_path(child(focus.path, index)))
        return
    if type(focus) is InForEach:
        for index in focus.active:  # only those with something to do: O(1) to the first
            for inner in ready_effects(focus.elements[index]):
                yield _routed(inner, ElementHop(focus.section, focus.keys[index]))
        return
    effect = _own_effect(focus)
    if effect is not None:
        yield effect


def routed(cursor: Cursor, route: Route) -> Cursor | None:
    """The cursor of the flow or element at the end of ``route``, if it still runs:
    one lookup per hop, whatever the number of flows or elements."""
    for hop in route:
        focus = cursor.focus
        if isinstance(hop, ElementHop):
            if type(focus) is not InForEach or focus.section != hop.section:
                return None
            index = focus.positions.get(hop.key)
            if index is None:
                return None
            cursor = focus.elements[index]
        else:
            if type(focus) is not InParallel:
                return None
            segment = child_segment(focus.path, hop)
            if segment is None or segment >= len(focus.flows):
                return None
            cursor = focus.flows[segment]
    return cursor


def has_ready_effect(cursor: Cursor) -> bool:
    """Whether `ready_effects` yields anything, without making the effect."""
    if cursor.failure is not None:
        return False
    match focus := cursor.focus:
        case AwaitEvent():
            return type(focus.node) in (Run, Timer, RunChild)
        case AwaitTimer() | ArmTimeout() | AwaitCheckpoint():
            return True
        case AwaitChild():  # its end comes from outside: see `awaited_children`
            return False
        case InParallel():
            return any(has_ready_effect(flow) for flow in focus.flows)
        case InForEach():
            return bool(focus.active)
        case Evaluate() | ReturnValue() | ReturnError() | Finished() | FailedWith():
            return False
        case _:
            assert_never(focus)


def has_timers(cursor: Cursor) -> bool:
    """Whether `release_times` is not empty, without listing the times."""
    frame = cursor.stack
    while frame is not None:
        if type(frame) is InterruptibleFrame and frame.release_at is not None:
            return True
        frame = frame.parent
    match focus := cursor.focus:
        case AwaitTimer():
            return True
        case InParallel():
            return any(has_timers(flow) for flow in focus.flows)
        case InForEach():
            return bool(focus.timed)
        case (
            Evaluate() | ReturnValue() | ReturnError() | AwaitEvent() | ArmTimeout()
            | AwaitCheckpoint() | AwaitChild() | Finished() | FailedWith()
        ):  # fmt: skip
            return False
        case _:
            assert_never(focus)


def release_times(cursor: Cursor) -> list[datetime]:
    """When each started timer and armed timeout is due, in every flow."""
    times = [frame.release_at for frame in _armed_frames(cursor.stack)]
    match focus := cursor.focus:
        case AwaitTimer():
            times.append(focus.release_at)
        case InParallel():
            for flow in focus.flows:
                times += release_times(flow)
        case InForEach():
            for index in focus.timed:
                times += release_times(focus.elements[index])
        case (
            Evaluate() | ReturnValue() | ReturnError() | AwaitEvent() | ArmTimeout()
            | AwaitCheckpoint() | AwaitChild() | Finished() | FailedWith()
        ):  # fmt: skip
            pass  # no started timer of its own
        case _:
            assert_never(focus)
    return times


def _routed(effect: Effect, hop: Hop) -> Effect:
    return attrs.evolve(effect, route=(hop, *effect.route))


def _own_effect(focus: Focus) -> Effect | None:
    """The effect the focus waits for, if a runtime can perform it now."""
    match focus:
        case AwaitEvent():
            match node := focus.node:
                case Run():
                    return RunStep(node, focus.input, focus.path)
                case Timer():
                    return StartTimer(node, focus.input, focus.path)
                case RunChild():
                    return StartChild(node, focus.input, focus.path)
                case Recover() | HandleSignal():
                    return None  # the event comes from outside
                case _:
                    assert_never(node)
        case AwaitTimer():
            return ReleaseTimer(focus.node, focus.input, focus.path, focus.release_at)
        case ArmTimeout():
            return StartTimer(_timeout(focus.node), focus.input, child(focus.path, TRIGGER))
        case AwaitCheckpoint():
            return SaveCheckpoint(focus.node, focus.input, focus.output, focus.path)
        case AwaitChild():
            return None  # due when the child ends: see `awaited_children`
        case InParallel() | InForEach():
            return None  # each flow's or element's own: see ready_effects
        case Evaluate() | ReturnValue() | ReturnError() | Finished() | FailedWith():
            return None
        case _:
            assert_never(focus)


def awaited_children(cursor: Cursor) -> list[CollectChild]:
    """The child instances the instance waits for, as effects a runtime performs once
    the child has ended."""
    if cursor.failure is not None:
        return []
    match focus := cursor.focus:
        case AwaitChild():
            return [CollectChild(focus.node, focus.input, focus.path, focus.child)]
        case InParallel():
            return [
                _routed(inner, format_path(child(focus.path, index)))  # type: ignore[misc]
                for index, flow in enumerate(focus.flows)
                for inner in awaited_children(flow)
            ]
        case InForEach():  # its bookkeeping names the elements that wait outside
            return [
                _routed(inner, ElementHop(focus.section, focus.keys[index]))  # type: ignore[misc]
                for index in focus.listening
                for inner in awaited_children(focus.elements[index])
            ]
        case (
            Evaluate() | ReturnValue() | ReturnError() | AwaitEvent() | AwaitTimer()
            | ArmTimeout() | AwaitCheckpoint() | Finished() | FailedWith()
        ):  # fmt: skip
            return []
        case _:
            assert_never(focus)


def _timeout(node: Interruptible[Any, Any, Any]) -> Timer[Any, Any, Any]:
    """The timer of a section with a timeout (only those arm one)."""
    trigger = node.trigger
    assert isinstance(trigger, Timer), f"a signal, not a timeout, interrupts {node!r}"
    return trigger


def armed_timeouts(cursor: Cursor) -> list[ReleaseTimer]:
    """The timeouts armed around the focus, innermost first, each as its release effect.

    In a parallel section, those inside its flows come before those around it.
    """
    armed: list[ReleaseTimer] = []
    focus = cursor.focus
    if type(focus) is InParallel:
        for index, flow in enumerate(focus.flows):
            inner = armed_timeouts(flow)
            if inner:
                where = format_path(child(focus.path, index))
                armed += [_routed(t, where) for t in inner]  # type: ignore[misc]
    if type(focus) is InForEach:
        for index in focus.timed:
            inner = armed_timeouts(focus.elements[index])
            if inner:
                hop = ElementHop(focus.section, focus.keys[index])
                armed += [_routed(t, hop) for t in inner]  # type: ignore[misc]
    for frame in _armed_frames(cursor.stack):
        at = child(frame.path, TRIGGER)
        armed.append(ReleaseTimer(_timeout(frame.node), frame.input, at, frame.release_at))
    return armed


class _Armed(NamedTuple):
    node: Interruptible[Any, Any, Any]
    input: Any
    path: Path
    release_at: datetime


def _armed_frames(frame: Frame | None) -> Iterator[_Armed]:
    while frame is not None:
        if type(frame) is InterruptibleFrame and frame.release_at is not None:
            yield _Armed(frame.node, frame.input, frame.path, frame.release_at)
        frame = frame.parent
