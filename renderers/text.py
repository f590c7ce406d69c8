"""A debug text tree of a workflow's model, optionally marking what an instance ran."""

from __future__ import annotations

from collections.abc import Collection

from wio import model
from wio.interpreter import Path


def render_text(
    root: model.ModelNode, *, show_technical: bool = True, executed: Collection[Path] = ()
) -> str:
    ran = set(executed)
    lines: list[str] = []
    _walk(root, (), "", "", lines, ran, show_technical)
    return "\n".join(lines) + "\n"


def _describe(node: model.ModelNode) -> str:
    kind = type(node).__name__
    meta = getattr(node, "meta", None)
    parts = [kind]
    if meta is not None and meta.name:
        parts.append(repr(meta.name))
    if isinstance(node, model.RunIO):
        parts.append(f"event={node.event}")
    if isinstance(node, model.HandleSignal):
        parts.append(f"signal={node.signal} event={node.event}")
    if isinstance(node, model.Loop):
        parts.append(f"exit={node.exit!r} restart={node.restart!r}")
    if isinstance(node, model.Timer):
        parts.append(f"duration={node.duration or 'computed'}")
    if meta is not None and meta.error is not None:
        parts.append(f"error={meta.error.name}")
    if meta is not None and meta.description:
        parts.append(f"({meta.description})")
    return " ".join(parts)


def _children(node: model.ModelNode) -> list[tuple[str, int, model.ModelNode]]:
    match node:
        case model.Sequence():
            return [("", i, step) for i, step in enumerate(node.steps)]
        case model.HandleError():
            return [("base: ", 0, node.base), ("handler: ", 1, node.handler)]
        case model.Fork():
            return [
                (f"{b.name}{' (default)' if b.default else ''}: ", i, b.base)
                for i, b in enumerate(node.branches)
            ]
        case model.Parallel():
            return [(f"{f.name}: ", i, f.base) for i, f in enumerate(node.flows)]
        case model.Checkpoint():
            return [("", 0, node.base)]
        case model.Interruptible():
            handler = [] if node.handler is None else [("then: ", 2, node.handler)]
            return [("base: ", 0, node.base), ("interrupted by: ", 1, node.trigger), *handler]
        case model.Loop():
            restart = [] if node.on_restart is None else [("on restart: ", 1, node.on_restart)]
            return [("body: ", 0, node.base), *restart]
    return []


def _walk(
    node: model.ModelNode,
    path: Path,
    prefix: str,
    label: str,
    lines: list[str],
    ran: set[Path],
    show_technical: bool,
) -> None:
    if not show_technical and isinstance(node, model.Checkpoint):
        _walk(node.base, (*path, 0), prefix, label, lines, ran, show_technical)
        return
    if not show_technical and isinstance(node, model.Recovery):
        return
    mark = "[x] " if path in ran else ("[ ] " if ran else "")
    lines.append(f"{prefix}{label}{mark}{_describe(node)}")
    children = _children(node)
    indent = prefix.replace("├── ", "│   ").replace("└── ", "    ")
    for position, (child_label, index, child) in enumerate(children):
        branch = "└── " if position == len(children) - 1 else "├── "
        _walk(child, (*path, index), indent + branch, child_label, lines, ran, show_technical)
