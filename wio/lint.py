"""``wio lint``: problems a workflow's definition has before it ever runs.

Each problem names the node at fault by its model path (see docs/model.md):

- ``ambiguous-event``: a checkpointed section records, inside it, the same
  event type as its checkpoint event, so on replay an event of the section
  could be taken for the checkpoint (or the reverse);
- ``duplicate-signal``: two handlers for the same signal can be waiting at
  once (a section and the signal that interrupts it, or two flows of a
  parallel section);
- ``busy-loop``: a loop whose body (and restart flow) can complete without
  recording an event, so it could spin without the journal ever moving;
- ``impossible-error``: an error handler for an error the section cannot raise.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, assert_never

from attrs import frozen

from wio import algebra
from wio.algebra import WIO, Node, as_node, escaping_errors
from wio.paths import BASE, ROOT, Path, child, children, descend, format_path


@frozen
class Problem:
    path: Path
    code: str
    message: str

    def __str__(self) -> str:
        return f"{format_path(self.path)}: {self.code}: {self.message}"


def lint(workflow: WIO[Any, Any, Any]) -> list[Problem]:
    """Every problem found, in tree order."""
    return list(_check(as_node(workflow), ROOT))


def _name(node: WIO[Any, Any, Any]) -> str:
    return repr(node.meta.name) if node.meta.name else type(node).__name__


def _check(node: Node, path: Path) -> Iterator[Problem]:
    match node:
        case algebra.Checkpoint():
            for inner, at in _nodes_with_events(node.base, child(path, BASE)):
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
                for inner, at in _signal_handlers(node.base, child(path, BASE)):
                    if inner.signal.name == trigger.signal.name:
                        yield Problem(
                            at,
                            "duplicate-signal",
                            f"{_name(inner)} and the interruption at {format_path(path)} both "
                            f"handle signal {trigger.signal.name!r} while the section runs",
                        )
        case algebra.Parallel():
            seen: dict[str, tuple[str, Path]] = {}  # signal -> the first flow handling it
            for flow, kid in zip(node.flows, children(node), strict=True):
                reported: set[str] = set()
                for inner, at in _signal_handlers(kid.node, kid.path(path)):
                    name = inner.signal.name
                    first = seen.get(name)
                    if first is not None and first[0] != flow.name and name not in reported:
                        yield Problem(
                            at,
                            "duplicate-signal",
                            f"{_name(inner)} in flow {flow.name!r} and the handler at "
                            f"{format_path(first[1])} in flow {first[0]!r} of the parallel "
                            f"section at {format_path(path)} may both wait for signal "
                            f"{name!r}; a delivery goes to the first flow only",
                        )
                    reported.add(name)
                    seen.setdefault(name, (flow.name, at))
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
        case (
            algebra.Pure() | algebra.Run() | algebra.HandleSignal() | algebra.Timer()
            | algebra.Recover() | algebra.End() | algebra.Sequence() | algebra.Transform()
            | algebra.FlatMap() | algebra.Fork()
        ):  # fmt: skip
            pass  # nothing of their own to check; their children are checked below
        case _:
            assert_never(node)
    for kid in children(node):
        yield from _check(kid.node, kid.path(path))


def _nodes_with_events(node: WIO[Any, Any, Any], path: Path) -> Iterator[tuple[Any, Path]]:
    for inner, at in descend(node, path):
        if isinstance(inner, algebra.Run | algebra.Recover | algebra.Checkpoint):
            yield inner, at


def _signal_handlers(node: WIO[Any, Any, Any], path: Path) -> Iterator[tuple[Any, Path]]:
    for inner, at in descend(node, path):
        if isinstance(inner, algebra.HandleSignal):
            yield inner, at


def _always_records(wio: WIO[Any, Any, Any]) -> bool:
    """Whether every way through ``wio`` records at least one event (or ends)."""
    match node := as_node(wio):
        case (
            algebra.Run() | algebra.HandleSignal() | algebra.Timer() | algebra.Recover()
            | algebra.Checkpoint() | algebra.End()
        ):  # fmt: skip
            return True
        case algebra.Sequence():
            return any(_always_records(step) for step in node.steps)
        case algebra.Transform() | algebra.FlatMap() | algebra.HandleError():
            return _always_records(node.base)
        case algebra.Loop():
            return _always_records(node.body)
        case algebra.Fork():
            has_default = any(b.is_default for b in node.branches)
            return has_default and all(_always_records(b.wio) for b in node.branches)
        case algebra.Parallel():  # every flow runs
            return any(_always_records(f.wio) for f in node.flows)
        case algebra.Interruptible():
            return isinstance(node.trigger, algebra.Timer) or _always_records(node.base)
        case algebra.Pure():
            return False
        case _:
            assert_never(node)
