"""Evaluator: the current state and status of an instance."""

from __future__ import annotations

import enum
from typing import Any, NamedTuple

from wio.algebra import HandleSignal, Recover, Timer
from wio.interpreter.cursor import (
    ArmTimeout,
    AwaitCheckpoint,
    AwaitEvent,
    AwaitTimer,
    Cursor,
    Evaluate,
    FailedWith,
    Finished,
    InParallel,
    InterruptibleFrame,
    Path,
    format_path,
)
from wio.signals import Signal


class Status(enum.StrEnum):
    RUNNING = "running"  # an effect is due (or a failed step awaits its retry)
    WAITING = "waiting"  # blocked until something outside delivers an event
    FINISHED = "finished"
    FAILED = "failed"  # a business error escaped the workflow


def current_state(cursor: Cursor) -> Any:
    """The workflow's state: the latest value any node produced (initially the input)."""
    return cursor.state


def status(cursor: Cursor) -> Status:
    focus = cursor.focus
    if isinstance(focus, Finished):
        return Status.FINISHED
    if isinstance(focus, FailedWith):
        return Status.FAILED
    if isinstance(focus, AwaitEvent) and isinstance(focus.node, Recover | HandleSignal):
        return Status.WAITING
    if type(focus) is InParallel and cursor.failure is None:
        # Running while any flow has something to do; waiting when all wait outside.
        flows = [status(flow) for flow in focus.flows if type(flow.focus) is not Finished]
        return Status.RUNNING if Status.RUNNING in flows else Status.WAITING
    return Status.RUNNING


def expected_signals(cursor: Cursor) -> tuple[Signal[Any, Any], ...]:
    """The signals the instance waits for now: its focus's, then its interruptions'."""
    return tuple(handler.node.signal for handler in signal_handlers(cursor))


class SignalHandler(NamedTuple):
    """A signal handler that could take a signal now; ``route`` as for effects."""

    node: HandleSignal[Any, Any, Any]
    input: Any
    path: Path
    route: tuple[str, ...] = ()


def signal_handlers(cursor: Cursor) -> list[SignalHandler]:
    """Each signal handler that could take a signal now: the focus's (in a parallel
    section, each flow's in flow order), then the interruptions' around it."""
    handlers = []
    focus = cursor.focus
    if isinstance(focus, AwaitEvent) and isinstance(focus.node, HandleSignal):
        handlers.append(SignalHandler(focus.node, focus.input, focus.path))
    elif type(focus) is InParallel:
        for index, flow in enumerate(focus.flows):
            where = format_path((*focus.path, index))
            for inner in signal_handlers(flow):
                handlers.append(inner._replace(route=(where, *inner.route)))
    frame = cursor.stack
    while frame is not None:
        if isinstance(frame, InterruptibleFrame) and isinstance(frame.node.trigger, HandleSignal):
            handlers.append(SignalHandler(frame.node.trigger, frame.input, (*frame.path, 1)))
        frame = frame.parent
    return handlers


def result(cursor: Cursor) -> Any:
    """The final value (finished) or business error (failed); None otherwise."""
    focus = cursor.focus
    if isinstance(focus, Finished):
        return focus.value
    if isinstance(focus, FailedWith):
        return focus.error
    return None


def describe_wait(cursor: Cursor) -> str:
    """What the instance waits for, in words, for error messages and `wio inspect`."""
    focus = cursor.focus
    if cursor.failure is not None:
        failure = cursor.failure
        return (
            f"stuck at step {failure.node_name!r} ({format_path(failure.path)}) after "
            f"{type(failure.exception).__name__}: {failure.exception}"
        )
    if isinstance(focus, AwaitEvent):
        node, at = focus.node, format_path(focus.path)
        if isinstance(node, HandleSignal):
            return f"waiting for signal {node.signal.name!r} at {at}"
        if isinstance(node, Timer):
            return f"about to start a timer at {at}"
        what = "recovery event" if isinstance(node, Recover) else "event"
        step = f" of step {node.meta.name!r}" if node.meta.name else ""
        return f"waiting for {what} {node.event_type.__name__}{step} at {at}"
    if isinstance(focus, ArmTimeout):
        return f"about to start the timeout of the section at {format_path(focus.path)}"
    if isinstance(focus, AwaitTimer):
        name = f" {focus.node.meta.name!r}" if focus.node.meta.name else ""
        return (
            f"waiting for timer{name} at {format_path(focus.path)} until "
            f"{focus.release_at.isoformat()}"
        )
    if isinstance(focus, AwaitCheckpoint):
        return (
            f"waiting for checkpoint event {focus.node.event_type.__name__} "
            f"at {format_path(focus.path)}"
        )
    if isinstance(focus, InParallel):
        name = f" {focus.node.meta.name!r}" if focus.node.meta.name else ""
        flows = "; ".join(
            f"flow {spec.name!r} {describe_wait(flow)}"
            for spec, flow in zip(focus.node.flows, focus.flows, strict=True)
        )
        return f"in parallel section{name} at {format_path(focus.path)}: {flows}"
    if isinstance(focus, Finished):
        return "finished"
    if isinstance(focus, FailedWith):
        return f"failed with {focus.error!r}"
    assert isinstance(focus, Evaluate)
    return f"about to evaluate {format_path(focus.path)}"
