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
    """The humanized target of the assignment whose value is the call of ``method``
    that the caller's frame is making.

    The call is found by its source position, so other statements on the same
    line do not count. It must be the assignment's whole value (method calls on
    its result, such as ``.described(...)``, aside): ``a = x.auto_named() >>
    y.auto_named()`` has no name for either call, and is refused. A walrus
    names its own value: ``f(inner := x.auto_named())`` is "Inner".
    """
    # current is the frame of the method itself; its caller holds the assignment.
    caller = current.f_back if current is not None else None
    if caller is None:
        raise DefinitionError(f"{method}() could not find its caller's frame")
    filename, line = caller.f_code.co_filename, caller.f_lineno
    target = _assignment_target(filename, line, _call_end(caller), method)
    if target is None:
        raise DefinitionError(
            f"{method}() at {filename}:{line} must be the whole right-hand side of an "
            "assignment such as `my_step = WIO.pure(1).auto_named()`; use .named(...) elsewhere"
        )
    return humanize(target)


def _call_end(frame: FrameType) -> tuple[int, int] | None:
    """Where the call the frame is making ends in its source: (line, column)."""
    positions = list(frame.f_code.co_positions())
    index = frame.f_lasti // 2  # one position per 2-byte code unit
    if index >= len(positions):
        return None
    _, end_line, _, end_column = positions[index]
    if end_line is None or end_column is None:  # python -X no_debug_ranges
        return None
    return end_line, end_column


def _assignment_target(
    filename: str, line: int, call_end: tuple[int, int] | None, method: str
) -> str | None:
    tree = _parse(filename)
    if tree is None:
        return None
    parents: dict[ast.AST, ast.AST] = {}
    calls: list[ast.Call] = []
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parents[child] = node
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == method
            and node.end_lineno is not None
            and (
                (node.end_lineno, node.end_col_offset) == call_end
                if call_end is not None
                else node.lineno <= line <= node.end_lineno
            )
        ):
            calls.append(node)
    if len(calls) != 1:
        return None  # no position to tell several calls on the line apart
    value: ast.AST = calls[0]
    # Method calls on the named node keep its name: `x = a.auto_named().described("")`.
    while (
        isinstance(attribute := parents.get(value), ast.Attribute)
        and isinstance(call := parents.get(attribute), ast.Call)
        and call.func is attribute
    ):
        value = call
    statement = parents.get(value)
    if isinstance(statement, ast.NamedExpr) and statement.value is value:
        return statement.target.id
    if isinstance(statement, ast.Assign) and statement.value is value:
        return _target_name(statement.targets[-1])
    if isinstance(statement, ast.AnnAssign) and statement.value is value:
        return _target_name(statement.target)
    return None


def _target_name(target: ast.expr) -> str | None:
    if isinstance(target, ast.Name):
        return target.id
    if isinstance(target, ast.Attribute):
        return target.attr
    return None  # a tuple or a subscript names no single node


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
