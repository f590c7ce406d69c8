"""Names taken from source code, for ``auto_named()``.

``my_workflow = WIO.pure(1).auto_named()`` is named "My Workflow": we find the
assignment statement around the call in the caller's source and humanize its
target. This reads source files, so it runs once at definition time only.
"""

from __future__ import annotations

import ast
import linecache
import re
from types import FrameType

from wio.errors import DefinitionError


def humanize(identifier: str) -> str:
    """``my_workflow`` and ``myWorkflow`` both become "My Workflow"."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", identifier)
    words = [w for w in re.split(r"[_\s]+", spaced) if w]
    return " ".join(w[:1].upper() + w[1:] for w in words)


def name_from_assignment(current: FrameType | None, method: str) -> str:
    """The humanized target of the assignment that calls ``method`` in the caller's frame."""
    # current is the frame of the method itself; its caller holds the assignment.
    caller = current.f_back if current is not None else None
    if caller is None:
        raise DefinitionError(f"{method}() could not find its caller's frame")
    filename, line = caller.f_code.co_filename, caller.f_lineno
    target = _assignment_target(filename, line)
    if target is None:
        raise DefinitionError(
            f"{method}() at {filename}:{line} must be on the right-hand side of an "
            "assignment such as `my_step = WIO.pure(1).auto_named()`; use .named(...) elsewhere"
        )
    return humanize(target)


def _assignment_target(filename: str, line: int) -> str | None:
    tree = _parse(filename)
    if tree is None:
        return None
    best: ast.Assign | ast.AnnAssign | None = None
    for node in ast.walk(tree):
        # The innermost assignment statement spanning the calling line.
        if (
            isinstance(node, ast.Assign | ast.AnnAssign)
            and node.end_lineno is not None
            and node.lineno <= line <= node.end_lineno
            and (best is None or node.lineno >= best.lineno)
        ):
            best = node
    if best is None:
        return None
    targets = best.targets if isinstance(best, ast.Assign) else [best.target]
    target = targets[-1]
    if isinstance(target, ast.Name):
        return target.id
    if isinstance(target, ast.Attribute):
        return target.attr
    return None


def _parse(filename: str) -> ast.Module | None:
    # Not cached: names are taken once per definition, and a cache would go
    # stale when a file is rewritten within one process.
    linecache.checkcache(filename)
    source = "".join(linecache.getlines(filename))
    if not source:
        return None
    try:
        return ast.parse(source, filename)
    except SyntaxError:
        return None
