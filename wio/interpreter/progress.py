"""Evaluator: which nodes ran, with their results.

Progress is kept as a log of `StepRecord`s in execution order; each record
names the node by its path in the model tree, so renderers can highlight the
nodes of a running instance on the static diagram.
"""

from __future__ import annotations

from typing import assert_never

from wio.interpreter.cursor import (
    ArmTimeout,
    AwaitCheckpoint,
    AwaitChild,
    AwaitEvent,
    AwaitTimer,
    Cursor,
    DeferredEvent,
    Evaluate,
    FailedWith,
    Finished,
    InForEach,
    InParallel,
    InterruptibleFrame,
    ReturnError,
    ReturnValue,
    chain_items,
)
from wio.paths import TRIGGER, Path, child
from wio.progress import StepRecord


def progress(cursor: Cursor) -> tuple[StepRecord, ...]:
    """Every node that completed, oldest first."""
    return chain_items(cursor.log)


def pending_deferred(cursor: Cursor) -> tuple[DeferredEvent, ...]:
    """Events held inside a checkpointed section that no checkpoint has covered yet,
    including those held by the flows of a running parallel section, by sequence number."""
    held = chain_items(cursor.deferred)
    focus = cursor.focus
    if type(focus) is InParallel:
        held += tuple(item for flow in focus.flows for item in pending_deferred(flow))
        held = tuple(sorted(held, key=lambda item: item.seq))
    return held


def waiting_at(cursor: Cursor) -> tuple[Path, ...]:
    """Where the instance is now: the nodes whose event, timer or signal it awaits
    (one per running parallel flow), and the triggers of the sections around them
    that may interrupt it. Empty once it finished or failed."""
    focus = cursor.focus
    here: list[Path] = []
    if isinstance(focus, InParallel):
        for flow in focus.flows:
            here += [p for p in waiting_at(flow) if p not in here]
    elif isinstance(focus, InForEach):
        for element in _unsettled(focus):
            here += [p for p in waiting_at(element) if p not in here]
    elif isinstance(focus, (AwaitEvent, AwaitTimer, AwaitChild, AwaitCheckpoint, Evaluate)):
        here.append(focus.path)
    elif isinstance(focus, ArmTimeout):
        here.append(child(focus.path, TRIGGER))
    elif isinstance(focus, (ReturnValue, ReturnError, Finished, FailedWith)):
        return ()
    else:
        assert_never(focus)
    frame = cursor.stack
    while frame is not None:
        if type(frame) is InterruptibleFrame:
            here.append(child(frame.path, TRIGGER))  # its signal or timeout is awaited too
        frame = frame.parent
    return tuple(here)


def failed_at(cursor: Cursor) -> tuple[Path, ...]:
    """The steps that failed: whose user code raised (the instance is stuck there,
    or retrying), in any running parallel flow, and those that returned a
    business error, oldest first."""
    failed = [r.path for r in progress(cursor) if not r.ok and r.kind in _STEPS]
    stuck = [cursor.failure.path] if cursor.failure is not None else []
    focus = cursor.focus
    if type(focus) is InParallel:
        stuck += [p for flow in focus.flows for p in failed_at(flow) if p not in failed]
    elif type(focus) is InForEach:
        stuck += [p for e in _unsettled(focus) for p in failed_at(e) if p not in failed]
    return tuple(dict.fromkeys(failed + stuck))


_STEPS = ("pure", "run", "signal")  # the kinds of record a business error comes from


def _unsettled(focus: InForEach) -> list[Cursor]:
    """The cursors of a for-each section's elements that still run, wait or retry:
    its bookkeeping names them, so finished elements are not looked at."""
    indices = dict.fromkeys([*focus.pending, *focus.active, *focus.timed, *focus.listening])
    return [focus.elements[index] for index in indices]
