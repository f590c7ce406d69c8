"""The asyncio in-memory runtime: the same API as `wio.runtime.sync`, awaitable."""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any, Generic, TypeVar

from wio.algebra import WIO
from wio.errors import DefinitionError, InstanceAlreadyExists, InstanceNotFound
from wio.interpreter import Effect, RunStep, Status
from wio.runtime.core import InstanceCore, InstanceView, numbered

In = TypeVar("In")
Out = TypeVar("Out")


async def perform_async(effect: Effect) -> Any:
    """Call the user function behind ``effect``, awaiting it if it is a coroutine."""
    if isinstance(effect, RunStep):
        produced = effect.node.effect(effect.input)
        return await produced if inspect.isawaitable(produced) else produced
    return effect.node.save_state(effect.input, effect.output)


class AsyncInstance(InstanceView[In, Out]):
    """A running instance; `run` advances it without blocking the event loop on waits."""

    async def step(self) -> bool:
        """Perform the next effect and record its event. False if nothing was done."""
        core = self._core
        effect = core.due_effect()
        if effect is None:
            return False
        try:
            event = await perform_async(effect)
        except Exception as exc:
            core.effect_failed(effect, exc)
            return False
        applied = core.prepare(effect, event)
        if applied is None:
            return False
        core.commit(applied, event)
        # A pure step after the event may have failed; stop there until the next run.
        return core.cursor.failure is None

    async def run(self) -> Status:
        """Advance until finished, waiting for the outside, or stopped by an error."""
        while await self.step():
            pass
        return self.status

    async def deliver(self, event: Any) -> Status:
        """Record an event from outside the workflow; see `Instance.deliver`."""
        applied = self._core.prepare_delivery(event)
        self._core.commit(applied, event)
        return self.status


class AsyncRuntime(Generic[In, Out]):
    """Runs instances of one workflow in memory, from asyncio code."""

    def __init__(self, workflow: WIO[In, Any, Out], *, strict: bool = False) -> None:
        if not isinstance(workflow, WIO):
            raise DefinitionError(
                f"AsyncRuntime expects a WIO workflow, got {type(workflow).__name__}"
            )
        self.workflow = workflow
        self.strict = strict
        self._instances: dict[str, AsyncInstance[In, Out]] = {}

    async def create(self, instance_id: str, input: In) -> AsyncInstance[In, Out]:
        if instance_id in self._instances:
            raise InstanceAlreadyExists(f"instance {instance_id!r} exists already")
        instance: AsyncInstance[In, Out] = AsyncInstance(
            InstanceCore(instance_id, self.workflow, input, strict=self.strict)
        )
        self._instances[instance_id] = instance
        return instance

    async def recover(
        self, instance_id: str, input: In, events: Iterable[Any]
    ) -> AsyncInstance[In, Out]:
        instance = await self.create(instance_id, input)
        try:
            instance._core.replay(numbered(events))
        except Exception:
            del self._instances[instance_id]
            raise
        return instance

    async def get(self, instance_id: str) -> AsyncInstance[In, Out]:
        try:
            return self._instances[instance_id]
        except KeyError:
            raise InstanceNotFound(f"no instance {instance_id!r}") from None
