"""Evaluator: the current state and status of an instance."""

from __future__ import annotations

from typing import Any, NamedTuple, assert_never

from wio.algebra import HandleSignal, Recover, Run, RunChild, Timer
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
    InForEach,
    InParallel,
    InterruptibleFrame,
    ReturnError,
    ReturnValue,
)
from wio.journal import InstanceStatus
from wio.paths import TRIGGER, Path, child, format_path
from wio.signals import Signal


def current_state(cursor: Cursor) -> Any:
    """The workflow's state: the latest value any node produced (initially the input)."""
    return cursor.state


def state_outside_sections(cursor: Cursor) -> Any:
    """The workflow's state outside the parallel or for-each section in progress, if any:
    that section's input. Inside it, the latest value is one flow's or element's, a part
    of a result still being made, not a state of the workflow."""
    match focus := cursor.focus:
        case InParallel() | InForEach():
            return focus.input
        case _:
            return cursor.state


def status(cursor: Cursor) -> InstanceStatus:
    match focus := cursor.focus:
        case Finished():
            return InstanceStatus.FINISHED
        case FailedWith():
            return InstanceStatus.FAILED
        case AwaitEvent():
            match focus.node:
                case Recover() | HandleSignal():  # both wait for something from outside
                    return InstanceStatus.WAITING
                case Run() | Timer() | RunChild():
                    return InstanceStatus.RUNNING
                case _:
                    assert_never(focus.node)
        case AwaitChild():  # until the child ends and its end wakes this instance
            return InstanceStatus.WAITING
        case InParallel():
            if cursor.failure is not None:
                return InstanceStatus.RUNNING
            # Running while any flow has something to do; waiting when all wait outside.
            flows = [status(flow) for flow in focus.flows if type(flow.focus) is not Finished]
            return (
                InstanceStatus.RUNNING
                if InstanceStatus.RUNNING in flows
                else InstanceStatus.WAITING
            )
        case InForEach():
            # Running while an element has something to do; waiting when all wait outside.
            busy = cursor.failure is not None or focus.pending or focus.active
            return InstanceStatus.RUNNING if busy else InstanceStatus.WAITING
        case (
            Evaluate() | ReturnValue() | ReturnError() | AwaitTimer() | ArmTimeout()
            | AwaitCheckpoint()
        ):  # fmt: skip
            return InstanceStatus.RUNNING
        case _:
            assert_never(focus)


def expected_signals(cursor: Cursor) -> tuple[Signal[Any, Any], ...]:
    """The signals the instance waits for now: its focus's, then its interruptions'."""
    return tuple(handler.node.signal for handler in signal_handlers(cursor))


class SignalHandler(NamedTuple):
    """A signal handler that could take a signal now; ``route`` as for effects."""

    node: HandleSignal[Any, Any, Any]
    input: Any
    path: Path
    route: tuple[str | ElementHop, ...] = ()


def signal_handlers(cursor: Cursor) -> list[SignalHandler]:
    """Each signal handler that could take a signal now: the focus's (in a parallel
    section, each flow's in flow order), then the interruptions' around it."""
    handlers = []
    match focus := cursor.focus:
        case AwaitEvent():
            if isinstance(focus.node, HandleSignal):
                handlers.append(SignalHandler(focus.node, focus.input, focus.path))
        case InParallel():
            for index, flow in enumerate(focus.flows):
                where = format_path(child(focus.path, index))
                for inner in signal_handlers(flow):
                    handlers.append(inner._replace(route=(where, *inner.route)))
        case InForEach():
            for index in focus.listening:
                hop = ElementHop(focus.section, focus.keys[index])
                for inner in signal_handlers(focus.elements[index]):
                    handlers.append(inner._replace(route=(hop, *inner.route)))
        case (
            Evaluate() | ReturnValue() | ReturnError() | AwaitTimer() | AwaitChild() | ArmTimeout()
            | AwaitCheckpoint() | Finished() | FailedWith()
        ):  # fmt: skip
            pass  # waits for no signal itself
        case _:
            assert_never(focus)
    frame = cursor.stack
    while frame is not None:
        if isinstance(frame, InterruptibleFrame) and isinstance(frame.node.trigger, HandleSignal):
            at = child(frame.path, TRIGGER)
            handlers.append(SignalHandler(frame.node.trigger, frame.input, at))
        frame = frame.parent
    return handlers


def waiting_routes(cursor: Cursor, event_class: type[Any]) -> list[tuple[str | ElementHop, ...]]:
    """The routes (as for effects) of the nodes that wait now for an ``event_class``
    event from outside: a `recover` node, or a step whose effect is due."""
    match focus := cursor.focus:
        case AwaitEvent():
            node = focus.node
            waits = isinstance(node, Recover | Run) and issubclass(event_class, node.event_type)
            return [()] if waits else []
        case InParallel():
            return [
                (format_path(child(focus.path, index)), *route)
                for index, flow in enumerate(focus.flows)
                for route in waiting_routes(flow, event_class)
            ]
        case InForEach():  # every element: an operator's delivery is rare
            return [
                (ElementHop(focus.section, key), *route)
                for key, index in focus.positions.items()
                for route in waiting_routes(focus.elements[index], event_class)
            ]
        case (
            Evaluate() | ReturnValue() | ReturnError() | AwaitTimer() | AwaitChild() | ArmTimeout()
            | AwaitCheckpoint() | Finished() | FailedWith()
        ):  # fmt: skip
            return []  # waits for no outside event
        case _:
            assert_never(focus)


def awaited_recoveries(cursor: Cursor) -> list[tuple[Path, type[Any]]]:
    """The `recover` nodes the instance waits at, with their event types: no step
    records those events, so only an operator's delivery moves the instance on."""
    match focus := cursor.focus:
        case AwaitEvent():
            node = focus.node
            return [(focus.path, node.event_type)] if isinstance(node, Recover) else []
        case InParallel():
            return [waiting for flow in focus.flows for waiting in awaited_recoveries(flow)]
        case InForEach():
            return [
                waiting
                for element in focus.elements.values()
                for waiting in awaited_recoveries(element)
            ]
        case (
            Evaluate() | ReturnValue() | ReturnError() | AwaitTimer() | AwaitChild() | ArmTimeout()
            | AwaitCheckpoint() | Finished() | FailedWith()
        ):  # fmt: skip
            return []
        case _:
            assert_never(focus)


def result(cursor: Cursor) -> Any:
    """The final value (finished) or business error (failed); None otherwise."""
    match focus := cursor.focus:
        case Finished():
            return focus.value
        case FailedWith():
            return focus.error
        case (
            Evaluate() | ReturnValue() | ReturnError() | AwaitEvent() | AwaitTimer()
            | AwaitChild() | ArmTimeout() | AwaitCheckpoint() | InParallel() | InForEach()
        ):  # fmt: skip
            return None
        case _:
            assert_never(focus)


_SHOWN_ELEMENTS = 5  # a for-each section's waits shown in messages


def describe_wait(cursor: Cursor) -> str:
    """What the instance waits for, in words, for error messages and `wio inspect`."""
    focus = cursor.focus
    if cursor.failure is not None:
        failure = cursor.failure
        return (
            f"stuck at step {failure.node_name!r} ({format_path(failure.path)}) after "
            f"{type(failure.exception).__name__}: {failure.exception}"
        )
    match focus:
        case AwaitEvent():
            at = format_path(focus.path)
            match node := focus.node:
                case HandleSignal():
                    return f"waiting for signal {node.signal.name!r} at {at}"
                case Timer():
                    return f"about to start a timer at {at}"
                case RunChild():
                    return f"about to start child workflow {node.workflow.name!r} at {at}"
                case Run() | Recover():
                    what = "recovery event" if isinstance(node, Recover) else "event"
                    step = f" of step {node.meta.name!r}" if node.meta.name else ""
                    return f"waiting for {what} {node.event_type.__name__}{step} at {at}"
                case _:
                    assert_never(node)
        case ArmTimeout():
            return f"about to start the timeout of the section at {format_path(focus.path)}"
        case AwaitChild():
            return (
                f"waiting for child instance {focus.child!r} "
                f"({focus.node.workflow.name!r}) at {format_path(focus.path)}"
            )
        case AwaitTimer():
            name = f" {focus.node.meta.name!r}" if focus.node.meta.name else ""
            return (
                f"waiting for timer{name} at {format_path(focus.path)} until "
                f"{focus.release_at.isoformat()}"
            )
        case AwaitCheckpoint():
            return (
                f"waiting for checkpoint event {focus.node.event_type.__name__} "
                f"at {format_path(focus.path)}"
            )
        case InParallel():
            name = f" {focus.node.meta.name!r}" if focus.node.meta.name else ""
            flows = "; ".join(
                f"flow {spec.name!r} {describe_wait(flow)}"
                for spec, flow in zip(focus.node.flows, focus.flows, strict=True)
            )
            return f"in parallel section{name} at {format_path(focus.path)}: {flows}"
        case InForEach():
            name = f" {focus.node.meta.name!r}" if focus.node.meta.name else ""
            shown = [*focus.pending, *focus.active, *focus.listening]
            waits = "; ".join(
                f"element {focus.keys[index]!r} {describe_wait(focus.elements[index])}"
                for index in dict.fromkeys(shown[:_SHOWN_ELEMENTS])
            )
            more = len(focus.keys) - focus.unfinished
            return (
                f"in for-each section{name} at {focus.section} ({more} of {len(focus.keys)} "
                f"elements done): {waits}"
            )
        case Finished():
            return "finished"
        case FailedWith():
            return f"failed with {focus.error!r}"
        case Evaluate():
            return f"about to evaluate {format_path(focus.path)}"
        case ReturnValue() | ReturnError():
            return "returning to the enclosing section"
        case _:
            assert_never(focus)
