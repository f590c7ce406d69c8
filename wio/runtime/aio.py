"""The asyncio runtime: the same API as `wio.runtime.sync`, awaitable.

Effects that are coroutine functions are awaited; plain ones are called
directly. Journal writes run in a thread, so the event loop never blocks on
the database: in the event loop's default pool, or in a pool of the runtime's
own sized to ``AsyncRuntime(concurrency=N)``, the journal fitted to it too (on
PostgreSQL a connection for each thread, and group commit unless the URL sets
``group_commit``, see `Journal.fit_concurrency`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import AbstractContextManager
from functools import partial
from typing import Any, TypeVar

from wio import tracing
from wio.algebra import WIO
from wio.clock import Clock
from wio.definition import Workflow
from wio.errors import InvalidSetting
from wio.fencing import running_under
from wio.interpreter import expected_signals
from wio.journal import InstanceRecord, InstanceStatus, Journal
from wio.retry import RetryPolicy
from wio.runtime import procedures
from wio.runtime.base import RuntimeBase, translated_errors
from wio.runtime.core import InstanceCore, InstanceView
from wio.runtime.persistence import (
    InMemory,
    Journaled,
    Persistence,
    call_persistence,
    journal_threads_of,
)
from wio.runtime.procedures import drive_async
from wio.signals import Signal

In = TypeVar("In")
E = TypeVar("E")
Out = TypeVar("Out")
Resp = TypeVar("Resp")


class AsyncInstance(InstanceView[In, E, Out]):
    """A running instance; `advance` advances it without blocking the event loop."""

    def __init__(
        self, core: InstanceCore, persistence: Persistence, threads: Executor | None = None
    ) -> None:
        super().__init__(core)
        self._persistence = persistence
        self._threads = threads

    async def step(self) -> bool:
        """Perform the next effect and record its event. False if nothing was done."""
        with journal_threads_of(self._threads), self._fenced():
            return bool(await drive_async(procedures.step(self._core, self._persistence)))

    async def advance(self, *, until: Callable[[], bool] | None = None) -> InstanceStatus:
        """Advance until finished, waiting for the outside, or stopped by an error.

        ``until`` is asked between steps; see `Instance.advance`. In a parallel
        section, the next step of every flow runs at once (their coroutines
        awaited concurrently), and each event is recorded as before.
        """
        with (
            journal_threads_of(self._threads),
            tracing.span("wio.run", self._core.labels, self._core.trace_context),
        ):
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
            with self._fenced():
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
        with journal_threads_of(self._threads):
            return await self._signal(signal, request, key, element, advance)

    async def _signal(
        self,
        signal: Signal[Any, Resp],
        request: Any,
        key: str | None,
        element: str | None,
        advance: bool,
    ) -> Resp:
        try:
            with self._fenced():
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

    def _fenced(self) -> AbstractContextManager[None]:
        """`wio.fencing.current_lease` answers for the steps run inside."""
        return running_under(partial(self._persistence.step_lease, self._core))

    async def _outside(self, steps: Any) -> Any:
        with journal_threads_of(self._threads):
            try:
                return await drive_async(steps)
            finally:
                await call_persistence(self._persistence, self._persistence.release, self._core)


class AsyncRuntime(RuntimeBase[In, E, Out, "AsyncInstance[In, E, Out]"]):
    """Runs instances of one workflow from asyncio code; see `Runtime`.

    ``concurrency``: the journal calls of its instances run in a pool of this many
    threads, its own, and the journal is fitted to as many callers at once
    (`Journal.fit_concurrency`); None, the default, uses the event loop's default
    pool (asyncio's, a few threads) and leaves the journal as it is."""

    def __init__(
        self,
        workflow: WIO[In, E, Out] | Workflow[In, E, Out],
        *,
        journal: Journal | str | None = None,
        strict: bool = False,
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
        owner: str | None = None,
        lease_ttl: float = 30.0,
        concurrency: int | None = None,
    ) -> None:
        if concurrency is not None and not concurrency >= 1:
            raise InvalidSetting(
                f"AsyncRuntime: concurrency must be 1 or more, got {concurrency!r}"
            )
        super().__init__(
            workflow,
            journal=journal,
            strict=strict,
            clock=clock,
            retry=retry,
            owner=owner,
            lease_ttl=lease_ttl,
        )
        self.concurrency = concurrency
        self._threads: ThreadPoolExecutor | None = None
        if concurrency is not None:
            self._threads = ThreadPoolExecutor(concurrency, thread_name_prefix="wio-journal")
            if self.journal is not None:
                self.journal.fit_concurrency(concurrency)

    def close(self) -> None:
        """Stop the runtime's thread pool, if any; close the journal if it opened it."""
        if self._threads is not None:
            self._threads.shutdown()
        super().close()

    def _instance(self, core: InstanceCore, persistence: Persistence) -> AsyncInstance[In, E, Out]:
        return self._keep(AsyncInstance(core, persistence, self._threads))

    async def create(self, instance_id: str, input: In) -> AsyncInstance[In, E, Out]:
        """Create an instance; see `Runtime.create`."""
        core, persistence = self._new(instance_id, input)
        with translated_errors(), journal_threads_of(self._threads):
            await call_persistence(persistence, persistence.created, core)
        return self._instance(core, persistence)

    async def get(self, instance_id: str) -> AsyncInstance[In, E, Out]:
        """The instance, loaded from the journal if not in memory; see `Runtime.get`."""
        instance = self._instances.get(instance_id)
        if instance is not None:
            return instance
        persistence = self._journaled_or_missing(instance_id)
        with translated_errors(), journal_threads_of(self._threads):
            core = await call_persistence(
                persistence,
                persistence.load,
                lambda input: self._core(instance_id, input, started=False),
                instance_id,
            )
        return self._instance(core, persistence)

    async def claimed(self, record: InstanceRecord, since: float) -> AsyncInstance[In, E, Out]:
        """The instance of a record this runtime's owner claimed; see `Runtime.claimed`."""
        persistence = self._journaled_or_missing(record.id)
        instance = self._instances.get(record.id)
        with translated_errors(), journal_threads_of(self._threads):
            if instance is None:
                core = await call_persistence(
                    persistence,
                    persistence.load,
                    lambda input: self._core(record.id, input),
                    record.id,
                    record,
                )
                instance = self._instance(core, persistence)
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
