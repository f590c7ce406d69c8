"""What the sync and asyncio runtimes share: configuration and the instances in memory."""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

from wio import tracing
from wio.algebra import WIO
from wio.clock import Clock, SystemClock
from wio.definition import Workflow
from wio.drafts import refuse_drafts
from wio.errors import (
    DefinitionError,
    InstanceAlreadyExists,
    InstanceNotFound,
    InvalidInstanceId,
)
from wio.interpreter.shield import shields
from wio.journal import DuplicateInstance, Journal, UnknownInstance, open_journal
from wio.retry import RetryPolicy
from wio.runtime.core import InstanceCore, numbered
from wio.runtime.persistence import InMemory, Journaled, Persistence

In = TypeVar("In")
E = TypeVar("E")
Out = TypeVar("Out")
I = TypeVar("I")  # noqa: E741 - the instance type of the concrete runtime


def default_owner() -> str:
    """A lease owner name unique to this process: host, pid and a random tag."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@contextmanager
def translated_errors() -> Iterator[None]:
    """Journal errors about instances, as the runtime's own exception classes."""
    try:
        yield
    except DuplicateInstance as exc:
        raise InstanceAlreadyExists(str(exc)) from exc
    except UnknownInstance as exc:
        raise InstanceNotFound(str(exc)) from exc


class RuntimeBase(Generic[In, E, Out, I]):
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
    ) -> None:
        if isinstance(workflow, Workflow):
            self.definition: Workflow[In, E, Out] | None = workflow
            self.workflow: WIO[In, E, Out] = workflow.wio
        elif isinstance(workflow, WIO):
            self.definition, self.workflow = None, workflow
        else:
            raise DefinitionError(
                f"{type(self).__name__} expects a WIO workflow, got {type(workflow).__name__}"
            )
        refuse_drafts(self.workflow)
        self._shielding = shields(self.workflow)  # whether replay needs its look-ahead
        if journal is not None and self.definition is None:
            raise DefinitionError(
                "a runtime on a journal needs the workflow's name and version: "
                "pass wio.Workflow(workflow, name=...)"
            )
        self._owns_journal = isinstance(journal, str)
        self.journal: Journal | None = (
            open_journal(journal) if isinstance(journal, str) else journal
        )
        self.strict = strict
        self.clock: Clock = clock or SystemClock()
        self.retry = retry or (self.definition.retry if self.definition else RetryPolicy())
        self.owner = owner or default_owner()
        self.lease_ttl = lease_ttl
        self._instances: dict[str, I] = {}

    def instances(self) -> list[I]:
        """The instances this runtime holds in memory."""
        return list(self._instances.values())

    def forget(self, instance_id: str) -> None:
        """Drop an instance from memory (its journal, if any, keeps it)."""
        self._instances.pop(instance_id, None)

    def close(self) -> None:
        """Close the journal if this runtime opened it from a URL."""
        if self._owns_journal and self.journal is not None:
            self.journal.close()

    def __enter__(self: Any) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- helpers for the sync and async layers ---------------------------------

    def _core(self, instance_id: str, input: Any, *, started: bool = True) -> InstanceCore:
        """A new instance's core; ``started=False`` for one `replay` is to rebuild."""
        core = InstanceCore(
            instance_id,
            self.workflow,
            input,
            strict=self.strict,
            retry=self.retry,
            clock=self.clock,
            retired=self.definition.codec.retired if self.definition else frozenset(),
            started=started,
            shielding=self._shielding,
            cleanup=self.definition.on_cancel if self.definition else None,
        )
        if self.definition is not None:
            core.labels[tracing.WORKFLOW] = self.definition.name
            core.labels[tracing.VERSION] = self.definition.version
        return core

    def _new(self, instance_id: str, input: Any) -> tuple[InstanceCore, Persistence]:
        if not isinstance(instance_id, str) or not instance_id.strip():
            raise InvalidInstanceId(
                f"an instance id must be a non-blank string, got {instance_id!r}"
            )
        if instance_id in self._instances:
            raise InstanceAlreadyExists(f"instance {instance_id!r} exists already")
        persistence = InMemory() if self.journal is None else self._journaled()
        return self._core(instance_id, input), persistence

    def _journaled(self) -> Journaled:
        assert self.journal is not None and self.definition is not None
        return Journaled(self.journal, self.definition, self.owner, self.lease_ttl)

    def _journaled_or_missing(self, instance_id: str) -> Journaled:
        if self.journal is None:
            raise InstanceNotFound(f"no instance {instance_id!r}")
        return self._journaled()

    def _rebuilt(self, instance_id: str, input: Any, events: Iterable[Any]) -> InstanceCore:
        if self.journal is not None:
            raise DefinitionError("rebuild() rebuilds in-memory instances; use get() on a journal")
        if instance_id in self._instances:
            raise InstanceAlreadyExists(f"instance {instance_id!r} exists already")
        core = self._core(instance_id, input, started=False)
        core.replay(numbered(events))
        return core

    def _keep(self, instance: I) -> I:
        self._instances[instance.id] = instance  # type: ignore[attr-defined]
        return instance
