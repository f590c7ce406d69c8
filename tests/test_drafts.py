"""Drafts render like any workflow, and runtimes refuse to run them."""

from __future__ import annotations

import pytest

from renderers import FORMATS, render
from tests.conftest import example
from wio import DefinitionError, Runtime, Workflow
from wio.drafts import draft_nodes
from wio.lint import lint
from wio.model import to_model


def test_a_draft_renders_in_every_format_and_lints_clean() -> None:
    sketch = example("drafts").workflow
    for fmt in FORMATS:
        assert render(sketch, fmt, name="drafts")
    assert lint(sketch) == []
    chart = str(render(sketch, "mermaid"))
    for name in ("Submission", "Review", "Approved?", "Revise", "Embargo", "Publish", "Archive"):
        assert name in chart


def test_a_draft_has_the_same_shape_as_the_real_workflow() -> None:
    drafted = to_model(example("drafts").workflow)
    kinds = [type(step).__name__ for step in drafted.steps]  # type: ignore[union-attr]
    assert kinds == ["HandleSignal", "Checkpoint", "Timer", "Fork"]


def test_running_a_draft_is_refused_naming_the_first_draft_node() -> None:
    sketch = example("drafts").workflow
    with pytest.raises(DefinitionError) as refused:
        Runtime(sketch)
    assert str(refused.value) == (
        "'Submission' at /0 is a draft: drafts render but cannot run; "
        "replace it with a real step before running the workflow"
    )
    with pytest.raises(DefinitionError, match="is a draft"):
        Runtime(Workflow(sketch, name="sketch"), journal="memory://")
    assert [n.meta.name for n, _ in draft_nodes(sketch)][:3] == ["Submission", None, "Approved?"]
    assert list(draft_nodes(example("approval").workflow.wio)) == []
