"""Find a workflow from ``PATH_OR_MODULE:ATTR``, as the CLI and the worker take it."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

from wio.algebra import WIO
from wio.definition import Workflow
from wio.errors import WioError

_WIO_FOLDER = str(Path(__file__).resolve().parent)


class TargetError(WioError):
    """Raised when a ``PATH_OR_MODULE:ATTR`` target (as the CLI takes) cannot be
    loaded or is not a workflow."""


def load_definition(target: str) -> Workflow[Any, Any, Any]:
    """The `Workflow` at ``target``; a bare WIO is named after its attribute."""
    obj = _load_attribute(target)
    if isinstance(obj, Workflow):
        return obj
    if isinstance(obj, WIO):
        return Workflow(obj, name=target.rpartition(":")[2])
    raise TargetError(f"{target!r} is a {type(obj).__name__}, not a WIO workflow")


def load_workflow(target: str) -> WIO[Any, Any, Any]:
    """The WIO at ``target``, e.g. ``docs/examples/order.py:order_workflow`` or ``pkg.mod:wf``."""
    obj = _load_attribute(target)
    if isinstance(obj, Workflow):
        return obj.wio
    if not isinstance(obj, WIO):
        raise TargetError(f"{target!r} is a {type(obj).__name__}, not a WIO workflow")
    return obj


def _load_attribute(target: str) -> Any:
    source, _, attr = target.rpartition(":")
    if not source or not attr:
        raise TargetError(f"{target!r}: expected PATH_OR_MODULE:ATTR, e.g. flows.py:order_workflow")
    module = load_module(source)
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise TargetError(f"{target!r}: {source} has no attribute {attr!r}") from None
    return obj


def load_module(source: str) -> ModuleType:
    """Import a module by dotted name, or load a ``.py`` file as one."""
    if source.endswith(".py") or "/" in source or "\\" in source:
        return _load_file(Path(source))
    try:
        return importlib.import_module(source)
    except ModuleNotFoundError as exc:
        if exc.name is not None and source.startswith(exc.name):
            raise TargetError(f"cannot import module {source!r}: {exc}") from exc
        raise TargetError(f"cannot load {source!r}, its code raised:\n{_user_error(exc)}") from exc
    except Exception as exc:
        raise TargetError(f"cannot load {source!r}, its code raised:\n{_user_error(exc)}") from exc


def _load_file(path: Path) -> ModuleType:
    if not path.is_file():
        raise TargetError(f"no such file: {path}")
    path = path.resolve()
    # Like `python path.py`: the file's folder is importable, so it can import its siblings.
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    name = path.stem
    existing = sys.modules.get(name)
    if existing is not None:
        if Path(getattr(existing, "__file__", "") or "").resolve() == path:
            return existing
        name = f"wio_target_{abs(hash(str(path)))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise TargetError(f"cannot load {path} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise TargetError(f"cannot load {path}, its code raised:\n{_user_error(exc)}") from exc
    return module


def _user_error(exc: BaseException) -> str:
    """The user's error as Python would print it, without wio's and importlib's frames."""
    frames = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if not frame.filename.startswith(("<frozen", _WIO_FOLDER))
    ]
    lines = traceback.format_list(frames) + traceback.format_exception_only(exc)
    return "".join(lines).rstrip("\n")


def definition_for(
    workflow: str, version: int, targets: list[str]
) -> Workflow[Any, Any, Any] | None:
    """Which of the workflows at ``targets`` is ``workflow`` at ``version``, if any."""
    for target in targets:
        definition = load_definition(target)
        if (definition.name, definition.version) == (workflow, version):
            return definition
    return None
