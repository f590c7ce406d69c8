"""Evaluator: advance through every step that needs no event.

``proceed`` runs pure steps, enters and leaves sections, chooses fork branches
and unwinds business errors until the machine blocks on an event or finishes.
User code called here (pure steps, conditions, transforms) must be pure: it
runs again on every replay.
"""

from __future__ import annotations

from typing import Any

from wio.algebra import (
    WIO,
    Checkpoint,
    End,
    FlatMap,
    Fork,
    HandleError,
    Pure,
    Recover,
    Run,
    Sequence,
    Transform,
)
from wio.errors import DefinitionError
from wio.interpreter.cursor import (
    AwaitCheckpoint,
    AwaitEvent,
    Chain,
    CheckpointFrame,
    Cursor,
    Evaluate,
    FailedWith,
    Finished,
    FlatMapFrame,
    Focus,
    Frame,
    HandleErrorFrame,
    Path,
    ReturnError,
    ReturnValue,
    SequenceFrame,
    StepFailure,
    StepRecord,
    TransformFrame,
    format_path,
)
from wio.interpreter.cursor import evolve as _with
from wio.result import Err


def start(workflow: Any, input: Any) -> Cursor:
    """The cursor of a new instance of ``workflow`` on ``input``, advanced."""
    return proceed(Cursor(focus=Evaluate(workflow, input, ()), stack=None, state=input, log=None))


def proceed(cursor: Cursor) -> Cursor:
    """Advance until the machine blocks or finishes.

    If user code raises, the returned cursor stands just before the failing
    step, with ``failure`` set; calling ``proceed`` on it again retries.
    """
    current = cursor if cursor.failure is None else _with(cursor, failure=None)
    while isinstance(current.focus, Evaluate | ReturnValue | ReturnError):
        try:
            current = _transition(current)
        except Exception as exc:
            return _with(current, failure=_failure_at(current, exc))
    return current


def _transition(c: Cursor) -> Cursor:
    focus = c.focus
    if isinstance(focus, Evaluate):
        return _evaluate(c, focus)
    if c.stack is None:
        final: Focus = (
            Finished(focus.value) if isinstance(focus, ReturnValue) else FailedWith(focus.error)  # type: ignore[union-attr]
        )
        return _with(c, focus=final)
    if isinstance(focus, ReturnValue):
        return _return_value(c, focus.value, c.stack)
    return _return_error(c, focus.error, c.stack)  # type: ignore[union-attr]


def _evaluate(c: Cursor, focus: Evaluate) -> Cursor:
    node, value, path = focus.node, focus.input, focus.path
    match node:
        case Pure():
            result = node.compute(value)
            return completed(c, business_result(node, result), path, "pure", node.meta.name)
        case Run() | Recover():
            return _with(c, focus=AwaitEvent(node, value, path))
        case Sequence():
            frame = SequenceFrame(node, 0, path, c.stack)
            return _with(c, focus=Evaluate(node.steps[0], value, (*path, 0)), stack=frame)
        case Transform():
            inner = node.map_input(value)
            frame_t = TransformFrame(node, value, path, c.stack)
            return _with(c, focus=Evaluate(node.base, inner, path), stack=frame_t)
        case FlatMap():
            frame_f = FlatMapFrame(node, path, c.stack)
            return _with(c, focus=Evaluate(node.base, value, (*path, 0)), stack=frame_f)
        case HandleError():
            frame_h = HandleErrorFrame(node, path, c.stack)
            return _with(c, focus=Evaluate(node.base, value, (*path, 0)), stack=frame_h)
        case Checkpoint():
            frame_c = CheckpointFrame(node, value, path, c.next_token, c.stack)
            return _with(
                c,
                focus=Evaluate(node.base, value, (*path, 0)),
                stack=frame_c,
                next_token=c.next_token + 1,
            )
        case Fork():
            for index, branch in enumerate(node.branches):
                if branch.condition(value):
                    record = StepRecord(path, "fork", node.meta.name, True, branch.name)
                    return _with(
                        c,
                        focus=Evaluate(branch.wio, value, (*path, index)),
                        log=Chain(record, c.log),
                    )
            names = ", ".join(repr(b.name) for b in node.branches) or "none"
            raise DefinitionError(
                f"fork {node.meta.name!r} at {format_path(path)}: no branch matched "
                f"input {value!r} (branches: {names}); add .otherwise(...)"
            )
        case End():
            record = StepRecord(path, "end", node.meta.name, True, c.state)
            return _with(c, focus=Finished(c.state), stack=None, log=Chain(record, c.log))
    raise DefinitionError(f"not a WIO node at {format_path(path)}: {node!r}")


def _return_value(c: Cursor, value: Any, frame: Frame) -> Cursor:
    parent = frame.parent
    match frame:
        case SequenceFrame(node=node, index=index, path=path):
            following = index + 1
            if following < len(node.steps):
                return _with(
                    c,
                    focus=Evaluate(node.steps[following], value, (*path, following)),
                    stack=SequenceFrame(node, following, path, parent),
                )
            return _with(c, stack=parent)
        case TransformFrame():
            output = frame.node.map_output(frame.input, value)
            return _with(c, focus=ReturnValue(output), stack=parent, state=output)
        case FlatMapFrame(node=node, path=path):
            following_node = node.continuation(value)
            if not isinstance(following_node, WIO):
                raise DefinitionError(
                    f"flat_map at {format_path(path)} returned {following_node!r}, not a WIO node"
                )
            return _with(c, focus=Evaluate(following_node, value, (*path, 1)), stack=parent)
        case HandleErrorFrame():
            return _with(c, stack=parent)
        case CheckpointFrame(node=node, input=input, path=path, token=token):
            return _with(c, focus=AwaitCheckpoint(node, input, value, path, token), stack=parent)
    raise AssertionError(f"unknown frame {frame!r}")


def _return_error(c: Cursor, error: Any, frame: Frame) -> Cursor:
    parent = frame.parent
    if isinstance(frame, HandleErrorFrame):
        handled = frame.node.error_type
        if handled is None or isinstance(error, handled):
            record = StepRecord(frame.path, "error_handled", frame.node.meta.name, False, error)
            return _with(
                c,
                focus=Evaluate(frame.node.handler, (c.state, error), (*frame.path, 1)),
                stack=parent,
                log=Chain(record, c.log),
            )
    # Any other frame (a checkpoint too: rule 3) lets the error pass unchanged.
    return _with(c, stack=parent)


def business_result(
    node: Pure[Any, Any, Any] | Run[Any, Any, Any], result: Any
) -> ReturnValue | ReturnError:
    """Turn what user code returned into a value or a declared business error."""
    if not isinstance(result, Err):
        return ReturnValue(result)
    declared = node.error_type
    if declared is None or not isinstance(result.error, declared):
        expected = (
            "declares no business error" if declared is None else f"declares {declared.__name__}"
        )
        raise DefinitionError(
            f"step {node.meta.name!r} returned Err({result.error!r}) but {expected}; "
            "pass error=ErrorClass"
        )
    return ReturnError(result.error)


def completed(
    c: Cursor,
    focus: ReturnValue | ReturnError,
    path: Path,
    kind: str,
    name: str | None,
    seq: int | None = None,
) -> Cursor:
    """Record that a node completed with ``focus`` (a value or an error), and move on."""
    ok = isinstance(focus, ReturnValue)
    value = focus.value if isinstance(focus, ReturnValue) else focus.error
    record = StepRecord(path, kind, name, ok, value, seq)
    return _with(c, focus=focus, log=Chain(record, c.log), state=value if ok else c.state)


def _failure_at(c: Cursor, exc: Exception) -> StepFailure:
    focus = c.focus
    if isinstance(focus, Evaluate):
        return StepFailure(focus.path, focus.node.meta.name, exc)
    frame = c.stack
    path = frame.path if frame is not None else ()
    name = frame.node.meta.name if frame is not None else None
    return StepFailure(path, name, exc)
