"""Which business errors reach which handler, read from the model.

A handled section (`model.HandleError`) catches the errors its base lets
escape. The model names, on each step, the error it may raise, and on each
handler, what it handles: one name for ``error=SomeError``, or, for a handler
of every declared error, the names joined with `` | `` (class names never
contain that). Renderers draw each error from the step that raises it, with
that step's own error: never the joined name, which nothing raises.
"""

from __future__ import annotations

from typing import assert_never

from attrs import frozen

from wio import model
from wio.paths import (
    BASE,
    ERROR_HANDLER,
    ROOT,
    Path,
    child,
    children,
)

JOINED = " | "


@frozen
class Raiser:
    """A step that may raise ``error``, at ``path`` in the model."""

    path: Path
    error: str


def handled_names(node: model.HandleError) -> list[str]:
    """The error names a handler's model says it handles (empty: none declared)."""
    if node.meta.error is None:
        return []
    return [name for name in node.meta.error.name.split(JOINED) if name]


def escaping(node: model.ModelNode, path: Path) -> list[Raiser]:
    """The steps inside ``node`` whose declared error can escape it, in tree order."""
    match node:
        case (
            model.Pure() | model.RunIO() | model.HandleSignal() | model.Dynamic()
            | model.RunChild()
        ):  # fmt: skip
            return [] if node.meta.error is None else [Raiser(path, node.meta.error.name)]
        case model.HandleError():
            inside = escaping(node.base, child(path, BASE))
            passed = [r for r in inside if not catches(node, r)]
            return passed + escaping(node.handler, child(path, ERROR_HANDLER))
        case (
            model.Sequence() | model.Checkpoint() | model.Fork() | model.Parallel() | model.Loop()
            | model.Interruptible() | model.ForEach() | model.Embed() | model.Compensated()
            | model.Compensating()
        ):  # fmt: skip
            # Every child's errors escape: its steps, branches, flows, body and
            # restart flow, an interrupted section, its trigger and its `then`, a
            # for-each body, an embedded workflow, a compensating section once
            # its undos ran (an undo itself declares no error: compensate_with
            # refuses one).
            return [r for kid in children(node) for r in escaping(kid.node, kid.path(path))]
        case model.Timer() | model.Recovery() | model.End():
            return []
        case _:
            assert_never(node)


def catches(handler: model.HandleError, raiser: Raiser) -> bool:
    """Whether ``handler`` catches what ``raiser`` raises.

    A handler of every error, or of a class none of its steps names (a base
    class of theirs: the type checker allows nothing else), catches them all.
    """
    names = handled_names(handler)
    if not names:
        return True
    return raiser.error in names or not _names_any_raiser(handler, names)


def _names_any_raiser(handler: model.HandleError, names: list[str]) -> bool:
    return any(r.error in names for r in _raised_in(handler.base))


def _raised_in(node: model.ModelNode) -> list[Raiser]:
    return escaping(node, ROOT)


def caught(node: model.HandleError, path: Path) -> list[Raiser]:
    """The steps of a handled section at ``path`` whose errors its handler catches."""
    return [r for r in escaping(node.base, child(path, BASE)) if catches(node, r)]


def caught_names(node: model.HandleError, path: Path) -> list[str]:
    """The distinct error names a handler catches, in tree order: each needs its own
    catch in BPMN. Without declared raisers, the names the handler's model gives."""
    names: list[str] = []
    for raiser in caught(node, path):
        if raiser.error not in names:
            names.append(raiser.error)
    return names or handled_names(node)
