"""Evaluator: the next effect a runtime must perform, if any.

The interpreter never performs effects itself. It names them; a runtime
performs one, records the event it yields, and applies that event.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from attrs import frozen

from wio.algebra import Checkpoint, HandleSignal, Run, Timer
from wio.interpreter.cursor import (
    ArmTimeout,
    AwaitCheckpoint,
    AwaitEvent,
    AwaitTimer,
    Cursor,
    InterruptibleFrame,
    Path,
)


@frozen
class RunStep:
    """Call ``node.effect(input)``; it returns the event to record."""

    node: Run[Any, Any, Any]
    input: Any
    path: Path


@frozen
class SaveCheckpoint:
    """Record ``node.save_state(input, output)`` as the section's checkpoint event."""

    node: Checkpoint[Any, Any, Any]
    input: Any
    output: Any
    path: Path


@frozen
class DeliverSignal:
    """Call ``node.handle(input, request)`` for a signal from outside; it returns an event."""

    node: HandleSignal[Any, Any, Any]
    input: Any
    path: Path
    request: Any


@frozen
class StartTimer:
    """Record the timer's release time: now, by the runtime's clock, plus its duration."""

    node: Timer[Any, Any, Any]
    input: Any
    path: Path


@frozen
class ReleaseTimer:
    """Record that the timer released; due at ``release_at``, not before."""

    node: Timer[Any, Any, Any]
    input: Any
    path: Path
    release_at: datetime


Effect = RunStep | SaveCheckpoint | DeliverSignal | StartTimer | ReleaseTimer


def next_effect(cursor: Cursor) -> Effect | None:
    """The effect to perform now, or None when finished or waiting for the outside."""
    if cursor.failure is not None:
        return None
    focus = cursor.focus
    if isinstance(focus, AwaitEvent) and isinstance(focus.node, Run):
        return RunStep(focus.node, focus.input, focus.path)
    if isinstance(focus, AwaitEvent) and isinstance(focus.node, Timer):
        return StartTimer(focus.node, focus.input, focus.path)
    if isinstance(focus, AwaitTimer):
        return ReleaseTimer(focus.node, focus.input, focus.path, focus.release_at)
    if isinstance(focus, ArmTimeout):
        trigger = focus.node.trigger
        assert isinstance(trigger, Timer)
        return StartTimer(trigger, focus.input, (*focus.path, 1))
    if isinstance(focus, AwaitCheckpoint):
        return SaveCheckpoint(focus.node, focus.input, focus.output, focus.path)
    return None


def armed_timeouts(cursor: Cursor) -> list[ReleaseTimer]:
    """The timeouts armed around the focus, innermost first, each as its release effect."""
    armed: list[ReleaseTimer] = []
    frame = cursor.stack
    while frame is not None:
        if isinstance(frame, InterruptibleFrame) and frame.release_at is not None:
            trigger = frame.node.trigger
            assert isinstance(trigger, Timer)
            armed.append(ReleaseTimer(trigger, frame.input, (*frame.path, 1), frame.release_at))
        frame = frame.parent
    return armed
