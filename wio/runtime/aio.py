"""The asyncio runtime: the same API as `wio.runtime.sync`, awaitable.

Effects that are coroutine functions are awaited; plain ones are called
directly. Journal writes run in a thread, so the event loop never blocks on
the database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from wio import tracing
from wio.interpreter import expected_signals
from wio.journal import InstanceRecord, InstanceStatus
from wio.runtime import procedures
from wio.runtime.base import RuntimeBase, translated_errors
from wio.runtime.core import InstanceCore, InstanceView
from wio.runtime.persistence import InMemory, Journaled, Persistence, call_persistence
from wio.runtime.procedures import drive_async
from wio.signals import Signal

In = TypeVar("In")
E = TypeVar("E")
Out = TypeVar("Out")
Resp = TypeVar("Resp")


class AsyncInstance(InstanceView[In, E, Out]):
    """A running instance; `advance` advances it without blocking the event loop."""

    def __init__(self, core: InstanceCore, persistence: Persistence) -> None:
        super().__init__(core)
        self._persistence = persistence

    async def step(self) -> bool:
        """Perform the next effect and record its event. False if nothing was done."""
        return bool(await drive_async(procedures.step(self._core, self._persistence)))

    async def advance(self, *, until: Callable[[], bool] | None = None) -> InstanceStatus:
        """Advance until finished, waiting for the outside, or stopped by an error.

        ``until`` is asked between steps; see `Instance.advance`. In a parallel
        section, the next step of every flow runs at once (their coroutines
        awaited concurrently), and each event is recorded as before.
        """
        with tracing.span("wio.run", self._core.labels, self._core.trace_context):
            try:  # the catch-up inside acquire may raise (strict replay): release then too
                await call_persistence(self._persistence, self._persistence.acquire, self._core)
                await self._run_on(until)
            finally:
                await call_persistence(self._persistence, self._persistence.release, self._core)
        return self.status

    async def _run_on(self, until: Callable[[], bool] | None = None) -> None:
        self._core.traced = tracing.enabled()
        # The flows of a parallel section await their effects concurrently.
        steps = procedures.step_concurrently
        while not (until is not None and until()):
            if not await drive_async(steps(self._core, self._persistence)):
                break
            if not self._core.more_is_due():
                break

    async def deliver(self, event: Any) -> InstanceStatus:
        """Record an event from outside the workflow; see `Instance.deliver`."""
        await self._outside(procedures.deliver(self._core, self._persistence, event))
        return self.status

    async def signal(
        self,
        signal: Signal[Any, Resp],
        request: Any,
        *,
        key: str | None = None,
        element: str | None = None,
        advance: bool = True,
    ) -> Resp:
        """Deliver ``signal``, run on to the next wait, and return its response; see
        `Instance.signal`."""
        try:
            response: Resp = await drive_async(
                procedures.signal(self._core, self._persistence, signal, request, key, element)
            )
            if advance and self._core.more_is_due():
                await self._run_on()
        finally:
            await call_persistence(self._persistence, self._persistence.release, self._core)
        return response

    def expected_signals(self) -> tuple[Signal[Any, Any], ...]:
        """The signals the instance waits for now."""
        return expected_signals(self._core.cursor)

    async def _outside(self, steps: Any) -> Any:
        try:
            return await drive_async(steps)
        finally:
            await call_persistence(self._persistence, self._persistence.release, self._core)


class AsyncRuntime(RuntimeBase[In, E, Out, "AsyncInstance[In, E, Out]"]):
    """Runs instances of one workflow from asyncio code; see `Runtime`."""

    async def create(self, instance_id: str, input: In) -> AsyncInstance[In, E, Out]:
        """Create an instance; see `Runtime.create`."""
        core, persistence = self._new(instance_id, input)
        with translated_errors():
            await call_persistence(persistence, persistence.created, core)
        return self._keep(AsyncInstance(core, persistence))

    async def get(self, instance_id: str) -> AsyncInstance[In, E, Out]:
        """The instance, loaded from the journal if not in memory; see `Runtime.get`."""
        instance = self._instances.get(instance_id)
        if instance is not None:
            return instance
        persistence = self._journaled_or_missing(instance_id)
        with translated_errors():
            core = await call_persistence(
                persistence,
                persistence.load,
                lambda input: self._core(instance_id, input, started=False),
                instance_id,
            )
        return self._keep(AsyncInstance(core, persistence))

    async def claimed(self, record: InstanceRecord, since: float) -> AsyncInstance[In, E, Out]:
        """The instance of a record this runtime's owner claimed; see `Runtime.claimed`."""
        persistence = self._journaled_or_missing(record.id)
        instance = self._instances.get(record.id)
        with translated_errors():
            if instance is None:
                core = await call_persistence(
                    persistence,
                    persistence.load,
                    lambda input: self._core(record.id, input),
                    record.id,
                    record,
                )
                instance = self._keep(AsyncInstance(core, persistence))
            journaled = instance._persistence
            assert isinstance(journaled, Journaled)  # a runtime on a journal
            await call_persistence(journaled, journaled.leased, instance._core, record, since)
        return instance

    async def rebuild(
        self, instance_id: str, input: In, events: Iterable[Any]
    ) -> AsyncInstance[In, E, Out]:
        """Rebuild an instance in memory from its events; see `Runtime.rebuild`."""
        core = self._rebuilt(instance_id, input, events)
        return self._keep(AsyncInstance(core, InMemory()))
