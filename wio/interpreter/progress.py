"""Evaluator: which nodes ran, with their results.

Progress is kept as a log of `StepRecord`s in execution order; each record
names the node by its path in the model tree, so renderers can highlight the
nodes of a running instance on the static diagram.
"""

from __future__ import annotations

from wio.interpreter.cursor import Cursor, DeferredEvent, StepRecord, chain_items


def progress(cursor: Cursor) -> tuple[StepRecord, ...]:
    """Every node that completed, oldest first."""
    return chain_items(cursor.log)


def pending_deferred(cursor: Cursor) -> tuple[DeferredEvent, ...]:
    """Events held inside a checkpointed section that no checkpoint has covered yet."""
    return chain_items(cursor.deferred)
