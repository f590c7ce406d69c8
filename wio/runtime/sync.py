"""The synchronous runtime: in memory, or durable on any journal."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any, TypeVar, assert_never

from wio import tracing
from wio.errors import DefinitionError
from wio.interpreter import DeliverSignal, RunStep, SaveCheckpoint, expected_signals
from wio.journal import InstanceRecord, InstanceStatus
from wio.runtime import procedures
from wio.runtime.base import RuntimeBase, translated_errors
from wio.runtime.core import InstanceCore, InstanceView
from wio.runtime.persistence import InMemory, Journaled, Persistence
from wio.runtime.procedures import drive_sync
from wio.signals import Signal

In = TypeVar("In")
E = TypeVar("E")
Out = TypeVar("Out")
Resp = TypeVar("Resp")


def perform_sync(effect: RunStep | SaveCheckpoint | DeliverSignal) -> Any:
    """Call the user function behind ``effect`` and return what it returns."""
    match effect:
        case RunStep():
            call, is_async = partial(effect.node.effect, effect.input), effect.node.is_async
        case DeliverSignal():
            call = partial(effect.node.handle, effect.input, effect.request)
            is_async = effect.node.is_async
        case SaveCheckpoint():
            return effect.node.save_state(effect.input, effect.output)
        case _:
            assert_never(effect)
    if not is_async:
        return call()
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(call())
    raise DefinitionError(
        f"{effect.node.meta.name!r} is a coroutine function and an event loop is running: "
        "use AsyncRuntime from async code"
    )


class Instance(InstanceView[In, E, Out]):
    """A running instance. Query it at any time; `advance` advances it."""

    def __init__(self, core: InstanceCore, persistence: Persistence) -> None:
        super().__init__(core)
        self._persistence = persistence

    def step(self) -> bool:
        """Perform the next effect and record its event. False if nothing was done."""
        return bool(drive_sync(procedures.step(self._core, self._persistence), perform_sync))

    def advance(self, *, until: Callable[[], bool] | None = None) -> InstanceStatus:
        """Advance until finished, waiting for the outside, or stopped by an error.

        ``until`` is asked between steps; when it returns true the run stops
        there (a worker shutting down uses it). On a journal the instance's
        lease is held while it runs and released after.
        """
        with tracing.span("wio.run", self._core.labels, self._core.trace_context):
            try:  # the catch-up inside acquire may raise (strict replay): release then too
                self._persistence.acquire(self._core)
                self._run_on(until)
            finally:
                self._persistence.release(self._core)
        return self.status

    def _run_on(self, until: Callable[[], bool] | None = None) -> None:
        self._core.traced = tracing.enabled()
        while not (until is not None and until()):
            if not self.step() or not self._core.more_is_due():
                break

    def deliver(self, event: Any) -> InstanceStatus:
        """Record an event from outside the workflow (an operator's or a migration's).

        Raises `NotWaitingForEvent` if no node accepts it now; nothing is recorded then.
        """
        self._outside(procedures.deliver(self._core, self._persistence, event))
        return self.status

    def signal(
        self,
        signal: Signal[Any, Resp],
        request: Any,
        *,
        key: str | None = None,
        element: str | None = None,
        advance: bool = True,
    ) -> Resp:
        """Deliver ``signal`` and return its response.

        The request may be an instance of the signal's request type or its
        JSON form. A repeated delivery (same ``key``, or without a key the same
        request once the instance no longer waits for the signal) returns the
        recorded response and runs nothing. Raises `UnexpectedSignal` if the
        instance does not wait for it and `SignalRequestError` for a request of
        the wrong shape; nothing is recorded then. With ``element=`` it goes
        to the body of that element of a `WIO.for_each` section (by its key);
        without, to the first handler waiting for it.

        Once the signal is recorded, the instance runs on here, under the same
        lease, to its next wait (as `advance` would), so that it is ready for the
        next signal even when no worker is running; ``advance=False`` records
        the signal alone (as `step` records one event).
        """
        try:
            response: Resp = drive_sync(
                procedures.signal(self._core, self._persistence, signal, request, key, element),
                perform_sync,
            )
            if advance and self._core.more_is_due():
                self._run_on()
        finally:
            self._persistence.release(self._core)
        return response

    def expected_signals(self) -> tuple[Signal[Any, Any], ...]:
        """The signals the instance waits for now."""
        return expected_signals(self._core.cursor)

    def _outside(self, steps: Any) -> Any:
        # Something from outside, then the lease goes back, so workers take over at once.
        try:
            return drive_sync(steps, perform_sync)
        finally:
            self._persistence.release(self._core)


class Runtime(RuntimeBase[In, E, Out, "Instance[In, E, Out]"]):
    """Runs instances of one workflow: in memory, or durably on a journal.

    ``Runtime(workflow)`` keeps everything in memory. ``Runtime(Workflow(...),
    journal="sqlite:///wio.db")`` records every event in the journal; a
    fresh runtime on the same journal picks instances up where they stopped.

    ``strict=True`` makes replay raise `UnmatchedEventError` on an event that
    no node accepts; by default such events are logged at WARNING and listed
    in `Instance.unmatched_events`.
    """

    def create(self, instance_id: str, input: In) -> Instance[In, E, Out]:
        """Create an instance; it advances through pure steps but runs no effect yet."""
        core, persistence = self._new(instance_id, input)
        with translated_errors():
            persistence.created(core)
        return self._keep(Instance(core, persistence))

    def get(self, instance_id: str) -> Instance[In, E, Out]:
        """The instance, loaded from the journal (events replayed) if not in memory."""
        instance = self._instances.get(instance_id)
        if instance is not None:
            return instance
        persistence = self._journaled_or_missing(instance_id)
        with translated_errors():
            core = persistence.load(
                lambda input: self._core(instance_id, input, started=False), instance_id
            )
        return self._keep(Instance(core, persistence))

    def claimed(self, record: InstanceRecord, since: float) -> Instance[In, E, Out]:
        """The instance of ``record``, whose lease this runtime's owner took at
        ``since`` (`time.monotonic`) by claiming it, as a worker does: loaded from the
        record if not in memory, caught up if behind, and advanced without taking
        the lease again (which would cost one more commit)."""
        persistence = self._journaled_or_missing(record.id)
        instance = self._instances.get(record.id)
        with translated_errors():
            if instance is None:
                core = persistence.load(
                    lambda input: self._core(record.id, input), record.id, record
                )
                instance = self._keep(Instance(core, persistence))
            journaled = instance._persistence
            assert isinstance(journaled, Journaled)  # a runtime on a journal
            journaled.leased(instance._core, record, since)
        return instance

    def rebuild(self, instance_id: str, input: In, events: Iterable[Any]) -> Instance[In, E, Out]:
        """Rebuild an instance in memory from its events (numbered from 1), running no effect."""
        core = self._rebuilt(instance_id, input, events)
        return self._keep(Instance(core, InMemory()))
