"""What the sync and asyncio runtimes share: one instance's bookkeeping.

`InstanceCore` holds the current cursor, the recorded events and how the
current step is failing (one `RetryState` value), replays a journal,
validates what effects return and reports unmatched events. It calls no
effect and does no journal I/O: the thin `sync` and `aio` layers do that, so
the two can never drift apart. Delivering a signal is pure functions of the
cursor and events, in `wio.runtime.signal_delivery`.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, Generic, NamedTuple, TypeVar, assert_never

from attrs import frozen

from wio import metrics, tracing
from wio.algebra import WIO
from wio.cancellation import Cancelled, InstanceCancelled
from wio.children import ChildFinished, ChildStarted
from wio.clock import Clock
from wio.codec import stored_type
from wio.errors import (
    DefinitionError,
    NotWaitingForEvent,
    RecordedError,
    StepFailed,
    UnmatchedEventError,
)
from wio.for_each import InElement
from wio.interpreter import (
    Ahead,
    Applied,
    CollectChild,
    Cursor,
    DeliverSignal,
    Effect,
    FailedAttempt,
    JournalRecord,
    ReleaseTimer,
    RunStep,
    SaveCheckpoint,
    StartChild,
    StartTimer,
    StepRecord,
    apply_event,
    armed_timeouts,
    awaited_children,
    current_state,
    describe_wait,
    failed_at,
    format_path,
    held_by_recovery,
    pending_deferred,
    proceed,
    progress,
    ready_effects,
    release_times,
    result,
    routed,
    start,
    state_outside_sections,
    status,
    waiting_at,
)
from wio.interpreter.cursor import Chain, Evaluate, build, evolve
from wio.interpreter.shield import recorders, shields
from wio.interpreter.state import waiting_routes
from wio.journal import InstanceStatus
from wio.parallel import InFlow, describe_event, in_flows, innermost_flow
from wio.paths import CLEANUP, Path
from wio.retry import RetryPolicy, RetryState
from wio.timers import TimerReleased, TimerStarted
from wio.versions import Migrated

log = logging.getLogger("wio.replay")
steps_log = logging.getLogger("wio.steps")

In = TypeVar("In")
E = TypeVar("E")
Out = TypeVar("Out")


class Prepared(NamedTuple):
    """An effect's event, validated and applied but not yet committed."""

    applied: Applied
    event: Any  # as the journal records it: inside its parallel flows' envelopes


class RecordedEvent(NamedTuple):
    """An event as the journal holds it: its 1-based sequence number, the event, and
    the model path of the node that recorded it (None if unknown).

    An event a checkpoint covered on replay is never decoded: it is kept as
    stored, a `wio.codec.UndecodedEvent`.
    """

    seq: int
    event: Any
    node: str | None = None


@frozen
class UnmatchedEvent:
    """A journal event that no node accepted during replay, or that does not
    belong to the checkpointed section it was recorded in."""

    instance_id: str
    seq: int
    event_type: str
    expected: str  # what the workflow was waiting for, or why the event is foreign
    node: str | None = None  # the node that recorded it, if known


class Snapshot(NamedTuple):
    """What a commit changes, to undo it: the cursor, the event count, the retry state
    and whether the instance is cancelled."""

    cursor: Cursor
    event_count: int
    retry_state: RetryState
    cancelled: Cancelled | None


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector, e.g. while replaying a journal.

    Replay allocates many small objects that live as long as the instance and
    form no reference cycles; the collector would rescan them again and again
    (making replay superlinear in the number of events) and find nothing.

    Once replayed, they would still be scanned by the next young collections
    (60 ms after 100k events): they are moved to the oldest generation instead
    (`gc.freeze` then `gc.unfreeze`, two list splices), which only a full
    collection scans, so cycles among them are still found. Not if the program
    froze objects itself: unfreezing would undo that.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            if not gc.get_freeze_count():
                gc.freeze()
                gc.unfreeze()
            gc.enable()


def numbered(events: Iterable[Any]) -> list[JournalRecord]:
    """Plain events numbered from 1, or `RecordedEvent`s as they are, as journal
    records to replay (already decoded: ``decode`` is `decoded`)."""
    records = []
    names: dict[type[Any], str] = {}  # the stored type of each event class, looked up once
    for seq, event in enumerate(events, start=1):
        recorded = event if isinstance(event, RecordedEvent) else RecordedEvent(seq, event)
        event, node = recorded.event, recorded.node
        cls = type(event)
        if cls is InFlow or cls is InElement:  # the type inside the envelopes varies
            flow = None if node else innermost_flow(event)
            records.append(JournalRecord(recorded.seq, stored_type(event), node, event, flow))
            continue
        name = names.get(cls)
        if name is None:
            name = names[cls] = stored_type(event)
        records.append(JournalRecord(recorded.seq, name, node, event))
    return records


def decoded(stored: Any) -> Any:
    """The event of a record that holds it decoded already."""
    return stored


class InstanceCore:
    """One instance: the cursor, its events, and how its current step is failing."""

    def __init__(
        self,
        instance_id: str,
        workflow: WIO[Any, Any, Any],
        input: Any,
        *,
        strict: bool,
        retry: RetryPolicy,
        clock: Clock,
        retired: frozenset[str] = frozenset(),
        started: bool = True,
        shielding: bool | None = None,
        cleanup: WIO[Any, Any, Any] | None = None,
    ) -> None:
        """``started=False`` leaves the instance unstarted: `replay` starts it, so
        that checkpoints in the journal shield their sections from the start.
        ``shielding`` says whether the workflow may shield sections at all
        (`wio.interpreter.shield.shields`; computed when None). ``cleanup`` is the
        workflow's `Workflow.on_cancel` flow, run once an operator cancels it."""
        if not isinstance(workflow, WIO):
            raise DefinitionError(f"expected a WIO workflow, got {type(workflow).__name__}")
        self.instance_id = instance_id
        self.workflow = workflow
        self.input = input
        self.strict = strict
        self.retry_policy = retry
        self.clock = clock
        self.retired = retired
        self.shielding = shields(workflow) if shielding is None else shielding
        self.events: list[RecordedEvent] = []
        self.unmatched: list[UnmatchedEvent] = []
        self.retry_state = RetryState()
        # A retry another process scheduled: not run before then (see `restore_attempts`).
        self.retry_not_before: datetime | None = None
        self.cancelled: Cancelled | None = None
        self.cleanup = cleanup
        self.labels: dict[str, Any] = {tracing.INSTANCE: instance_id}  # of its trace spans
        self.traced = tracing.enabled()  # asked again at each run, not at each step
        self.trace_context: str | None = None  # the stored trace its runs continue
        self.started = started
        self.cursor = (
            start(workflow, input)
            if started
            else Cursor(Evaluate(workflow, input, ()), None, input, None)
        )
        self._note_pure_failure()

    # -- queries ------------------------------------------------------------

    @property
    def halted(self) -> bool:
        """Whether the instance runs nothing more: it gave up, or it was cancelled and
        has no cleanup flow to run."""
        return self.retry_state.gave_up or (self.cancelled is not None and self.cleanup is None)

    @property
    def cleaning_up(self) -> bool:
        """Whether the cursor is that of the cleanup flow a cancellation started."""
        return self.cancelled is not None and self.cleanup is not None

    @property
    def status(self) -> InstanceStatus:
        if self.cancelled is not None and self.cleanup is None:
            return InstanceStatus.CANCELLED
        if self.cancelled is not None and not self.retry_state.gave_up:
            # Running (or waiting) while the cleanup runs; cancelled once it finished.
            cleaning = status(self.cursor)
            return InstanceStatus.CANCELLED if cleaning == InstanceStatus.FINISHED else cleaning
        return InstanceStatus.FAILED if self.retry_state.gave_up else status(self.cursor)

    @property
    def state(self) -> Any:
        return current_state(self.cursor)

    @property
    def result(self) -> Any:
        return result(self.cursor)

    @property
    def progress(self) -> tuple[StepRecord, ...]:
        return progress(self.cursor)

    def waiting_for(self) -> str:
        if self.cancelled is not None:
            if self.cleaning_up and self.status != InstanceStatus.CANCELLED:
                return (
                    f"cleaning up after its cancellation ({self.cancelled.reason}): "
                    f"{describe_wait(self.cursor)}"
                )
            return f"nothing: cancelled ({self.cancelled.reason})"
        return describe_wait(self.cursor)

    def more_is_due(self) -> bool:
        """Whether a run should go on after a step: nothing failed, and it is not
        left waiting for a timer alone."""
        if self.retry_state.error is not None or self.status != InstanceStatus.RUNNING:
            return False
        return self.wakeup_at is None or not self.idle()

    def idle(self) -> bool:
        """Whether there is nothing to do before a timer falls due: no effect due
        now and no child instance awaited."""
        return self.due_effect() is None and not self.awaited_children()

    @property
    def last_seq(self) -> int:
        """The sequence number of the last event read or recorded (0 before the first)."""
        return self.events[-1].seq if self.events else 0

    @property
    def next_seq(self) -> int:
        return self.last_seq + 1

    # -- replay -------------------------------------------------------------

    def replay(
        self,
        records: Sequence[JournalRecord],
        decode: Callable[[Any], Any] = decoded,
        skipped: Callable[[Any], Any] = decoded,
        *,
        report_deferred: bool = True,
    ) -> None:
        """Apply recorded events in order, reporting any that match no node.

        ``decode`` turns a record's ``stored`` into its event; it is called only for
        the records replay applies. A record a checkpoint covers is kept undecoded,
        as ``skipped`` makes it from its ``stored``.
        """
        keep, strict = self.events.append, self.strict
        covered: set[int] = set()  # grows between interpreter calls, never during one
        retired = self.retired
        look_ahead = self.shielding  # without checkpoints or recoveries, nothing to look for
        # Records without a node are attributed by type, where the tree says it clearly.
        by_type: dict[str, frozenset[str]] = {}
        dynamic: frozenset[str] = frozenset()
        if look_ahead and any(r.node is None for r in records):
            by_type, dynamic = recorders(self.workflow)
        journal = (covered, decode, retired, by_type, dynamic)  # the look-ahead's, but position
        formatted: dict[Path, str] = {}  # the text of each accepting node's path, once

        cursor, seq = self.cursor, 0
        try:
            with collector_paused():
                if not self.started:
                    ahead = Ahead(records, 0, *journal)
                    cursor = start(self.workflow, self.input, ahead if look_ahead else None)
                    self.started = True
                    _take_covered(cursor.log, None, covered)
                for index, record in enumerate(records):
                    seq = record.seq
                    if covered and seq in covered:
                        keep(RecordedEvent(seq, skipped(record.stored), record.node))
                        continue
                    event = record.stored if decode is decoded else decode(record.stored)
                    if type(event) is Cancelled:
                        keep(RecordedEvent(seq, event, record.node))
                        self.cancelled = event
                        cursor = self._cleanup_cursor(cursor)
                        continue
                    if type(event) is Migrated:  # a fact about the instance, not a step
                        keep(RecordedEvent(seq, event, record.node))
                        continue
                    before = cursor.log
                    if look_ahead:
                        ahead = Ahead(
                            records, index + 1, covered, decode, retired, by_type, dynamic
                        )
                        cursor = evolve(cursor, ahead=ahead)
                    applied = apply_event(cursor, seq, event, record.node)
                    cursor = applied.cursor
                    if look_ahead and cursor.log is not before:
                        _take_covered(cursor.log, before, covered)
                    keep(build(RecordedEvent, (seq, event, record.node)))
                    if applied.outcome == "unmatched":
                        self._report(seq, event, applied.expected or "", record.node)
                    elif strict and record.node is not None and applied.node is not None:
                        taken_by = formatted.get(applied.node)
                        if taken_by is None:
                            taken_by = formatted[applied.node] = format_path(applied.node)
                        if taken_by != record.node:  # the tree changed under the journal
                            raise UnmatchedEventError(
                                self.instance_id,
                                seq,
                                describe_event(event),
                                f"giving it to node {taken_by}, not to node {record.node} "
                                "that recorded it",
                                record.node,
                            )
        except StepFailed as exc:
            raise StepFailed(
                f"{exc.node} (instance {self.instance_id!r}, event #{seq})", exc.path, exc.cause
            ) from exc.cause
        finally:
            # Live steps look ahead at nothing.
            self.cursor = cursor if cursor.ahead is None else evolve(cursor, ahead=None)
        if self.retry_state.error is None:
            self._note_pure_failure()
        if report_deferred:
            # Deferred events whose section never reached its checkpoint are unmatched
            # too, as are those a checkpoint found foreign to its section; those a
            # waiting recovery holds are not: its event will cover them.
            held = held_by_recovery(self.cursor)
            for deferred in pending_deferred(self.cursor):
                if deferred.seq in held:
                    continue
                expected = deferred.reason or describe_wait(self.cursor)
                self._report(deferred.seq, deferred.event, expected, deferred.node)

    def _cleanup_cursor(self, cursor: Cursor) -> Cursor:
        """Where a cancellation leaves the instance: at the start of its cleanup flow, on
        the state reached, or where it was (it runs nothing more) without one."""
        if self.cleanup is None:
            return cursor
        # The step that was failing, if any, is abandoned with the rest of the workflow.
        self.retry_state = RetryState()
        self.retry_not_before = None
        # Cancelled inside a parallel or for-each section, on the state before it: the
        # values of its flows so far are parts of a result, not the workflow's state.
        state = state_outside_sections(cursor)
        # Its progress goes on from what the workflow ran, for diagrams to show both.
        return proceed(Cursor(Evaluate(self.cleanup, state, CLEANUP), None, state, cursor.log))

    def restore_attempts(
        self,
        attempts: int,
        retry_at: datetime | None,
        error: str | None,
        failed: bool,
        *,
        defer: bool = False,
    ) -> None:
        """Take over the failure state another process recorded in the registry.

        With ``defer``, a retry it scheduled is not run before ``retry_at``: the
        registry, not this process's memory, says when the next attempt is due."""
        # The registry keeps the error's text only: it failed at the step due now (so
        # that diagrams mark that step, not the whole workflow).
        due = next(ready_effects(self.cursor), None)
        at: Path = () if due is None else due.path
        self.retry_state = RetryState(
            attempts,
            retry_at,
            failed and status(self.cursor) != InstanceStatus.FAILED,
            FailedAttempt(at, None, RecordedError(error)) if error else None,
        )
        self.retry_not_before = retry_at if defer and error else None

    def _report(self, seq: int, event: Any, expected: str, node: str | None) -> None:
        event_type = describe_event(event)
        if self.strict:
            raise UnmatchedEventError(self.instance_id, seq, event_type, expected, node)
        self.unmatched.append(UnmatchedEvent(self.instance_id, seq, event_type, expected, node))
        log.warning(
            "instance %r: event #%d of type %r%s matches no node and was ignored; "
            "the workflow was %s",
            self.instance_id,
            seq,
            event_type,
            "" if node is None else f" (recorded by node {node})",
            expected,
        )

    def _apply(self, seq: int, event: Any) -> Applied:
        try:
            return apply_event(self.cursor, seq, event)
        except StepFailed as exc:
            raise StepFailed(
                f"{exc.node} (instance {self.instance_id!r}, event #{seq})", exc.path, exc.cause
            ) from exc.cause

    # -- running ------------------------------------------------------------

    def due_effect(self) -> Effect | None:
        """The next effect that is due now, retrying a failed pure step first."""
        return next(self._due(), None)

    def due_effects(self) -> list[Effect]:
        """Every effect due now: one per parallel flow that has one, or a due
        timeout alone (it cuts its section short before anything else runs)."""
        return list(self._due(every=True))

    def _due(self, *, every: bool = False) -> Iterator[Effect]:
        if self.halted:
            return
        if self.retry_not_before is not None and self.clock.now() < self.retry_not_before:
            return
        if self.cursor.failure is not None:
            self.cursor = proceed(self.cursor)
            if self._note_pure_failure():
                return
        now = self.clock.now()
        for timeout in armed_timeouts(self.cursor):
            if now >= timeout.release_at:
                yield timeout  # the section ran out of time: interrupt it first
                return
        for effect in ready_effects(self.cursor):  # one per parallel flow that has one
            if not isinstance(effect, ReleaseTimer) or now >= effect.release_at:
                yield effect
                if not every:
                    return
        # Otherwise a timer not yet due: a worker wakes the instance at wakeup_at.

    def awaited_children(self) -> list[CollectChild]:
        """The child instances this one waits for (whether they ended, only the journal
        can tell); none while a failed step waits for its retry."""
        if self.halted:
            return []
        return awaited_children(self.cursor)

    def still_awaited(self, effect: CollectChild) -> bool:
        """Whether the child of ``effect`` is still awaited: another child's business
        error recorded meanwhile may have ended its section."""
        where = routed(self.cursor, effect.route)
        return where is not None and any(c.child == effect.child for c in awaited_children(where))

    def still_due(self, effect: Effect) -> bool:
        """Whether ``effect`` is still wanted: a business error in another flow
        performed at the same time may have ended its parallel section."""
        # Straight to its flow or element: a for-each section of 10,000 elements
        # performs 10,000 effects at once, and each is checked here.
        where = routed(self.cursor, effect.route)
        if where is None:
            return False
        key = (type(effect), effect.path)
        return any((type(e), e.path) == key and not e.route for e in ready_effects(where))

    @property
    def wakeup_at(self) -> datetime | None:
        """When something is next due: a failed step's retry, or a started timer's release."""
        if self.cancelled is not None and self.cleanup is None:
            return None  # its timers are dropped
        if self.retry_state.error is not None:
            return self.retry_state.retry_at
        return min(release_times(self.cursor), default=None)

    def timer_event(self, effect: StartTimer | ReleaseTimer) -> TimerStarted | TimerReleased:
        """The event of a timer effect, from the runtime's clock (the only clock there is)."""
        timer = format_path(effect.path)
        if isinstance(effect, ReleaseTimer):
            return TimerReleased(self.clock.now(), timer)
        duration = effect.node.duration
        wait = duration if isinstance(duration, timedelta) else duration(effect.input)
        if not isinstance(wait, timedelta) or wait < timedelta(0):
            raise DefinitionError(
                f"timer at {format_path(effect.path)}: the duration must be a timedelta of "
                f"zero or more, got {wait!r}"
            )
        return TimerStarted(self.clock.now() + wait, timer)

    def prepare(self, effect: Effect, event: Any) -> Prepared | None:
        """Validate ``event`` and compute the cursor after it, without committing.

        Runtimes persist the event between `prepare` and `commit`, so a handler
        that raises leaves nothing in the journal and the step is retried. The
        event to record is ``event`` in the envelopes of its parallel flows.
        """
        expected = recorded_event_type(effect)
        if not isinstance(event, expected):
            what = "effect" if isinstance(effect, RunStep) else "save_state"
            self.step_failed(
                effect,
                DefinitionError(
                    f"{what} returned {type(event).__name__}, expected an event of type "
                    f"{expected.__name__}"
                ),
            )
            return None
        recorded = in_flows(effect.route, event)
        try:
            applied = apply_event(self.cursor, self.next_seq, recorded)
        except StepFailed as exc:
            self.step_failed(effect, exc.cause)
            return None
        # An event the current effect produced is accepted by construction.
        assert applied.outcome == "accepted", applied
        return Prepared(applied, recorded)

    def snapshot(self) -> Snapshot:
        return Snapshot(self.cursor, len(self.events), self.retry_state, self.cancelled)

    def restore(self, snapshot: Snapshot) -> None:
        """Undo a commit whose journal write failed."""
        self.cursor, event_count, self.retry_state, self.cancelled = snapshot
        del self.events[event_count:]

    def commit(self, applied: Applied, event: Any) -> None:
        node = None if applied.node is None else format_path(applied.node)
        self.events.append(RecordedEvent(self.next_seq, event, node))
        self.cursor = applied.cursor
        if type(event) is Cancelled:
            self.cancelled = event
            self.cursor = self._cleanup_cursor(self.cursor)
        self.retry_state = self.retry_state.after_success()
        self.retry_not_before = None
        self._note_pure_failure()

    def step_failed(self, effect: Effect, exc: BaseException) -> None:
        match effect:
            case RunStep():
                name, policy = effect.node.meta.name, effect.node.retry or self.retry_policy
            case StartTimer() | ReleaseTimer():
                name, policy = effect.node.meta.name or "timer", self.retry_policy
            case SaveCheckpoint():
                name, policy = "checkpoint", self.retry_policy
            case DeliverSignal() | StartChild() | CollectChild():
                name, policy = effect.node.meta.name, self.retry_policy
            case _:
                assert_never(effect)
        self._failed(FailedAttempt(effect.path, name, exc), policy)

    def _note_pure_failure(self) -> bool:
        failure = self.cursor.failure
        if failure is not None:
            self._failed(failure, self.retry_policy)
        return failure is not None

    def _failed(self, failure: FailedAttempt, policy: RetryPolicy) -> None:
        now = self.clock.now()
        self.retry_not_before = None
        state = self.retry_state = self.retry_state.after_failure(failure, policy, now)
        (metrics.FAILED if state.retry_at is not None else metrics.GAVE_UP).inc()
        if state.retry_at is None:
            outcome = "giving up"
        else:
            outcome = f"retrying in {(state.retry_at - now).total_seconds():g}s"
        steps_log.warning(
            "instance %r: step %r at %s raised %s: %s; no event recorded; attempt %d, %s",
            self.instance_id,
            failure.node_name,
            format_path(failure.path),
            type(failure.exception).__name__,
            failure.exception,
            state.attempts,
            outcome,
        )

    # -- events from outside --------------------------------------------------

    def refuse_if_cancelled(self, what: str) -> None:
        """Raise `InstanceCancelled` if an operator cancelled the instance, unless its
        cleanup flow runs: that flow may wait for a signal or an event, as any flow."""
        cleaning = self.cleaning_up and self.status in (
            InstanceStatus.RUNNING,
            InstanceStatus.WAITING,
        )
        if self.cancelled is not None and not cleaning:
            raise InstanceCancelled(
                f"instance {self.instance_id!r} was cancelled ({self.cancelled.reason}); "
                f"it takes no {what}, and nothing was recorded"
            )

    def routed(self, event: Any) -> Any:
        """An outside event in the envelopes of the one parallel flow waiting for it."""
        routes = waiting_routes(self.cursor, type(event))
        return in_flows(routes[0], event) if len(routes) == 1 else event

    def prepare_delivery(self, event: Any) -> Applied:
        """Apply an event delivered from outside (e.g. for a `recover` node)."""
        self.refuse_if_cancelled(type(event).__name__)
        applied = self._apply(self.next_seq, event)
        if applied.outcome != "accepted":
            raise NotWaitingForEvent(
                f"instance {self.instance_id!r} cannot accept {type(event).__name__} now; "
                f"it is {describe_wait(self.cursor)}; nothing was recorded"
            )
        return applied


def _take_covered(
    log: Chain[StepRecord] | None, until: Chain[StepRecord] | None, covered: set[int]
) -> None:
    """Add to ``covered`` the events of the sections shielded since ``until``."""
    while log is not None and log is not until:
        record = log.head
        if record.section_skipped and record.event_seq is not None:
            covered.add(record.event_seq)
            covered.update(record.covered)
        log = log.tail


def recorded_event_type(effect: Effect) -> type[Any]:
    """The type of the event ``effect`` records (before its parallel flows' envelopes)."""
    match effect:
        case StartTimer():
            return TimerStarted
        case ReleaseTimer():
            return TimerReleased
        case RunStep() | SaveCheckpoint() | DeliverSignal():
            return effect.node.event_type
        case StartChild():
            return ChildStarted
        case CollectChild():
            return ChildFinished
        case _:
            assert_never(effect)


def describe_failure(failure: FailedAttempt) -> str:
    """A one-line description of a failed step, as the registry stores it."""
    if isinstance(failure.exception, RecordedError):
        return str(failure.exception)
    where = f"step {failure.node_name!r} at {format_path(failure.path)}"
    text = f"{where}: {type(failure.exception).__name__}: {failure.exception}"
    return text.replace("\x00", "\\x00")  # a NUL from user code: PostgreSQL refuses it


class InstanceView(Generic[In, E, Out]):
    """The read-only face of an instance, shared by the sync and asyncio layers."""

    def __init__(self, core: InstanceCore) -> None:
        self._core = core

    @property
    def id(self) -> str:
        """The instance's id, unique within its journal."""
        return self._core.instance_id

    @property
    def input(self) -> In:
        """The input the instance was created with."""
        return self._core.input  # type: ignore[no-any-return]

    @property
    def status(self) -> InstanceStatus:
        """Running (an effect is due), waiting for the outside, finished or failed."""
        return self._core.status

    @property
    def state(self) -> object:
        """The latest value any node produced (the input until then): the output
        of any node, so typed ``object``."""
        state: object = self._core.state
        return state

    @property
    def result(self) -> Out | E | None:
        """The output once finished, the business error once failed, else None."""
        result: Out | E | None = self._core.result
        return result

    @property
    def progress(self) -> tuple[StepRecord, ...]:
        """The nodes that ran, in order, with their results."""
        return self._core.progress

    @property
    def events(self) -> tuple[RecordedEvent, ...]:
        """The recorded events, numbered from 1."""
        return tuple(self._core.events)

    @property
    def last_error(self) -> FailedAttempt | None:
        """The exception that stopped the last attempt of the current step, if any."""
        return self._core.retry_state.error

    @property
    def attempts(self) -> int:
        """Failed attempts of the current step (0 once it succeeds)."""
        return self._core.retry_state.attempts

    @property
    def retry_at(self) -> datetime | None:
        """When a worker will try the failed step again."""
        return self._core.retry_state.retry_at

    @property
    def unmatched_events(self) -> tuple[UnmatchedEvent, ...]:
        """Journal events replay could not match to any node (also logged at WARNING)."""
        return tuple(self._core.unmatched)

    def waiting_for(self) -> str:
        """What the instance waits for, in words (e.g. "waiting for signal 'Approve'")."""
        return self._core.waiting_for()

    @property
    def waiting_at(self) -> tuple[Path, ...]:
        """The model paths of the nodes the instance waits at now (none once it ended)."""
        return waiting_at(self._core.cursor)

    @property
    def failed_at(self) -> tuple[Path, ...]:
        """The model paths of the steps that failed: with a business error, or whose
        code raised (the one it is stuck at, if any, last)."""
        error = self._core.retry_state.error
        stuck = () if error is None else (error.path,)
        return tuple(dict.fromkeys(failed_at(self._core.cursor) + stuck))
