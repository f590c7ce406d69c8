"""An instance's progress: a record of each node that ran, and its result.

The interpreter keeps it (`wio.interpreter.progress`); renderers mark it on
diagrams, by the nodes' model paths.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from wio.paths import Path


class StepRecord(NamedTuple):
    """One entry of an instance's progress: a node that ran, and its result."""

    path: Path
    # pure | run | signal | timer | recover | checkpoint | fork | parallel | error_handled | end
    kind: str
    name: str | None
    ok: bool
    value: Any  # the output, the business error, or the branch taken
    event_seq: int | None = None
    section_skipped: bool = False  # a checkpoint that completed its section on replay
    covered: tuple[int, ...] = ()  # then: the seqs of the section's own events it skipped
