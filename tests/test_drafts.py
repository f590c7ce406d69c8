"""Drafts render like any workflow, and runtimes refuse to run them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from attrs import frozen

from tests.conftest import example
from wio import WIO, DefinitionError, Runtime, Workflow
from wio import drafts as d
from wio.drafts import draft_nodes
from wio.lint import lint
from wio.model import to_model
from wio.renderers import FORMATS, render


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


@frozen
class Saved:
    value: Any


def _real(name: str) -> WIO[Any, Any, Any]:
    return WIO.pure(lambda x: x).named(name)


# A draft node hidden in each place a node can hold another: every one must be found.
HIDING_PLACES: dict[str, Callable[[WIO[Any, Any, Any]], WIO[Any, Any, Any]]] = {
    "sequence": lambda draft: _real("a") >> draft,
    "fork branch": lambda draft: WIO.fork("F").branch("yes", lambda _: True, draft),
    "error handler": lambda draft: _real("a").handle_error_with(draft),
    "checkpointed section": lambda draft: (_real("a") >> draft).checkpointed(
        lambda _, out: Saved(out), lambda _, saved: saved.value, event=Saved
    ),
    "loop restart": lambda draft: WIO.repeat(_real("a")).until(lambda _: True, on_restart=draft),
    "timeout handler": lambda draft: _real("a").timeout(timedelta(days=1), then=draft),
    "parallel flow": lambda draft: WIO.parallel().flow("a", _real("a")).flow("b", draft),
}


@pytest.mark.parametrize("place", sorted(HIDING_PLACES))
def test_a_draft_anywhere_in_the_tree_is_refused(place: str) -> None:
    draft = d.step("Sketched")
    workflow = HIDING_PLACES[place](draft)
    with pytest.raises(DefinitionError, match=r"'Sketched' at /.* is a draft"):
        Runtime(workflow)
    assert [n.meta.name for n, _ in draft_nodes(workflow)] == ["Sketched"]


def test_a_checked_workflow_is_not_walked_again_but_a_new_draft_is() -> None:
    real = example("approval").workflow.wio
    Runtime(real)
    Runtime(real)  # cached by identity: the same immutable tree cannot have grown a draft
    with pytest.raises(DefinitionError, match="is a draft"):
        Runtime(real >> d.step("Later"))


def test_a_parallel_draft_renders_its_flows_and_is_refused() -> None:
    sketch = d.step("Receive") >> d.parallel(
        "Prepare", payment=d.step("Charge"), stock=d.step("Reserve"), courier=d.signal("Courier")
    )
    section = to_model(sketch).steps[1]  # type: ignore[union-attr]
    assert [flow.name for flow in section.flows] == ["payment", "stock", "courier"]
    assert 'parallelGateway id="Gateway_1" name="Prepare"' in str(render(sketch, "bpmn"))
    assert lint(sketch) == []
    assert [n.meta.name for n, _ in draft_nodes(sketch)] == [
        "Receive", "Prepare", "Charge", "Reserve", "Courier",
    ]  # fmt: skip
    with pytest.raises(DefinitionError, match="'Receive' at /0 is a draft"):
        Runtime(sketch)
    with pytest.raises(DefinitionError, match="needs at least one flow"):
        d.parallel("Empty")
