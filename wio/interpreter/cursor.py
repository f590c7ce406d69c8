"""The execution state of one instance: an immutable small-step machine.

A `Cursor` is where an instance stands: a *focus* (what is being done now), a
*stack* of frames (what to do with its result), the current workflow state and
the progress log. Each evaluator (proceed, next_effect, apply_event, ...) maps a
cursor to a new one; nothing is mutated, so an old cursor stays valid (a failed
step simply keeps the previous one).

Every transition does O(1) work: the stack and the logs are linked lists that
share their tails, so replaying N events costs O(N) in total.

The machine's registers (focus, frames, chains, the cursor) are NamedTuples:
immutable values like the attrs classes elsewhere, but cheaper to build, which
matters here because a replay makes a few of them per event. The hot paths
build them with `build`, in C.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeVar

from attrs import frozen
from immutables import Map

from wio.algebra import (
    WIO,
    Checkpoint,
    Compensated,
    Compensating,
    Embed,
    FlatMap,
    ForEach,
    HandleError,
    HandleSignal,
    Interruptible,
    Loop,
    Parallel,
    Recover,
    Run,
    RunChild,
    Sequence,
    Timer,
    Transform,
)
from wio.paths import Path
from wio.progress import StepRecord

if TYPE_CHECKING:
    from wio.interpreter.shield import Ahead

# -- focus: what the machine is doing now ------------------------------------


class Evaluate(NamedTuple):
    """About to evaluate ``node`` on ``input``."""

    node: WIO[Any, Any, Any]
    input: Any
    path: Path


class ReturnValue(NamedTuple):
    """A node produced ``value``; it travels down the stack."""

    value: Any


class ReturnError(NamedTuple):
    """A node failed with business error ``error``; it unwinds to a handler."""

    error: Any


Waiting = (
    Run[Any, Any, Any]
    | Recover[Any, Any, Any]
    | HandleSignal[Any, Any, Any]
    | Timer[Any, Any, Any]
    | RunChild[Any, Any, Any]
)


class AwaitEvent(NamedTuple):
    """Blocked on a `Run` (its effect is next), a `Timer` (it is to be started),
    or a `Recover` or `HandleSignal` (both wait for something from outside)."""

    node: Waiting
    input: Any
    path: Path


class AwaitChild(NamedTuple):
    """A started child instance (``child``, its id): its end completes the node."""

    node: RunChild[Any, Any, Any]
    input: Any
    path: Path
    child: str


class AwaitTimer(NamedTuple):
    """A started timer: its release is due at ``release_at``."""

    node: Timer[Any, Any, Any]
    input: Any
    path: Path
    release_at: datetime


class ArmTimeout(NamedTuple):
    """A section with a timeout: its timer is to be started before the section runs."""

    node: Interruptible[Any, Any, Any]
    input: Any
    path: Path


class AwaitCheckpoint(NamedTuple):
    """A checkpointed section completed; its checkpoint event is to be saved."""

    node: Checkpoint[Any, Any, Any]
    input: Any
    output: Any
    path: Path
    token: int


class InParallel(NamedTuple):
    """Running a parallel section: one cursor per flow, each with its own focus,
    stack, state and deferred events. The flows' progress records and section
    tokens live in the enclosing cursor, so ``log`` and ``next_token`` of the
    flow cursors are unused."""

    node: Parallel[Any, Any, Any]
    input: Any
    path: Path
    flows: tuple[Cursor, ...]


class InForEach(NamedTuple):
    """Running a for-each section: one cursor per element, held like a parallel
    section's flows, in persistent maps keyed by element position so that an
    event costs O(1) whatever the number of elements. The bookkeeping maps say
    which elements need attention, so no step looks at every element."""

    node: ForEach[Any, Any, Any]
    input: Any
    path: Path
    section: str  # the formatted path, as `wio.for_each.InElement` envelopes name it
    keys: tuple[str, ...]  # each element's key, in element order
    positions: Map[str, int]  # each key's element position
    elements: Map[int, Cursor]  # each element's cursor, detached (see `detached`)
    pending: Map[int, None]  # to run before the section settles: new, or retrying a failed step
    active: Map[int, None]  # with an effect to perform (a timer's release, even if not due)
    timed: Map[int, None]  # with a started timer or an armed timeout
    listening: Map[int, None]  # waiting for a signal (or interruptible by one), or a child
    unfinished: int  # elements not finished yet


class Finished(NamedTuple):
    """The workflow completed with ``value``."""

    value: Any


class FailedWith(NamedTuple):
    """A business error escaped the whole workflow."""

    error: Any


Focus = (
    Evaluate
    | ReturnValue
    | ReturnError
    | AwaitEvent
    | AwaitTimer
    | AwaitChild
    | ArmTimeout
    | AwaitCheckpoint
    | InParallel
    | InForEach
    | Finished
    | FailedWith
)


# -- frames: what to do with a result ----------------------------------------


class SequenceFrame(NamedTuple):
    node: Sequence[Any, Any, Any]
    position: int
    path: Path
    parent: Frame | None


class TransformFrame(NamedTuple):
    node: Transform[Any, Any, Any]
    input: Any
    path: Path
    parent: Frame | None


class EmbedFrame(NamedTuple):
    """An embedded workflow runs; its output is mapped back on the way out."""

    node: Embed[Any, Any, Any]
    input: Any
    path: Path
    parent: Frame | None


class FlatMapFrame(NamedTuple):
    node: FlatMap[Any, Any, Any]
    path: Path
    parent: Frame | None


class HandleErrorFrame(NamedTuple):
    node: HandleError[Any, Any, Any]
    path: Path
    parent: Frame | None


class LoopFrame(NamedTuple):
    node: Loop[Any, Any, Any]
    restarting: bool  # whether the value coming back is on_restart's, not the body's
    path: Path
    parent: Frame | None


class InterruptibleFrame(NamedTuple):
    """A running section whose trigger (a signal, or a timeout due at ``release_at``)
    may cut it short."""

    node: Interruptible[Any, Any, Any]
    input: Any
    path: Path
    release_at: datetime | None
    parent: Frame | None


class Undo(NamedTuple):
    """A completed step's compensation: ``node`` to run on ``input`` at ``path``."""

    node: WIO[Any, Any, Any]
    input: Any
    path: Path


class CompensatedFrame(NamedTuple):
    """A step with an undo runs; when it completes, its undo is registered with
    the nearest compensating section."""

    node: Compensated[Any, Any, Any]
    input: Any
    path: Path
    parent: Frame | None


class CompensatingFrame(NamedTuple):
    """A compensating section runs; ``done`` holds its completed steps' undos, newest
    first."""

    node: Compensating[Any, Any, Any]
    path: Path
    done: Chain[Undo] | None
    parent: Frame | None


class UndoFrame(NamedTuple):
    """A compensating section undoes its steps after ``error``; ``remaining`` are the
    undos still to run, newest first; then ``error`` goes on unwinding."""

    node: Compensating[Any, Any, Any]
    error: Any
    remaining: Chain[Undo] | None
    path: Path
    parent: Frame | None


class CheckpointFrame(NamedTuple):
    node: Checkpoint[Any, Any, Any]
    input: Any
    path: Path
    token: int  # increases with each section entered; orders nesting for deferred events
    parent: Frame | None


Frame = (
    SequenceFrame
    | TransformFrame
    | EmbedFrame
    | FlatMapFrame
    | HandleErrorFrame
    | LoopFrame
    | InterruptibleFrame
    | CheckpointFrame
    | CompensatedFrame
    | CompensatingFrame
    | UndoFrame
)


# -- logs ---------------------------------------------------------------------

T = TypeVar("T")


class Chain(NamedTuple, Generic[T]):
    """A persistent linked list, newest first: appending is O(1) and shares the tail."""

    head: T
    tail: Chain[T] | None

    def to_tuple(self) -> tuple[T, ...]:
        items: list[T] = []
        node: Chain[T] | None = self
        while node is not None:
            items.append(node.head)
            node = node.tail
        items.reverse()
        return tuple(items)


def chain_items(chain: Chain[T] | None) -> tuple[T, ...]:
    return () if chain is None else chain.to_tuple()


@frozen
class DeferredEvent:
    """An event no node accepted while inside a checkpointed section.

    It is legitimately skipped if that section's checkpoint event follows and
    the event belongs to the section; otherwise the runtime reports it as
    unmatched when replay ends (``token`` is then -1 and ``reason`` says why).
    """

    seq: int
    event: Any
    token: int
    node: str | None = None  # the model path of the node that recorded it, if known
    reason: str | None = None


@frozen
class FailedAttempt:
    """An attempt at a step whose user code raised at ``path``; the cursor stays
    before that step, and the runtime retries it per its retry policy."""

    path: Path
    node_name: str | None
    exception: BaseException


# -- the cursor ---------------------------------------------------------------


class Cursor(NamedTuple):
    focus: Focus
    stack: Frame | None
    state: Any
    log: Chain[StepRecord] | None
    deferred: Chain[DeferredEvent] | None = None
    next_token: int = 0
    failure: FailedAttempt | None = None
    ahead: Ahead | None = None  # on replay: the journal still to come (checkpoint shielding)


# Calling a NamedTuple class runs its `__new__`, a Python function; `tuple.__new__`
# builds the same value in C, in a third of the time (a sixth of a replay was
# spent in those functions). The hot paths of every step and replayed event use
# it, always with every field: ``build(Cursor, (focus, stack, ..., ahead))``.
build = tuple.__new__

_UNSET: Any = object()


def evolve(
    c: Cursor,
    *,
    focus: Focus = _UNSET,
    stack: Frame | None = _UNSET,
    state: Any = _UNSET,
    log: Chain[StepRecord] | None = _UNSET,
    deferred: Chain[DeferredEvent] | None = _UNSET,
    next_token: int = _UNSET,
    failure: FailedAttempt | None = _UNSET,
    ahead: Ahead | None = _UNSET,
) -> Cursor:
    """A copy of ``c`` with some fields replaced.

    Hand-written and positional because ``_replace`` is several times slower,
    and this is the hot path of every step and every replayed event.
    """
    return build(
        Cursor,
        (
            c.focus if focus is _UNSET else focus,
            c.stack if stack is _UNSET else stack,
            c.state if state is _UNSET else state,
            c.log if log is _UNSET else log,
            c.deferred if deferred is _UNSET else deferred,
            c.next_token if next_token is _UNSET else next_token,
            c.failure if failure is _UNSET else failure,
            c.ahead if ahead is _UNSET else ahead,
        ),
    )


def detached(c: Cursor) -> Cursor:
    """A parallel flow's cursor as its section keeps it: without the progress log,
    section tokens and journal look-ahead, which belong to the enclosing cursor."""
    return build(Cursor, (c.focus, c.stack, c.state, None, c.deferred, 0, c.failure, None))
