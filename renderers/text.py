"""A debug text tree of a workflow's model, optionally marking an instance's progress.

Each line of a marked tree starts with ``[x]`` (ran), ``[>]`` (waits there
now), ``[!]`` (failed) or ``[ ]``; a construct's line shows the strongest mark
inside it (failed, then waiting, then ran). A workflow's cleanup flow
(`wio.model.WithCleanup`) follows the tree, as a tree of its own introduced by
``on cancel:``.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import assert_never

from wio import model
from wio.paths import BASE, CLEANUP, ROOT, Child, Path, child, children, within

from .marks import Marks, State, shown_on, states

_SIGNS = {"failed": "[!] ", "waiting": "[>] ", "executed": "[x] "}


def render_text(
    root: model.Model,
    *,
    show_technical: bool = True,
    executed: Collection[Path] = (),
    marks: Marks | None = None,
) -> str:
    marks = marks if marks is not None else Marks.from_paths(executed)
    tree, cleanup = model.parts(root)
    trees = [(tree, ROOT, "")]
    if cleanup is not None:
        trees.append((cleanup, CLEANUP, "on cancel: "))
    found: dict[Path, State] = {}
    if marks:
        drawn: set[Path] = set()  # the paths with a line of their own
        for top, at, label in trees:
            _walk(top, at, "", label, [], {}, show_technical, drawn)
        found = shown_on(root, states(root, marks), drawn.__contains__)
    lines: list[str] = []
    for top, at, label in trees:
        _walk(top, at, "", label, lines, found, show_technical)
    return "\n".join(lines) + "\n"


def _mark(path: Path, found: dict[Path, State]) -> str:
    if not found:
        return ""
    inside = {
        state
        for p, state in found.items()
        if within(p, path) and within(p, CLEANUP) == within(path, CLEANUP)  # trees apart
    }
    for state in ("failed", "waiting", "executed"):
        if state in inside:
            return _SIGNS[state]
    return "[ ] "


def _describe(node: model.ModelNode) -> str:
    kind = type(node).__name__
    meta = getattr(node, "meta", None)
    parts = [kind]
    if meta is not None and meta.name:
        parts.append(repr(meta.name))
    parts += _details(node)
    if meta is not None and meta.error is not None:
        parts.append(f"error={meta.error.name}")
    if meta is not None and meta.description:
        parts.append(f"({meta.description})")
    return " ".join(parts)


def _details(node: model.ModelNode) -> list[str]:
    match node:
        case model.RunIO():
            return [f"event={node.event}"]
        case model.HandleSignal():
            return [f"signal={node.signal} event={node.event}"]
        case model.Loop():
            return [f"exit={node.exit!r} restart={node.restart!r}"]
        case model.Timer():
            return [f"duration={node.duration or 'computed'}"]
        case model.ForEach():
            return [f"by={node.key}"]
        case model.RunChild():
            return [f"workflow={node.workflow} version={node.version}"]
        case (
            model.Pure() | model.Dynamic() | model.Sequence() | model.HandleError() | model.Fork()
            | model.Parallel() | model.Interruptible() | model.Checkpoint() | model.Recovery()
            | model.End() | model.Embed() | model.Compensated() | model.Compensating()
        ):  # fmt: skip
            return []
        case _:
            assert_never(node)


def _children(node: model.ModelNode) -> list[tuple[str, Child[model.ModelNode]]]:
    """Each child of ``node`` with the label that introduces it in the tree."""
    kids = children(node)
    match node:
        case model.Fork():
            return [
                (f"{branch.name}{' (default)' if branch.default else ''}: ", kid)
                for branch, kid in zip(node.branches, kids, strict=True)
            ]
        case model.Parallel():
            return [(f"{flow.name}: ", kid) for flow, kid in zip(node.flows, kids, strict=True)]
        case model.HandleError() | model.Loop() | model.Interruptible():
            return [(_SLOT_LABELS[type(node), kid.slot], kid) for kid in kids]
        case model.Sequence() | model.Checkpoint():
            return [("", kid) for kid in kids]
        case model.ForEach():
            return [("each: ", kid) for kid in kids]
        case model.Embed():
            return [("runs: ", kid) for kid in kids]
        case model.Compensating():
            return [("", kid) for kid in kids]
        case model.Compensated():
            return [("undo: " if kid.slot == "undo" else "", kid) for kid in kids]
        case (
            model.Pure() | model.RunIO() | model.Dynamic() | model.HandleSignal() | model.Timer()
            | model.Recovery() | model.End() | model.RunChild()
        ):  # fmt: skip
            return []
        case _:
            assert_never(node)


_SLOT_LABELS: dict[tuple[type[model.ModelNode], str], str] = {
    (model.HandleError, "base"): "base: ",
    (model.HandleError, "handler"): "handler: ",
    (model.Loop, "base"): "body: ",
    (model.Loop, "on_restart"): "on restart: ",
    (model.Interruptible, "base"): "base: ",
    (model.Interruptible, "trigger"): "interrupted by: ",
    (model.Interruptible, "handler"): "then: ",
}


def _walk(
    node: model.ModelNode,
    path: Path,
    prefix: str,
    label: str,
    lines: list[str],
    found: dict[Path, State],
    show_technical: bool,
    drawn: set[Path] | None = None,
) -> None:
    if not show_technical and isinstance(node, model.Checkpoint):
        _walk(node.base, child(path, BASE), prefix, label, lines, found, show_technical, drawn)
        return
    if not show_technical and isinstance(node, model.Recovery):
        if label:  # a branch, flow or handler that only recovers: drawn, as empty
            lines.append(f"{prefix}{label}{_mark(path, found)}(empty)")
            if drawn is not None:
                drawn.add(path)
        return
    lines.append(f"{prefix}{label}{_mark(path, found)}{_describe(node)}")
    if drawn is not None:
        drawn.add(path)
    kids = _children(node)
    indent = prefix.replace("├── ", "│   ").replace("└── ", "    ")
    for position, (child_label, kid) in enumerate(kids):
        branch = "└── " if position == len(kids) - 1 else "├── "
        _walk(
            kid.node, kid.path(path), indent + branch, child_label, lines, found, show_technical,
            drawn,
        )  # fmt: skip
