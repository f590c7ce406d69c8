"""``wio lint``: problems a workflow's definition has before it ever runs.

Each problem names the node at fault by its model path (see docs/model.md):

- ``ambiguous-event``: a checkpointed section records, inside it, the same
  event type as its checkpoint event, so on replay an event of the section
  could be taken for the checkpoint (or the reverse);
- ``duplicate-signal``: two handlers for the same signal can be waiting at
  once (a section and the signal that interrupts it);
- ``busy-loop``: a loop whose body (and restart flow) can complete without
  recording an event, so it could spin without the journal ever moving;
- ``impossible-error``: an error handler for an error the section cannot raise.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from attrs import frozen

from wio import algebra
from wio.algebra import WIO, escaping_errors
from wio.interpreter import Path, format_path


@frozen
class Problem:
    path: Path
    code: str
    message: str

    def __str__(self) -> str:
        return f"{format_path(self.path)}: {self.code}: {self.message}"


def lint(workflow: WIO[Any, Any, Any]) -> list[Problem]:
    """Every problem found, in tree order."""
    return list(_check(workflow, ()))


def _name(node: WIO[Any, Any, Any]) -> str:
    return repr(node.meta.name) if node.meta.name else type(node).__name__


def _check(node: WIO[Any, Any, Any], path: Path) -> Iterator[Problem]:
    match node:
        case algebra.Checkpoint():
            for inner, at in _nodes_with_events(node.base, (*path, 0)):
                if issubclass(inner.event_type, node.event_type) or issubclass(
                    node.event_type, inner.event_type
                ):
                    yield Problem(
                        at,
                        "ambiguous-event",
                        f"{_name(inner)} records {inner.event_type.__name__}, the event type of "
                        f"the checkpoint at {format_path(path)}: give the checkpoint an event "
                        "type of its own",
                    )
        case algebra.Interruptible():
            trigger = node.trigger
            if isinstance(trigger, algebra.HandleSignal):
                for inner, at in _signal_handlers(node.base, (*path, 0)):
                    if inner.signal.name == trigger.signal.name:
                        yield Problem(
                            at,
                            "duplicate-signal",
                            f"{_name(inner)} and the interruption at {format_path(path)} both "
                            f"handle signal {trigger.signal.name!r} while the section runs",
                        )
        case algebra.Loop():
            restart = node.on_restart
            if not _always_records(node.body) and (restart is None or not _always_records(restart)):
                yield Problem(
                    path,
                    "busy-loop",
                    f"loop {_name(node)} can repeat without recording any event: its body"
                    + (" and its restart flow" if restart is not None else "")
                    + " may complete by pure steps alone",
                )
        case algebra.HandleError():
            raised = escaping_errors(node.base)
            handled = node.error_type
            if handled is None and not raised:
                yield Problem(
                    path,
                    "impossible-error",
                    "the handled section declares no business error, so its handler never runs",
                )
            elif handled is not None and not any(
                issubclass(error, handled) or issubclass(handled, error) for error in raised
            ):
                names = ", ".join(sorted({e.__name__ for e in raised})) or "none"
                yield Problem(
                    path,
                    "impossible-error",
                    f"handles {handled.__name__}, which the section cannot raise "
                    f"(it declares: {names})",
                )
    for index, child in _children(node):
        yield from _check(child, (*path, index))


def _children(node: WIO[Any, Any, Any]) -> list[tuple[int, WIO[Any, Any, Any]]]:
    """A node's children with their indices in the model path."""
    match node:
        case algebra.Sequence():
            return list(enumerate(node.steps))
        case algebra.Transform():
            return [(-1, node.base)]  # transparent: same path as its base
        case algebra.FlatMap() | algebra.Checkpoint():
            return [(0, node.base)]
        case algebra.HandleError():
            return [(0, node.base), (1, node.handler)]
        case algebra.Fork():
            return [(i, b.wio) for i, b in enumerate(node.branches)]
        case algebra.Loop():
            restart = [] if node.on_restart is None else [(1, node.on_restart)]
            return [(0, node.body), *restart]
        case algebra.Interruptible():
            handler = [] if node.handler is None else [(2, node.handler)]
            return [(0, node.base), (1, node.trigger), *handler]
    return []


def descend(node: WIO[Any, Any, Any], path: Path) -> Iterator[tuple[WIO[Any, Any, Any], Path]]:
    """Every node under ``node`` (itself included), with its model path."""
    yield node, path
    for index, child in _children(node):
        yield from descend(child, path if index == -1 else (*path, index))


def _nodes_with_events(node: WIO[Any, Any, Any], path: Path) -> Iterator[tuple[Any, Path]]:
    for inner, at in descend(node, path):
        if isinstance(inner, algebra.Run | algebra.Recover | algebra.Checkpoint):
            yield inner, at


def _signal_handlers(node: WIO[Any, Any, Any], path: Path) -> Iterator[tuple[Any, Path]]:
    for inner, at in descend(node, path):
        if isinstance(inner, algebra.HandleSignal):
            yield inner, at


def _always_records(node: WIO[Any, Any, Any]) -> bool:
    """Whether every way through ``node`` records at least one event (or ends)."""
    match node:
        case (
            algebra.Run() | algebra.HandleSignal() | algebra.Timer() | algebra.Recover()
            | algebra.Checkpoint() | algebra.End()
        ):  # fmt: skip
            return True
        case algebra.Sequence():
            return any(_always_records(step) for step in node.steps)
        case algebra.Transform() | algebra.FlatMap() | algebra.HandleError() | algebra.Loop():
            inner = node.body if isinstance(node, algebra.Loop) else node.base
            return _always_records(inner)
        case algebra.Fork():
            has_default = any(b.is_default for b in node.branches)
            return has_default and all(_always_records(b.wio) for b in node.branches)
        case algebra.Interruptible():
            return isinstance(node.trigger, algebra.Timer) or _always_records(node.base)
    return False
