"""Model paths: where each node sits in a workflow's tree.

A path is the child segments from the root to a node, ``/0/2`` as text. The
interpreter names nodes by path in progress records and journals hold paths
(`wio.timers.TimerStarted.timer`, `wio.parallel.InFlow.flow`), so a node's
path must never change: this module is the one place that numbers children.

`children` lists a node's children with their path segments, for a WIO tree
and for its model alike (the model keeps the WIO tree's paths), and every
traversal goes through it; the interpreter, which steps into one child at a
time, takes the segment of that child's slot from here (`child`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final, Generic, NamedTuple, TypeVar, assert_never, overload

from wio import algebra, model
from wio.algebra import Node, as_node

Path = tuple[int, ...]
"""A node's position in the model tree, as child segments from the root."""

ROOT: Final[Path] = ()


def format_path(path: Path) -> str:
    return "/" + "/".join(map(str, path))


# The segment of each named child slot. Journals hold paths made of these: never renumber.
BASE: Final = 0  # the section a wrapper runs; a loop's or a for-each's body; an embedded workflow
CONTINUATION: Final = 1  # flat_map: the node computed from the base's output
ERROR_HANDLER: Final = 1  # handle_error_with: the handler
ON_RESTART: Final = 1  # a loop's flow between iterations
TRIGGER: Final = 1  # interrupted_by: the signal or timer that interrupts
INTERRUPTION_HANDLER: Final = 2  # interrupted_by: what runs after the trigger
COMPENSATION: Final = 1  # compensate_with: the undo

# Where a workflow's cleanup flow (`Workflow.on_cancel`) sits: beside the root, not in
# its tree, so that no path of the workflow itself moves.
CLEANUP: Final[Path] = (-1,)


def child(path: Path, segment: int) -> Path:
    """The path of the child in slot ``segment`` (or the ``segment``-th step,
    branch or flow) of the node at ``path``."""
    return (*path, segment)


def within(path: Path, section: Path) -> bool:
    """Whether ``path`` is ``section``'s or that of a node inside it."""
    return path[: len(section)] == section


def within_formatted(text: str, section: str) -> bool:
    """`within` for formatted paths, as journals store them (``/1/0`` is within ``/1``)."""
    return section == "/" or text == section or text.startswith(section + "/")


def relative(path: Path, section: Path) -> Path:
    """The segments from ``section`` down to ``path``, a path within it."""
    assert within(path, section), (path, section)
    return path[len(section) :]


def child_segment(parent: Path, text: str) -> int | None:
    """The segment of the child of ``parent`` that the formatted path ``text``
    names, or None if it names no child of ``parent``."""
    head, _, segment = text.rpartition("/")
    if (head or "/") != format_path(parent) or not segment.isdigit():
        return None
    return int(segment)


N = TypeVar("N")


class Child(NamedTuple, Generic[N]):
    """A child of a node: its slot, its path segment, and the child itself."""

    slot: str  # the parent's field holding it: "steps", "base", "handler", ...
    segment: int | None  # None: a transparent transform's base, at its parent's path
    node: N

    def path(self, parent: Path) -> Path:
        return parent if self.segment is None else child(parent, self.segment)


@overload
def children(node: Node) -> list[Child[Node]]: ...


@overload
def children(node: model.ModelNode) -> list[Child[model.ModelNode]]: ...


def children(node: Node | model.ModelNode) -> list[Child[Node]] | list[Child[model.ModelNode]]:
    """A node's children with their path segments, in tree order.

    A WIO node and its model list the same children at the same segments, except
    that a transform is invisible in the model; a flat_map's continuation is
    unknown until it runs, so it is not listed (its model shows it as `Dynamic`).
    """
    match node:
        case (
            algebra.Pure() | algebra.Run() | algebra.HandleSignal() | algebra.Timer()
            | algebra.Recover() | algebra.End() | algebra.RunChild()
        ):  # fmt: skip  # a child's nodes belong to its own workflow
            return []
        case (
            model.Pure() | model.RunIO() | model.HandleSignal() | model.Timer() | model.Recovery()
            | model.End() | model.Dynamic() | model.RunChild()
        ):  # fmt: skip
            return []
        case algebra.Sequence():
            return [Child("steps", index, as_node(step)) for index, step in enumerate(node.steps)]
        case model.Sequence():
            return [Child("steps", index, step) for index, step in enumerate(node.steps)]
        case algebra.Transform():
            return [Child("base", None, as_node(node.base))]
        case algebra.FlatMap() | algebra.Checkpoint() | algebra.Embed() | algebra.Compensating():
            return [Child("base", BASE, as_node(node.base))]
        case model.Checkpoint() | model.Embed() | model.Compensating():
            return [Child("base", BASE, node.base)]
        case algebra.Compensated():
            return [
                Child("base", BASE, as_node(node.base)),
                Child("undo", COMPENSATION, as_node(node.undo)),
            ]
        case model.Compensated():
            return [Child("base", BASE, node.base), Child("undo", COMPENSATION, node.undo)]
        case algebra.HandleError():
            return [
                Child("base", BASE, as_node(node.base)),
                Child("handler", ERROR_HANDLER, as_node(node.handler)),
            ]
        case model.HandleError():
            return [Child("base", BASE, node.base), Child("handler", ERROR_HANDLER, node.handler)]
        case algebra.Fork():
            return [Child("branches", i, as_node(b.wio)) for i, b in enumerate(node.branches)]
        case model.Fork():
            return [Child("branches", i, b.base) for i, b in enumerate(node.branches)]
        case algebra.Parallel():
            return [Child("flows", i, as_node(f.wio)) for i, f in enumerate(node.flows)]
        case model.Parallel():
            return [Child("flows", i, f.base) for i, f in enumerate(node.flows)]
        case algebra.ForEach():
            return [Child("body", BASE, as_node(node.body))]
        case model.ForEach():
            return [Child("base", BASE, node.base)]
        case algebra.Loop():
            body: list[Child[Node]] = [Child("body", BASE, as_node(node.body))]
            if node.on_restart is None:
                return body
            return [*body, Child("on_restart", ON_RESTART, as_node(node.on_restart))]
        case model.Loop():
            base: list[Child[model.ModelNode]] = [Child("base", BASE, node.base)]
            if node.on_restart is None:
                return base
            return [*base, Child("on_restart", ON_RESTART, node.on_restart)]
        case algebra.Interruptible():
            section: list[Child[Node]] = [
                Child("base", BASE, as_node(node.base)),
                Child("trigger", TRIGGER, as_node(node.trigger)),
            ]
            if node.handler is None:
                return section
            return [*section, Child("handler", INTERRUPTION_HANDLER, as_node(node.handler))]
        case model.Interruptible():
            interrupted: list[Child[model.ModelNode]] = [
                Child("base", BASE, node.base),
                Child("trigger", TRIGGER, node.trigger),
            ]
            if node.handler is None:
                return interrupted
            return [*interrupted, Child("handler", INTERRUPTION_HANDLER, node.handler)]
        case _:
            assert_never(node)


def model_node_at(root: model.ModelNode, path: Path) -> model.ModelNode | None:
    """The node of the model ``root`` at ``path`` (relative to ``root``), if any."""
    node = root
    for segment in path:
        found = [kid.node for kid in children(node) if kid.segment == segment]
        if not found:
            return None
        node = found[0]
    return node


def walk_static(node: algebra.WIO[Any, Any, Any]) -> Iterator[Node]:
    """Every node of the static tree, parents first (flat_map continuations are unknown)."""
    pending = [as_node(node)]
    while pending:
        current = pending.pop()
        yield current
        pending.extend(kid.node for kid in reversed(children(current)))


def descend(node: algebra.WIO[Any, Any, Any], path: Path = ROOT) -> Iterator[tuple[Node, Path]]:
    """Every node under ``node`` (itself included, at ``path``), with its model path."""
    pending = [(as_node(node), path)]
    while pending:
        current, at = pending.pop()
        yield current, at
        pending.extend((kid.node, kid.path(at)) for kid in reversed(children(current)))


def descend_model(
    node: model.ModelNode, path: Path = ROOT
) -> Iterator[tuple[model.ModelNode, Path]]:
    """Every node of a model, parents first, with its path."""
    pending = [(node, path)]
    while pending:
        current, at = pending.pop()
        yield current, at
        pending.extend((kid.node, kid.path(at)) for kid in reversed(children(current)))
