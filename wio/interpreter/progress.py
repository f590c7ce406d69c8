"""Evaluator: which nodes ran, with their results.

Progress is kept as a log of `StepRecord`s in execution order; each record
names the node by its path in the model tree, so renderers can highlight the
nodes of a running instance on the static diagram.
"""

from __future__ import annotations

from wio.interpreter.cursor import Cursor, DeferredEvent, InParallel, chain_items
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
