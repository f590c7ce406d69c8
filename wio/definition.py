"""A workflow as runtimes, journals and workers know it: a WIO with a name and version.

A durable runtime needs more than the tree: the name and version it is
registered under, the type its input is decoded into, and the event classes
its journal holds.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar

from attrs import field, frozen

from wio import algebra
from wio.algebra import WIO, as_node, first_to_see_input, recorded_events
from wio.cancellation import Cancelled
from wio.codec import EventCodec
from wio.errors import DefinitionError
from wio.paths import walk_static
from wio.retry import DEFAULT_RETRY, RetryPolicy
from wio.signals import Signal
from wio.versions import Migrated

In = TypeVar("In")
E = TypeVar("E")
Out = TypeVar("Out")


@frozen
class Workflow(Generic[In, E, Out]):
    """``Workflow(order_workflow, name="order", version=1, input_type=Order)``.

    ``input_type`` defaults to the annotated input of the workflow's first
    step; ``object`` keeps inputs as plain JSON. ``events`` adds event
    classes that only dynamic (``flat_map``) parts record. ``retired_events``
    names stored event types this version has no classes for any more (those
    of a section a later version removed): replay skips them where a
    checkpoint covers them and reports them precisely anywhere else.
    ``tags`` derives an instance's tags from its state, e.g.
    ``lambda order: {"customer": order.customer_id}``: the registry stores them
    after each step, for searching instances (`wio serve`'s list and console).
    ``on_cancel`` is a cleanup flow run when an operator cancels an instance
    (e.g. refunding payments made): it starts on the state at the cancellation,
    is journaled like any flow (its nodes' paths are under `wio.paths.CLEANUP`),
    and the instance ends ``cancelled`` when it finishes.
    """

    wio: WIO[In, E, Out]
    name: str
    version: int = 1
    input_type: Any = None
    events: tuple[type[Any], ...] = ()
    retry: RetryPolicy = DEFAULT_RETRY
    retired_events: tuple[str, ...] = ()
    tags: Callable[[Any], Mapping[str, object]] | None = field(default=None, eq=False)
    on_cancel: WIO[Any, Any, Any] | None = None
    codec: EventCodec = field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.wio, WIO):
            raise DefinitionError(f"Workflow {self.name!r}: {self.wio!r} is not a WIO workflow")
        if not self.name or not isinstance(self.name, str):
            raise DefinitionError(f"a workflow name must be a non-empty string, got {self.name!r}")
        if self.input_type is None:
            object.__setattr__(self, "input_type", infer_input_type(self.wio))
        if self.on_cancel is not None and not isinstance(self.on_cancel, WIO):
            raise DefinitionError(
                f"Workflow {self.name!r}: on_cancel {self.on_cancel!r} is not a WIO flow"
            )
        retired = self.retired_events
        if isinstance(retired, str) or not all(isinstance(n, str) and n for n in retired):
            raise DefinitionError(
                f"Workflow {self.name!r}: retired_events must be a tuple of event type names, "
                f"got {retired!r}"
            )
        cleanup = () if self.on_cancel is None else (self.on_cancel,)
        cleanup_events = [e for flow in cleanup for e in event_types(flow)]
        cleanup_signals = [s for flow in cleanup for s in signals(flow)]
        # Every journal may hold a migration's or a cancellation's record, whatever the workflow.
        codec = EventCodec(
            [Cancelled, *event_types(self.wio), *cleanup_events, *self.events, Migrated],
            [*signals(self.wio), *cleanup_signals],
            retired=retired,
        )
        object.__setattr__(self, "codec", codec)

    def all_signals(self) -> list[Signal[Any, Any]]:
        """The signals the workflow takes, once each: its flow's, then its cleanup
        flow's (`on_cancel`), which an instance takes while it cleans up."""
        flows = [self.wio] if self.on_cancel is None else [self.wio, self.on_cancel]
        return list({id(s): s for flow in flows for s in signals(flow)}.values())


def tags_of(workflow: Workflow[Any, Any, Any], state: Any) -> tuple[tuple[str, str], ...]:
    """The tags ``workflow`` declares for an instance in ``state``, as the registry
    stores them: sorted (name, value) text pairs; blank names and None values are
    left out. Raises `DefinitionError` naming the workflow if its function fails."""
    if workflow.tags is None:
        return ()
    try:
        declared = workflow.tags(state)
        pairs = sorted(
            (str(name), str(value))
            for name, value in dict(declared).items()
            if value is not None and str(name).strip()
        )
    except Exception as exc:
        raise DefinitionError(
            f"workflow {workflow.name!r}: its tags function failed on the state: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    return tuple(pairs)


def as_workflow(target: Any, default_name: str) -> Workflow[Any, Any, Any]:
    """A `Workflow` as given, or a bare WIO wrapped under ``default_name``."""
    if isinstance(target, Workflow):
        return target
    if isinstance(target, WIO):
        return Workflow(target, name=default_name)
    raise DefinitionError(f"{default_name!r} is a {type(target).__name__}, not a workflow")


def event_types(node: WIO[Any, Any, Any]) -> Iterator[type[Any]]:
    """Every event class the static tree can record."""
    for inner in walk_static(node):
        yield from recorded_events(inner)


def signals(node: WIO[Any, Any, Any]) -> Iterator[Signal[Any, Any]]:
    """Every signal the static tree handles."""
    for inner in walk_static(node):
        if isinstance(inner, algebra.HandleSignal):
            yield inner.signal


def infer_input_type(node: WIO[Any, Any, Any]) -> Any:
    """The annotated parameter type of the first function to see the input, or ``object``."""
    first = first_to_see_input(as_node(node))
    while isinstance(first, WIO):
        first = first_to_see_input(as_node(first))
    return object if first is None else _first_parameter_type(first)


def _first_parameter_type(fn: Any) -> Any:
    try:
        parameters = list(inspect.signature(fn).parameters)
        hint = typing.get_type_hints(fn).get(parameters[0], object) if parameters else object
    except Exception:
        return object
    return object if hint is Any else hint
