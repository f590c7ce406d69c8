"""The interpreter: pure functions over a workflow tree and a `Cursor`.

One evaluator per concern, each in the module named after it:

- `proceed`: advance through steps that need no event (`start` begins an instance);
- `next_effect`: the effect a runtime must perform next;
- `apply_event`: apply one recorded event (live and on replay alike);
- `state`: the current state and status;
- `progress`: which nodes ran, with their results.

No I/O, no clock, no randomness: runtimes do those.
"""

from wio.interpreter.apply_event import Applied, apply_event, held_by_recovery
from wio.interpreter.cursor import Cursor, DeferredEvent, FailedAttempt
from wio.interpreter.next_effect import (
    CollectChild,
    DeliverSignal,
    Effect,
    ReleaseTimer,
    RunStep,
    SaveCheckpoint,
    StartChild,
    StartTimer,
    armed_timeouts,
    awaited_children,
    next_effect,
    ready_effects,
    release_times,
    routed,
)
from wio.interpreter.proceed import proceed, start
from wio.interpreter.progress import failed_at, pending_deferred, progress, waiting_at
from wio.interpreter.shield import Ahead, JournalRecord
from wio.interpreter.state import (
    current_state,
    describe_wait,
    expected_signals,
    result,
    state_outside_sections,
    status,
)
from wio.paths import Path, format_path
from wio.progress import StepRecord

__all__ = [
    "Ahead",
    "Applied",
    "Cursor",
    "DeliverSignal",
    "DeferredEvent",
    "Effect",
    "JournalRecord",
    "Path",
    "ReleaseTimer",
    "CollectChild",
    "StartChild",
    "awaited_children",
    "RunStep",
    "SaveCheckpoint",
    "StartTimer",
    "FailedAttempt",
    "StepRecord",
    "apply_event",
    "armed_timeouts",
    "current_state",
    "state_outside_sections",
    "describe_wait",
    "expected_signals",
    "format_path",
    "held_by_recovery",
    "next_effect",
    "pending_deferred",
    "proceed",
    "progress",
    "waiting_at",
    "failed_at",
    "ready_effects",
    "release_times",
    "routed",
    "result",
    "start",
    "status",
]
