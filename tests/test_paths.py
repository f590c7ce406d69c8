"""Model paths: every node's place in the tree, as journals record it.

Paths are persisted (`TimerStarted.timer`, `InFlow.flow`, progress records),
so the snapshot pins the path of every node of every example in
docs/examples: a refactor cannot silently change what old journals contain.
"""

from __future__ import annotations

from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion

from tests.conftest import EXAMPLES, example
from wio import WIO, Workflow
from wio.model import to_model
from wio.paths import CLEANUP, descend, format_path
from wio.renderers.flow import build_flow


def example_workflows() -> list[tuple[str, str]]:
    """Every workflow a module of docs/examples defines, as (module, attribute)."""
    found = []
    for source in sorted(EXAMPLES.glob("*.py")):
        module = example(source.stem)
        for attribute, value in vars(module).items():
            if isinstance(value, WIO | Workflow):
                found.append((source.stem, attribute))
    return found


def wio_of(module: str, attribute: str) -> WIO[Any, Any, Any]:
    value = getattr(example(module), attribute)
    return value.wio if isinstance(value, Workflow) else value


def test_every_example_module_defines_workflows() -> None:
    modules = {module for module, _ in example_workflows()}
    assert modules == {source.stem for source in EXAMPLES.glob("*.py")}


@pytest.mark.parametrize(("module", "attribute"), example_workflows())
def test_model_paths_of_every_example_node(
    module: str, attribute: str, snapshot: SnapshotAssertion
) -> None:
    value = getattr(example(module), attribute)
    workflow = wio_of(module, attribute)
    cleanup = value.on_cancel if isinstance(value, Workflow) else None
    nodes = [
        f"{format_path(path)} {type(node).__name__} {node.meta.name or ''}".rstrip()
        for node, path in [
            *descend(workflow),
            *(descend(cleanup, CLEANUP) if cleanup is not None else ()),  # under /-1
        ]
    ]
    drawn = [
        f"{format_path(node.path)} {node.kind} {node.label}"
        for node in build_flow(to_model(value), show_technical=True).nodes
        if node.path is not None
    ]
    assert {"nodes": nodes, "drawn": drawn} == snapshot
