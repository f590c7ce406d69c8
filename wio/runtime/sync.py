"""The synchronous in-memory runtime."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any, Generic, TypeVar

from wio.algebra import WIO
from wio.errors import DefinitionError, InstanceAlreadyExists, InstanceNotFound
from wio.interpreter import Effect, RunStep, Status
from wio.runtime.core import InstanceCore, InstanceView, numbered

In = TypeVar("In")
Out = TypeVar("Out")


def perform_sync(effect: Effect) -> Any:
    """Call the user function behind ``effect`` and return what it returns."""
    if isinstance(effect, RunStep):
        if not effect.node.is_async:
            return effect.node.effect(effect.input)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(effect.node.effect(effect.input))
        raise DefinitionError(
            f"step {effect.node.meta.name!r} is a coroutine and an event loop is running: "
            "use AsyncRuntime from async code"
        )
    return effect.node.save_state(effect.input, effect.output)


class Instance(InstanceView[In, Out]):
    """A running instance. Query it at any time; `run` advances it."""

    def step(self) -> bool:
        """Perform the next effect and record its event. False if nothing was done."""
        core = self._core
        effect = core.due_effect()
        if effect is None:
            return False
        try:
            event = perform_sync(effect)
        except Exception as exc:
            core.effect_failed(effect, exc)
            return False
        applied = core.prepare(effect, event)
        if applied is None:
            return False
        core.commit(applied, event)
        # A pure step after the event may have failed; stop there until the next run.
        return core.cursor.failure is None

    def run(self) -> Status:
        """Advance until finished, waiting for the outside, or stopped by an error."""
        while self.step():
            pass
        return self.status

    def deliver(self, event: Any) -> Status:
        """Record an event from outside the workflow (an operator's or a migration's).

        Raises `NotWaitingForEvent` if no node accepts it now; nothing is recorded then.
        """
        applied = self._core.prepare_delivery(event)
        self._core.commit(applied, event)
        return self.status


class Runtime(Generic[In, Out]):
    """Runs instances of one workflow, keeping everything in memory.

    ``strict=True`` makes replay raise `UnmatchedEventError` on an event that
    no node accepts; by default such events are logged at WARNING and listed
    in `Instance.unmatched_events`.
    """

    def __init__(self, workflow: WIO[In, Any, Out], *, strict: bool = False) -> None:
        if not isinstance(workflow, WIO):
            raise DefinitionError(f"Runtime expects a WIO workflow, got {type(workflow).__name__}")
        self.workflow = workflow
        self.strict = strict
        self._instances: dict[str, Instance[In, Out]] = {}

    def create(self, instance_id: str, input: In) -> Instance[In, Out]:
        """Create an instance; it advances through pure steps but runs no effect yet."""
        if instance_id in self._instances:
            raise InstanceAlreadyExists(f"instance {instance_id!r} exists already")
        instance: Instance[In, Out] = Instance(
            InstanceCore(instance_id, self.workflow, input, strict=self.strict)
        )
        self._instances[instance_id] = instance
        return instance

    def recover(self, instance_id: str, input: In, events: Iterable[Any]) -> Instance[In, Out]:
        """Rebuild an instance from its events (numbered from 1) without running effects."""
        instance = self.create(instance_id, input)
        try:
            instance._core.replay(numbered(events))
        except Exception:
            del self._instances[instance_id]
            raise
        return instance

    def get(self, instance_id: str) -> Instance[In, Out]:
        try:
            return self._instances[instance_id]
        except KeyError:
            raise InstanceNotFound(f"no instance {instance_id!r}") from None

    def instances(self) -> list[Instance[In, Out]]:
        return list(self._instances.values())
