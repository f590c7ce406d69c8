"""One error hierarchy: every exception wio defines derives from `WioError`, is
exported from `wio`, and says when it is raised."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

import pytest

import wio
from tests.processes import wio as wio_command
from wio import WIO, DefinitionError, RetryPolicy, UnknownFormat, WioError, Workflow
from wio.journal import JournalError, MemoryJournal
from wio.renderers import render
from wio.worker import Worker


def exception_classes() -> list[type[BaseException]]:
    """Every exception class defined in a module of the installed wio package."""
    found: dict[str, type[BaseException]] = {}
    for module_info in pkgutil.walk_packages(wio.__path__, "wio."):
        module = importlib.import_module(module_info.name)
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, BaseException)
                and value.__module__ == module.__name__
            ):
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return [found[name] for name in sorted(found)]


CLASSES = exception_classes()


def test_the_scan_finds_the_errors_of_every_layer() -> None:
    names = {cls.__name__ for cls in CLASSES}
    # The journal's, the runtime's, the renderers' and the CLI's: the scan is not vacuous.
    assert {"LeaseHeld", "ConcurrencyConflict", "StepFailed", "GraphvizMissing"} <= names
    assert {"TargetError", "ModelFormatError", "UnknownFormat"} <= names


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__qualname__)
def test_every_exception_is_a_documented_wio_error_exported_from_wio(
    cls: type[BaseException],
) -> None:
    assert issubclass(cls, WioError), f"{cls.__module__}.{cls.__qualname__} is not a WioError"
    assert getattr(wio, cls.__name__, None) is cls, f"wio does not export {cls.__name__}"
    assert cls.__name__ in wio.__all__
    doc = cls.__dict__.get("__doc__")  # its own docstring, not one inherited
    assert doc and doc.strip(), f"{cls.__name__} has no docstring"
    assert "raise" in doc.lower(), f"{cls.__name__}'s docstring does not say when it is raised"


def test_journal_errors_are_wio_errors() -> None:
    with pytest.raises(WioError) as raised:
        MemoryJournal().get_instance("nobody")
    assert isinstance(raised.value, JournalError) and "'nobody'" in str(raised.value)


def test_an_unknown_format_is_a_wio_error_naming_the_formats() -> None:
    with pytest.raises(UnknownFormat, match="unknown format 'pdf': expected one of mermaid"):
        render(WIO.pure(1), "pdf")


def test_a_worker_refuses_a_workflow_given_twice() -> None:
    workflow: Workflow[Any, Any, Any] = Workflow(WIO.pure(1), name="twice")
    with pytest.raises(DefinitionError, match="workflow 'twice' version 1 is given twice"):
        Worker(MemoryJournal(), [workflow, workflow])


def test_the_command_reports_a_journal_error_cleanly() -> None:
    done = wio_command("instances", "--journal", "nosuch://x")
    assert done.returncode == 1
    assert done.stderr.startswith("wio: error: journal URL 'nosuch://x'"), done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_attempts": 0}, "RetryPolicy.max_attempts must be an integer of at least 1, got 0"),
        ({"max_attempts": 2.5}, "RetryPolicy.max_attempts must be an integer of at least 1"),
        ({"initial_delay": -1}, "RetryPolicy.initial_delay must be a number of at least 0"),
        ({"multiplier": "2"}, "RetryPolicy.multiplier must be a number of at least 1, got '2'"),
    ],
)
def test_a_bad_retry_policy_is_a_definition_error_naming_the_field(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(DefinitionError) as raised:
        RetryPolicy(**options)
    assert str(raised.value).startswith(message)
