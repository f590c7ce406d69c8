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
- ``impossible-error``: an error handler for an error the section cannot raise;
- ``unused-compensation``: a step with ``compensate_with`` outside any
  ``compensating`` section, so its undo never runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from attrs import frozen

from wio import algebra
from wio.algebra import WIO, Node, always_records, escaping_errors
from wio.definition import Workflow
from wio.paths import BASE, CLEANUP, ROOT, Path, child, children, descend, format_path, within


@frozen
class Problem:
    path: Path
    code: str
    message: str

    def __str__(self) -> str:
        return f"{format_path(self.path)}: {self.code}: {self.message}"


def lint(workflow: WIO[Any, Any, Any] | Workflow[Any, Any, Any]) -> list[Problem]:
    """Every problem found, in tree order. A `Workflow`'s cleanup flow
    (``on_cancel``) is checked too, its paths under ``/-1``."""
    if isinstance(workflow, Workflow):
        flows = [(workflow.wio, ROOT)]
        if workflow.on_cancel is not None:
            flows.append((workflow.on_cancel, CLEANUP))
    else:
        flows = [(workflow, ROOT)]
    found = [
        problem
        for flow, root in flows
        for node, path in descend(flow, root)
        for problem in _problems(node, path)
    ]
    unused = [problem for flow, root in flows for problem in _unused_compensations(flow, root)]
    # The main flow's problems first, then the cleanup's.
    return sorted([*found, *unused], key=lambda p: (within(p.path, CLEANUP), p.path))


def _unused_compensations(workflow: WIO[Any, Any, Any], root: Path) -> Iterator[Problem]:
    """Steps with an undo that no compensating section encloses (a check about the
    nodes around a node, so not one of `_problems`)."""
    sections = [
        path for node, path in descend(workflow, root) if isinstance(node, algebra.Compensating)
    ]
    for node, path in descend(workflow, root):
        if isinstance(node, algebra.Compensated) and not any(
            within(path, section) for section in sections
        ):
            yield Problem(
                path,
                "unused-compensation",
                f"{_name(node.base)} has an undo (compensate_with) but no compensating "
                "section encloses it, so the undo never runs: wrap the steps in "
                ".compensating()",
            )


def _name(node: WIO[Any, Any, Any]) -> str:
    return repr(node.meta.name) if node.meta.name else type(node).__name__


def _problems(node: Node, path: Path) -> Iterator[Problem]:
    """The problems of ``node`` itself; each check concerns one kind of node.

    The facts they rely on about every kind (`escaping_errors`, `always_records`)
    are in `wio.algebra`, where a new kind must declare them.
    """
    if isinstance(node, algebra.Checkpoint):
        yield from _ambiguous_events(node, path)
    elif isinstance(node, algebra.Interruptible):
        yield from _interrupting_signal_handled_inside(node, path)
    elif isinstance(node, algebra.Parallel):
        yield from _signal_handled_by_two_flows(node, path)
    elif isinstance(node, algebra.Loop):
        yield from _busy_loop(node, path)
    elif isinstance(node, algebra.HandleError):
        yield from _impossible_error(node, path)


def _ambiguous_events(node: algebra.Checkpoint[Any, Any, Any], path: Path) -> Iterator[Problem]:
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


def _interrupting_signal_handled_inside(
    node: algebra.Interruptible[Any, Any, Any], path: Path
) -> Iterator[Problem]:
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


def _signal_handled_by_two_flows(
    node: algebra.Parallel[Any, Any, Any], path: Path
) -> Iterator[Problem]:
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


def _busy_loop(node: algebra.Loop[Any, Any, Any], path: Path) -> Iterator[Problem]:
    restart = node.on_restart
    if not always_records(node.body) and (restart is None or not always_records(restart)):
        yield Problem(
            path,
            "busy-loop",
            f"loop {_name(node)} can repeat without recording any event: its body"
            + (" and its restart flow" if restart is not None else "")
            + " may complete by pure steps alone",
        )


def _impossible_error(node: algebra.HandleError[Any, Any, Any], path: Path) -> Iterator[Problem]:
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
            f"handles {handled.__name__}, which the section cannot raise (it declares: {names})",
        )


def _nodes_with_events(node: WIO[Any, Any, Any], path: Path) -> Iterator[tuple[Any, Path]]:
    for inner, at in descend(node, path):
        if isinstance(inner, algebra.Run | algebra.Recover | algebra.Checkpoint):
            yield inner, at


def _signal_handlers(node: WIO[Any, Any, Any], path: Path) -> Iterator[tuple[Any, Path]]:
    for inner, at in descend(node, path):
        if isinstance(inner, algebra.HandleSignal):
            yield inner, at
