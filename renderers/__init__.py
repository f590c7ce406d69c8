"""Renderers: a workflow's model drawn as Mermaid, BPMN 2.0, Graphviz or a text tree.

Renderers work on the model (`wio.model`), never on the runtime. Technical
nodes (checkpoint, recovery) follow the user's rule: BPMN never shows them
(a checkpoint shows its base); the others show them only with
``show_technical=True``. Given an instance's `Marks`, every format marks the
nodes it ran, where it waits now and what failed. A `Workflow` with a cleanup flow
(``on_cancel``) is drawn with it, beside its main flow (BPMN: an event subprocess).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from wio import model
from wio.algebra import WIO
from wio.definition import Workflow
from wio.errors import WioError
from wio.paths import Path
from wio.progress import StepRecord

from .bpmn import BPMN_TARGETS, BpmnTarget, render_bpmn
from .flow import build_flow
from .graphviz import GraphvizMissing, draw, render_dot
from .marks import Marks
from .mermaid import MAX_EDGES, ChartTooLarge, render_mermaid
from .text import render_text

__all__ = [
    "BPMN_TARGETS",
    "FORMATS",
    "MAX_EDGES",
    "ChartTooLarge",
    "GraphvizMissing",
    "UnknownFormat",
    "Marks",
    "executed_paths",
    "render",
    "render_bpmn",
    "render_dot",
    "render_mermaid",
    "render_text",
]

FORMATS = ("mermaid", "bpmn", "dot", "svg", "png", "json", "text")


class UnknownFormat(WioError):
    """Raised by `render` when asked for a format that is not one of `FORMATS`,
    or for a BPMN target that is not one of `BPMN_TARGETS`."""


def executed_paths(progress: Iterable[StepRecord]) -> set[Path]:
    """The model paths of the nodes an instance ran, from its progress."""
    return {record.path for record in progress}


def render(
    workflow: WIO[Any, Any, Any] | Workflow[Any, Any, Any] | model.Model,
    format: str,
    *,
    show_technical: bool = False,
    executed: Collection[Path] = (),
    marks: Marks | None = None,
    name: str = "Workflow",
    bpmn_target: BpmnTarget = "spiffworkflow",
) -> str | bytes:
    """``workflow`` in ``format`` (one of `FORMATS`); SVG and PNG need Graphviz's ``dot``.
    A `Workflow` is drawn with its cleanup flow, if it declares one.

    ``marks`` (``Marks.of(instance)``), or only the ``executed`` paths, show an
    instance's progress: what ran, where it waits now, and what failed.
    ``bpmn_target`` (one of `BPMN_TARGETS`) is the engine BPMN's expressions are
    written for: ``"camunda8"`` for Camunda Modeler and Zeebe."""
    marks = marks if marks is not None else Marks.from_paths(executed)
    root = model.to_model(workflow) if isinstance(workflow, WIO | Workflow) else workflow
    if format == "json":
        return model.to_json(root)
    if format == "bpmn":
        if bpmn_target not in BPMN_TARGETS:
            raise UnknownFormat(
                f"unknown BPMN target {bpmn_target!r}: expected one of {', '.join(BPMN_TARGETS)}"
            )
        return render_bpmn(root, name=name, marks=marks, target=bpmn_target)
    if format == "text":
        return render_text(root, show_technical=show_technical, marks=marks)
    flow = build_flow(root, show_technical=show_technical, marks=marks)
    if format == "mermaid":
        return render_mermaid(flow)
    graph = render_dot(flow, name=name)
    if format == "dot":
        return str(graph.source)
    if format in ("svg", "png"):
        picture = draw(graph, format)
        return picture.decode() if format == "svg" else picture
    raise UnknownFormat(f"unknown format {format!r}: expected one of {', '.join(FORMATS)}")
