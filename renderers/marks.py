"""An instance's progress as marks on its workflow's nodes: plain data.

The runtime knows what an instance ran (``instance.progress``), where it waits
(``instance.waiting_at``) and what failed (``instance.failed_at``); `Marks`
holds those model paths, and renderers draw them without knowing the runtime.
`states` derives what the records do not name: a loop's decision once it
decided, a parallel section's fork once it started and its join once every
flow arrived, and the end once the instance finished. A workflow's cleanup
flow (`wio.model.WithCleanup`) is marked as a tree of its own under
`wio.paths.CLEANUP`: it ran to its end once the instance is cancelled.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import pairwise
from typing import Any, Final, Literal, assert_never

from attrs import evolve, frozen

from wio import model
from wio.paths import (
    BASE,
    CLEANUP,
    ERROR_HANDLER,
    INTERRUPTION_HANDLER,
    ON_RESTART,
    ROOT,
    TRIGGER,
    Path,
    child,
    children,
    within,
)

State = Literal["executed", "waiting", "failed"]
STATES: tuple[State, ...] = ("executed", "waiting", "failed")


@frozen
class Marks:
    executed: tuple[Path, ...] = ()  # in the order they ran; a node may run again
    waiting: frozenset[Path] = frozenset()
    failed: frozenset[Path] = frozenset()
    finished: bool = False  # the instance reached the end
    cancelled: bool = False  # it ended cancelled: after its cleanup flow, if it has one

    @classmethod
    def of(cls, instance: Any) -> Marks:
        """The marks of a runtime instance (anything with ``progress``,
        ``waiting_at``, ``failed_at`` and ``status``)."""
        return cls(
            tuple(record.path for record in instance.progress),
            frozenset(instance.waiting_at),
            frozenset(instance.failed_at),
            str(instance.status) == "finished",
            str(instance.status) == "cancelled",
        )

    @classmethod
    def from_paths(cls, executed: Iterable[Path]) -> Marks:
        return cls(tuple(executed))

    def __bool__(self) -> bool:
        return bool(self.executed or self.waiting or self.failed or self.finished or self.cancelled)


# Keys of `states` that no model node stands for. Their segments are negative, as no
# node's are, and none is -1: the cleanup flow's paths start with it (`CLEANUP`).
JOIN: Final = -2
DONE: Final = -3
END: Final[Path] = (-4,)  # the workflow's end
CLEANUP_END: Final[Path] = (*CLEANUP, -4)  # the cleanup flow's end


def join_of(path: Path) -> Path:
    """The key in `states` of where a section's ways meet again: a parallel
    section's (or fork's) join, a handled or interruptible section's with its
    handler's."""
    return child(path, JOIN)


def done_of(path: Path) -> Path:
    """The key of a section's own end (a subprocess's "Done" event) in `states`,
    present once the section ran to its end through its base."""
    return child(path, DONE)


def states(root: model.Model, marks: Marks) -> dict[Path, State]:
    """Each marked node's state; failed over waiting over executed."""
    tree, cleanup = model.parts(root)
    found: dict[Path, State] = {path: "executed" for path in marks.executed}
    _derive(tree, ROOT, marks, found)
    if marks.finished:
        found[END] = "executed"
    if cleanup is not None:  # it ran to its end once the instance is cancelled
        _derive(cleanup, CLEANUP, evolve(marks, finished=marks.cancelled), found)
        if marks.cancelled and _entered(CLEANUP, marks):
            found[CLEANUP_END] = "executed"
    for path in marks.waiting:
        found[path] = "waiting"
    for path in marks.failed:
        found[path] = "failed"
    return found


def _entered(path: Path, marks: Marks) -> bool:
    """Whether the instance reached the node at ``path``: it ran, waits or failed in it."""
    return any(within(p, path) for p in (*marks.executed, *marks.waiting, *marks.failed))


def _ran(path: Path, marks: Marks) -> bool:
    """Whether something inside the node at ``path`` ran (waiting there is not enough:
    an interruptible section's trigger is awaited without having fired)."""
    return any(within(p, path) for p in (*marks.executed, *marks.failed))


def _derive(
    node: model.ModelNode,
    path: Path,
    marks: Marks,
    found: dict[Path, State],
    left: bool = False,
) -> None:
    """``left``: the node is inside a section its error or interruption left, so
    the instance finishing does not mean that it ran to its end."""
    for kid in children(node):
        kid_left = left or (kid.slot == "base" and _left_early(node, path, marks))
        _derive(kid.node, kid.path(path), marks, found, kid_left)
    match node:
        case model.Sequence():
            steps = children(node)
            for step, following in pairwise(steps):
                if _entered(following.path(path), marks):
                    _completed(step.node, step.path(path), marks, found)
        case model.Loop():
            body = [p for p in marks.executed if within(p, child(path, BASE))]
            again = bool(body) and body.count(body[0]) > 1  # the body ran twice
            if again or _entered(child(path, ON_RESTART), marks):
                found[path] = "executed"  # it decided to go round again
                _completed(node.base, child(path, BASE), marks, found)  # after a whole round
        case model.Parallel():
            if _entered(path, marks):
                found[path] = "executed"  # the fork: the flows started
            if path in marks.executed:  # the section's own record: every flow arrived
                found[join_of(path)] = "executed"
                for flow in children(node):
                    _completed(flow.node, flow.path(path), marks, found)
        case (
            model.Fork() | model.HandleError() | model.Interruptible() | model.Checkpoint()
            | model.ForEach() | model.Embed() | model.Compensated() | model.Compensating()
            | model.Pure() | model.RunIO() | model.Dynamic() | model.HandleSignal()
            | model.Timer() | model.Recovery() | model.End() | model.RunChild()
        ):  # fmt: skip
            pass
        case _:
            assert_never(node)
    if marks.finished and not left and _entered(path, marks):
        _completed(node, path, marks, found)


def _left_early(node: model.ModelNode, path: Path, marks: Marks) -> bool:
    """Whether the section at ``path`` was left before its base ran to its end:
    its error handler ran, or its trigger fired."""
    if isinstance(node, model.HandleError):
        return _ran(child(path, ERROR_HANDLER), marks)
    if isinstance(node, model.Interruptible):
        return _ran(child(path, TRIGGER), marks)
    return False


def _completed(node: model.ModelNode, path: Path, marks: Marks, found: dict[Path, State]) -> None:
    """``node`` ran to its end: the loops on its way decided to exit."""
    match node:
        case model.Loop():
            if _entered(child(path, BASE), marks):
                found[path] = "executed"
        case model.Sequence():
            steps = children(node)
            if steps:
                _completed(steps[-1].node, steps[-1].path(path), marks, found)
        case model.Fork():
            for branch in children(node):
                if _entered(branch.path(path), marks):
                    _completed(branch.node, branch.path(path), marks, found)
        case model.HandleError():
            if _ran(child(path, ERROR_HANDLER), marks):
                _completed(node.handler, child(path, ERROR_HANDLER), marks, found)
            else:
                _completed(node.base, child(path, BASE), marks, found)
                found[done_of(path)] = "executed"
            found[join_of(path)] = "executed"  # where the section and its handler meet
        case (
            model.Checkpoint() | model.ForEach() | model.Embed() | model.Compensated()
            | model.Compensating()
        ):  # fmt: skip
            # Ran to its end through its base: every element's body, the embedded
            # workflow, the step (an undo runs only when the section fails).
            _completed(node.base, child(path, BASE), marks, found)
            found[done_of(path)] = "executed"
        case model.Interruptible():
            if node.handler is not None and _entered(child(path, INTERRUPTION_HANDLER), marks):
                _completed(node.handler, child(path, INTERRUPTION_HANDLER), marks, found)
            elif not _ran(child(path, TRIGGER), marks):  # not interrupted: ran to its end
                _completed(node.base, child(path, BASE), marks, found)
                found[done_of(path)] = "executed"
            found[join_of(path)] = "executed"  # where the section and its handler meet
        case (
            model.Parallel() | model.Pure() | model.RunIO() | model.Dynamic()
            | model.HandleSignal() | model.Timer() | model.Recovery() | model.End()
            | model.RunChild()
        ):  # fmt: skip
            pass  # a parallel section completes by its own record
        case _:
            assert_never(node)


RANK: dict[State, int] = {"executed": 0, "waiting": 1, "failed": 2}


def shown_on(
    root: model.Model, found: dict[Path, State], drawn: Callable[[Path], bool]
) -> dict[Path, State]:
    """``found`` as a renderer can show it: a node it does not draw (a recovery,
    unless technical nodes are shown) where the instance waits or failed is marked
    on the nearest element it draws: the section drawn around it (a subprocess),
    else the element the instance reaches next, else the end (the cleanup flow's
    own, for a node in it)."""
    tree, cleanup = model.parts(root)
    shown = dict(found)
    for path, state in found.items():
        if state == "executed" or path in (END, CLEANUP_END) or drawn(path):
            continue
        if not within(path, CLEANUP):
            nearest = _nearest_drawn(tree, ROOT, END, path, drawn)
        elif cleanup is not None:
            nearest = _nearest_drawn(cleanup, CLEANUP, CLEANUP_END, path, drawn)
        else:
            continue  # a cleanup path of a model without one
        if nearest is not None and RANK[state] > RANK[shown.get(nearest, "executed")]:
            shown[nearest] = state
        elif nearest is not None:
            shown.setdefault(nearest, state)
    return shown


def _nearest_drawn(
    top: model.ModelNode, top_path: Path, end: Path, path: Path, drawn: Callable[[Path], bool]
) -> Path | None:
    """In the tree ``top`` (at ``top_path``) whose end is ``end``."""
    ancestors = [(top, top_path)]  # the nodes from the top down to the one at ``path``
    for depth in range(len(top_path), len(path)):
        node, at = ancestors[-1]
        kid = next((k for k in children(node) if k.path(at) == path[: depth + 1]), None)
        if kid is None:
            return None  # not a path of this model (a dynamic part's)
        ancestors.append((kid.node, kid.path(at)))
    for depth in reversed(range(len(top_path), len(path))):
        parent, at = ancestors[depth - len(top_path)]
        if isinstance(parent, model.Sequence):  # the steps after it, in order
            later = [k for k in children(parent) if k.path(at)[-1] > path[depth]]
            for step in later:
                first = _first_drawn(step.node, step.path(at), drawn)
                if first is not None:
                    return first
        elif isinstance(parent, model.Fork | model.Parallel):
            if drawn(join_of(at)):
                return join_of(at)
            continue  # its split comes before the branch: what follows the section
        if drawn(at):  # the loop's decision after its body, or a section drawn around it
            return at
    return end if drawn(end) else None


def _first_drawn(node: model.ModelNode, path: Path, drawn: Callable[[Path], bool]) -> Path | None:
    """The first element the instance reaches in the node at ``path``."""
    if drawn(path) and not isinstance(node, model.Loop):  # a loop decides after its body
        return path
    for kid in children(node):
        first = _first_drawn(kid.node, kid.path(path), drawn)
        if first is not None:
            return first
    return path if drawn(path) else None
