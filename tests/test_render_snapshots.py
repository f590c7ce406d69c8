"""Snapshots of every example in every format, with and without technical nodes.

A change to any renderer shows up here as a diff to review; update the
snapshots with `pytest --snapshot-update` once the diff is what was meant.
"""

from __future__ import annotations

import shutil
import struct
from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion

from tests.conftest import example
from tests.diagram_consumers import require
from wio.renderers import render

EXAMPLES = {
    "checkpointing-my_workflow": ("checkpointing", "my_workflow"),
    "checkpointing-checkpointed": ("checkpointing", "checkpointed"),
    "checkpointing-recovery": ("checkpointing", "recovery"),
    "order": ("order", "order_workflow"),
    "evolution_v1": ("evolution_v1", "workflow"),
    "evolution_v2": ("evolution_v2", "workflow"),
    "approval": ("approval", "workflow"),
    "drafts": ("drafts", "workflow"),
    "fulfilment": ("fulfilment", "workflow"),
    "packing": ("packing", "workflow"),
    "onboarding": ("onboarding", "workflow"),
    "booking": ("booking", "workflow"),
}
TEXT_FORMATS = ["mermaid", "bpmn", "dot", "json", "text"]


def workflow(name: str) -> Any:
    module, attribute = EXAMPLES[name]
    found = getattr(example(module), attribute)
    return getattr(found, "wio", found)  # a wio.Workflow renders as its WIO


@pytest.mark.parametrize("technical", [False, True], ids=["plain", "technical"])
@pytest.mark.parametrize("fmt", TEXT_FORMATS)
@pytest.mark.parametrize("name", list(EXAMPLES))
def test_text_formats(name: str, fmt: str, technical: bool, snapshot: SnapshotAssertion) -> None:
    assert render(workflow(name), fmt, show_technical=technical, name=name) == snapshot


@pytest.mark.parametrize("technical", [False, True], ids=["plain", "technical"])
@pytest.mark.parametrize("name", list(EXAMPLES))
def test_pictures(name: str, technical: bool, snapshot: SnapshotAssertion) -> None:
    require("Graphviz", shutil.which("dot") is not None, "apt-get install graphviz")
    svg = render(workflow(name), "svg", show_technical=technical, name=name)
    png = render(workflow(name), "png", show_technical=technical, name=name)
    assert isinstance(svg, str) and isinstance(png, bytes)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    # The PNG's pixels depend on font rendering; its size is what we snapshot.
    width, height = struct.unpack(">II", png[16:24])
    assert {"svg": svg, "png": {"width": width, "height": height}} == snapshot
