"""Where a runtime keeps an instance: only in memory, or in a journal.

Both implement the same small interface, so the sync and asyncio runtimes
never branch on which one they have. `Journaled` keeps the instance live in
memory while it holds the lease: a step costs one append (one INSERT and one
COMMIT), with the registry row updated in the same transaction only when the
status, retry time or error changes. The journal is read again only when the
lease is (re)acquired, to catch up with what other processes appended.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import timedelta
from functools import partial
from typing import Any, Protocol, TypeVar

from attrs import frozen

from wio import metrics, tracing
from wio.children import ChildDidNotFinish, ChildFinished, ChildIdTaken, ChildStarted, child_id
from wio.codec import ENVELOPES, decode_input, encode_value, innermost_stored_type
from wio.definition import Workflow, tags_of
from wio.errors import DefinitionError, JournalSequenceError, WrongWorkflow
from wio.fencing import StepLease
from wio.interpreter import CollectChild, JournalRecord, StartChild, format_path
from wio.interpreter.cursor import build
from wio.journal import (
    ConcurrencyConflict,
    DuplicateInstance,
    InstanceRecord,
    InstanceStatus,
    Journal,
    Lease,
    LeaseLost,
    NewEvent,
    StatusUpdate,
    StoredEvent,
)
from wio.journal.records import FINAL_STATUSES
from wio.runtime.core import InstanceCore, collector_paused, describe_failure
from wio.undecoded import UndecodedEvent

FROM_THE_START = -(2**31)  # an ``after_seq`` below any stored sequence number

log = logging.getLogger("wio.runtime")
Tags = tuple[tuple[str, str], ...]


class Persistence(Protocol):
    blocking: bool  # whether its calls do I/O (the asyncio layer runs those in a thread)

    def created(self, core: InstanceCore) -> None:
        """A new instance was created in memory."""

    def appended(self, core: InstanceCore) -> None:
        """The core committed one event (the last); write it. Raises to have it undone."""

    def changed(self, core: InstanceCore) -> None:
        """The core's failure state changed without an event."""

    def acquire(self, core: InstanceCore) -> None:
        """Make sure this process may advance the instance, and is up to date."""

    def release(self, core: InstanceCore) -> None:
        """Let other processes advance the instance."""

    def child_effect(
        self, core: InstanceCore, effect: StartChild | CollectChild
    ) -> ChildStarted | ChildFinished | None:
        """Start a child instance (creating it unless it exists), or collect its end
        (None while it runs)."""

    def step_lease(self, core: InstanceCore) -> StepLease | None:
        """The lease steps run under now (their fencing token), if any."""


class InMemory:
    """Nothing outlives the process; every call is free."""

    blocking = False

    def created(self, core: InstanceCore) -> None:
        pass

    def appended(self, core: InstanceCore) -> None:
        pass

    def changed(self, core: InstanceCore) -> None:
        pass

    def acquire(self, core: InstanceCore) -> None:
        pass

    def release(self, core: InstanceCore) -> None:
        pass

    def child_effect(
        self, core: InstanceCore, effect: StartChild | CollectChild
    ) -> ChildStarted | ChildFinished | None:
        raise DefinitionError(
            f"instance {core.instance_id!r}: WIO.run_child at {format_path(effect.path)} "
            "starts a separate instance, which needs a journal: run the workflow on one "
            "(journal='memory://' for tests)"
        )

    def step_lease(self, core: InstanceCore) -> StepLease | None:
        return None


@frozen
class _RegistryView:
    status: InstanceStatus
    wakeup_at: Any
    last_error: str | None
    attempts: int


def registry_view(core: InstanceCore) -> _RegistryView:
    state = core.retry_state
    error = None if state.error is None else describe_failure(state.error)
    return _RegistryView(core.status, core.wakeup_at, error, state.attempts)


class Journaled:
    """One instance kept in a journal, advanced under a lease."""

    blocking = True

    def __init__(self, journal: Journal, workflow: Workflow[Any, Any, Any], owner: str, ttl: float):
        self.journal = journal
        self.workflow = workflow
        self.owner = owner
        self.ttl = timedelta(seconds=ttl)
        self._persisted: _RegistryView | None = None
        self._tags: Tags | None = None  # as the registry holds them; None: not known
        self._lease_renew_at = 0.0  # monotonic time after which the lease is renewed
        self._epoch: int | None = None  # the lease's epoch while this process holds it

    # -- creating and loading ---------------------------------------------------

    def created(self, core: InstanceCore) -> None:
        view = registry_view(core)
        now = core.clock.now()
        core.trace_context = tracing.current_trace_context()
        self.journal.create_instance(
            InstanceRecord(
                id=core.instance_id,
                workflow=self.workflow.name,
                workflow_version=self.workflow.version,
                status=view.status,
                input=encode_value(core.input, self.workflow.input_type),
                created_at=now,
                updated_at=now,
                wakeup_at=view.wakeup_at,
                last_error=view.last_error,
                attempts=view.attempts,
                trace_context=core.trace_context,
            )
        )
        self._persisted = view
        self._tags = ()
        tags = self._changed_tags(core)
        if tags:
            self.journal.update_instance(core.instance_id, self._update(view, tags), now)
            self._tags = tags

    def load(
        self, core_factory: Any, instance_id: str, record: InstanceRecord | None = None
    ) -> InstanceCore:
        """Rebuild an instance from the journal: its registry row (read unless given,
        as a claim returns it), then its events."""
        if record is None:
            record = self.journal.get_instance(instance_id)
        self._check_workflow(record)
        where = f"instance {instance_id!r}"
        core: InstanceCore = core_factory(
            decode_input(record.input, self.workflow.input_type, where)
        )
        core.trace_context = record.trace_context
        with metrics.REPLAY.time():
            self._catch_up(core, record)
        return core

    # -- writing ----------------------------------------------------------------

    def appended(self, core: InstanceCore) -> None:
        recorded = core.events[-1]
        # Never catch up under an event not yet written: if another process moved the
        # journal on meanwhile, this event is refused at the position it would have taken.
        self.acquire(core, expected_seq=recorded.seq - 1)
        view = registry_view(core)
        # An instance that is not running, or has nothing to do before a timer falls
        # due, has no work for its holder: give the lease back in the same statement
        # rather than in one more (also when it stays waiting: a signal that loops
        # back to a wait). The run then stops (`InstanceCore.more_is_due`).
        release = view.status != InstanceStatus.RUNNING or (
            view.wakeup_at is not None and core.idle()
        )
        tags = self._changed_tags(core)
        unchanged = view == self._persisted and not release and tags is None
        update = None if unchanged else self._update(view, tags, release=release)
        encoded = self.workflow.codec.encode(recorded.event)
        assert self._epoch is not None  # acquired above
        with metrics.EVENT_APPEND.time():
            self.journal.append(
                core.instance_id,
                recorded.seq - 1,
                [NewEvent(encoded.type, encoded.version, encoded.payload, recorded.node)],
                core.clock.now(),
                update,
                # Fenced: refused if another process took the lease over meanwhile.
                lease=Lease(self.owner, self._epoch),
            )
        metrics.RECORDED.inc()  # counted where it is written: workers always journal
        self._persisted = view
        if tags is not None:
            self._tags = tags
        if update is not None and update.release_lease:
            self._released()
        if update is not None and view.status == InstanceStatus.WAITING:
            self._wake_if_a_child_ended(core)

    def _wake_if_a_child_ended(self, core: InstanceCore) -> None:
        """A child that ended between our look at it and our "waiting" found the
        parent not waiting yet, so its wake-up (in the child's final transaction) did
        nothing: look again now that "waiting" is written, and make the parent
        runnable if so. Either the child's wake-up or this look sees the other."""
        ended = [
            effect.child
            for effect in core.awaited_children()
            if self.journal.get_instance(effect.child).status in FINAL_STATUSES
        ]
        if not ended or self._persisted is None:
            return
        persisted = self._persisted
        view = _RegistryView(InstanceStatus.RUNNING, None, persisted.last_error, persisted.attempts)
        try:  # conditional on the last event, as any registry update of ours
            self.journal.update_instance(
                core.instance_id,
                self._update(view, release=True),
                core.clock.now(),
                expected_seq=core.last_seq,
            )
        except ConcurrencyConflict:
            return  # moved on meanwhile (a cancel, another worker): it is runnable anyway
        self._persisted = view
        log.info(
            "instance %r: child %s ended as it went to wait; runnable again",
            core.instance_id,
            ", ".join(ended),
        )

    def _changed_tags(self, core: InstanceCore) -> Tags | None:
        """The instance's tags if the registry does not hold them yet, else None."""
        if self.workflow.tags is None:
            return None
        try:
            tags = tags_of(self.workflow, core.state)
        except DefinitionError as exc:
            # A tag is for searching: its failure must not stop the instance.
            log.warning("instance %r: tags not updated: %s", core.instance_id, exc)
            return None
        return None if tags == self._tags else tags

    def changed(self, core: InstanceCore) -> None:
        view = registry_view(core)
        tags = self._changed_tags(core)
        if view != self._persisted or tags is not None:
            update = self._update(view, tags)
            # Conditional on the last event: an operator's cancellation recorded
            # meanwhile must not be overwritten (this raises `InstanceChanged` then).
            # And on the failed attempts the registry held: a stale process (one whose
            # lease ran out while another took a turn) never sets the count back.
            self.journal.update_instance(
                core.instance_id,
                update,
                core.clock.now(),
                expected_seq=core.last_seq,
                expected_attempts=None if self._persisted is None else self._persisted.attempts,
            )
            self._persisted = view
            if tags is not None:
                self._tags = tags
            if update.release_lease:
                self._released()
            if view.status == InstanceStatus.WAITING:
                self._wake_if_a_child_ended(core)

    # -- the lease --------------------------------------------------------------

    def acquire(self, core: InstanceCore, expected_seq: int | None = None) -> None:
        """Take or renew the lease, catching up with what others wrote meanwhile; with
        ``expected_seq`` (an append's), raise `ConcurrencyConflict` instead if the
        journal is not at that event."""
        if time.monotonic() < self._lease_renew_at:
            return
        record = self.journal.acquire_lease(
            core.instance_id, self.owner, core.clock.now(), self.ttl
        )
        # Renew at half the lease's life: a crashed holder's work is free again after ttl.
        self._lease_renew_at = time.monotonic() + self.ttl.total_seconds() / 2
        held, self._epoch = self._epoch, record.lease_epoch
        if held is not None and held != record.lease_epoch:
            # The lease ran out during this run and changed hands (perhaps back to this
            # process): what the run did since is stale, and another may have done it.
            self.release(core)
            raise LeaseLost(core.instance_id, self.owner, held, self.owner, record.lease_epoch)
        if record.workflow_version != self.workflow.version:  # migrated meanwhile
            self.release(core)
            self._check_workflow(record)
        if expected_seq is not None and record.last_seq != expected_seq:
            raise ConcurrencyConflict(core.instance_id, expected_seq, record.last_seq)
        if record.last_seq != core.last_seq:
            self._catch_up(core, record, defer=True)
        elif self._persisted is not None and (record.attempts, record.status) != (
            self._persisted.attempts,
            self._persisted.status,
        ):
            # Another process took a turn without an event (a failed attempt, an
            # operator's retry): its count and its retry time hold, not this memory.
            self._take_registry(core, record, defer=True)

    def leased(self, core: InstanceCore, record: InstanceRecord, since: float) -> None:
        """This owner took the lease at ``since`` (`time.monotonic`) by claiming
        ``record``: no need to take it again before half its life has passed."""
        self._lease_renew_at = since + self.ttl.total_seconds() / 2
        self._epoch = record.lease_epoch
        if record.last_seq != core.last_seq:
            self._catch_up(core, record)

    def release(self, core: InstanceCore) -> None:
        if self._lease_renew_at:  # still held: not already released with a status update
            self._released()
            self.journal.release_lease(core.instance_id, self.owner)

    # -- child instances ----------------------------------------------------------

    def child_effect(
        self, core: InstanceCore, effect: StartChild | CollectChild
    ) -> ChildStarted | ChildFinished | None:
        if isinstance(effect, StartChild):
            return self._start_child(core, effect)
        return self._child_end(core, effect)

    def _start_child(self, core: InstanceCore, effect: StartChild) -> ChildStarted:
        node, at = effect.node, format_path(effect.path)
        suffix = node.id_of(effect.input)
        if not isinstance(suffix, str) or not suffix.strip():
            raise DefinitionError(
                f"WIO.run_child at {at}: id_of returned {suffix!r}; a child's id must be a "
                "non-blank string, the same for the same input"
            )
        child, workflow = child_id(core.instance_id, suffix), node.workflow
        child_input = node.map_input(effect.input)
        now = core.clock.now()
        record = InstanceRecord(
            id=child,
            workflow=workflow.name,
            workflow_version=workflow.version,
            status=InstanceStatus.RUNNING,
            input=encode_value(child_input, workflow.input_type),
            created_at=now,
            updated_at=now,
        )
        try:
            self.journal.create_instance(record, parent=core.instance_id)
        except DuplicateInstance:  # created before a crash, or by an earlier attempt
            found = self.journal.get_instance(child)
            if self.journal.family(child).parent != core.instance_id or found.workflow != (
                workflow.name
            ):
                raise ChildIdTaken(
                    f"instance {core.instance_id!r}: WIO.run_child at {at} would start "
                    f"{child!r}, but that id is taken by an instance of workflow "
                    f"{found.workflow!r} that is not this instance's child"
                ) from None
        return ChildStarted(child, at)

    def _child_end(self, core: InstanceCore, effect: CollectChild) -> ChildFinished | None:
        node, child, at = effect.node, effect.child, format_path(effect.path)
        record = self.journal.get_instance(child)
        if record.status not in FINAL_STATUSES:
            return None
        workflow = node.workflow
        reader = Journaled(self.journal, workflow, self.owner, self.ttl.total_seconds())
        ended = reader.load(
            lambda child_input: InstanceCore(
                child,
                workflow.wio,
                child_input,
                strict=False,
                retry=workflow.retry,
                clock=core.clock,
                retired=workflow.codec.retired,
                started=False,
                cleanup=workflow.on_cancel,
            ),
            child,
            record,
        )
        if ended.status == InstanceStatus.FINISHED:
            return ChildFinished(child, at, result=encode_value(ended.result, node.result_type))
        error = ended.result if ended.status == InstanceStatus.FAILED else None
        if error is None:
            how = "was cancelled" if ended.status == InstanceStatus.CANCELLED else "gave up"
            raise ChildDidNotFinish(
                f"child instance {child!r} {how} ({record.last_error or 'no error recorded'}): "
                "it has no result; resume or replace it, and the parent retries"
            )
        return ChildFinished(
            child, at, error_type=type(error).__name__, error=encode_value(error, type(error))
        )

    def step_lease(self, core: InstanceCore) -> StepLease | None:
        if self._epoch is None:
            return None
        return StepLease(core.instance_id, self.owner, self._epoch)

    def _released(self) -> None:
        self._lease_renew_at = 0.0
        self._epoch = None

    # -- helpers ----------------------------------------------------------------

    def _catch_up(self, core: InstanceCore, record: InstanceRecord, *, defer: bool = False) -> None:
        # After the last event read, whatever its number; from the start, rows numbered
        # 0 or less too, so that `journal_records` refuses them instead of skipping them.
        after = core.last_seq or FROM_THE_START
        with collector_paused():  # reading many rows allocates as much as replaying them
            stored = self.journal.read(core.instance_id, after_seq=after, times=False)
            decode = self.workflow.codec.decode
            core.replay(journal_records(stored, core.last_seq), decode, undecoded)
        self._take_registry(core, record, defer=defer)

    def _take_registry(self, core: InstanceCore, record: InstanceRecord, *, defer: bool) -> None:
        """Take the failure state (attempts, retry time, error) the registry holds.

        With ``defer``, a retry another process scheduled for later is not run before
        its time, even though this process held a lease on the instance."""
        core.restore_attempts(
            record.attempts,
            record.wakeup_at,
            record.last_error,
            failed=record.status == InstanceStatus.FAILED,
            defer=defer,
        )
        # What the registry holds, not what the code makes of the events: when they
        # differ (new code, or another version's instance), the next write corrects the
        # registry. Otherwise an instance that now waits for an operator or a signal
        # would stay registered as running, and workers would reload it in a loop.
        self._persisted = _RegistryView(
            record.status, record.wakeup_at, record.last_error, record.attempts
        )
        self._tags = None  # written with the next step (another process may have moved it)

    def _check_workflow(self, record: InstanceRecord) -> None:
        if (record.workflow, record.workflow_version) != (
            self.workflow.name,
            self.workflow.version,
        ):
            hint = (
                f": load it with version {record.workflow_version}'s code (a worker serves "
                "several versions side by side), or move it with `wio migrate`"
                if record.workflow == self.workflow.name
                else ""
            )
            raise WrongWorkflow(
                f"instance {record.id!r} runs workflow {record.workflow!r} version "
                f"{record.workflow_version}, not {self.workflow.name!r} version "
                f"{self.workflow.version}{hint}"
            )

    @staticmethod
    def _update(
        view: _RegistryView, tags: Tags | None = None, *, release: bool | None = None
    ) -> StatusUpdate:
        """The registry's new row; the lease goes back with it when ``release``, by
        default when the instance no longer runs."""
        return StatusUpdate(
            status=view.status,
            wakeup_at=view.wakeup_at,
            last_error=view.last_error,
            attempts=view.attempts,
            release_lease=view.status != InstanceStatus.RUNNING if release is None else release,
            tags=tags,
        )


def journal_records(stored: list[StoredEvent], after: int = 0) -> list[JournalRecord]:
    """Stored events as replay reads them: typed and attributed, not yet decoded.

    They must be numbered on from ``after`` + 1 without a gap: a missing, repeated
    or out-of-range sequence number raises `JournalSequenceError` naming the
    instance and the seq (replaying around it would apply the wrong history)."""
    records: list[JournalRecord] = []
    keep = records.append
    expected = after + 1
    for e in stored:
        if e.seq != expected:
            raise JournalSequenceError(e.instance_id, e.seq, e.type, expected)
        expected += 1
        if e.type in ENVELOPES:  # the type and flow inside the envelopes
            type_, flow = innermost_stored_type(e)
            keep(JournalRecord(e.seq, type_, e.node, e, None if e.node else flow))
        else:
            keep(build(JournalRecord, (e.seq, e.type, e.node, e, None)))
    return records


def undecoded(stored: StoredEvent) -> UndecodedEvent:
    """A stored event a checkpoint covered, kept as stored."""
    return UndecodedEvent(stored.type, stored.version, stored.payload)


T = TypeVar("T")


# The thread pool of the `AsyncRuntime` running the current task, sized to its
# concurrency; None: the event loop's default pool.
journal_threads: ContextVar[Executor | None] = ContextVar("wio_journal_threads", default=None)


@contextmanager
def journal_threads_of(threads: Executor | None) -> Iterator[None]:
    """Journal calls made inside run in ``threads`` (None: the event loop's default pool)."""
    token = journal_threads.set(threads)
    try:
        yield
    finally:
        journal_threads.reset(token)


async def in_thread(function: Callable[..., T], *args: Any) -> T:
    """Call a blocking ``function`` from asyncio code, in `journal_threads`, with the
    caller's context (the step's lease, its trace) as `asyncio.to_thread` does."""
    threads = journal_threads.get()
    if threads is None:
        return await asyncio.to_thread(function, *args)
    call = partial(contextvars.copy_context().run, function, *args)
    return await asyncio.get_running_loop().run_in_executor(threads, call)


async def call_persistence(persistence: Persistence, method: Callable[..., T], *args: Any) -> T:
    """Call a persistence method from asyncio code: in a thread if it does I/O."""
    if persistence.blocking:
        return await in_thread(method, *args)
    return method(*args)
