"""The pictures say what the workflow does, as their consumers show them (issue 16).

Each test reads a diagram the way its consumer does: BPMN through its XML
references and bpmnlint, Mermaid through Mermaid's own parser and its drawing
in Chromium, Graphviz through ``dot``'s layout and drawing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from tests.diagram_consumers import node, require, require_chromium
from tests.diagram_workflows import (
    ERRORS_NAMED_ALIKE,
    HOSTILE,
    compensated,
    degenerate,
    errors_named_alike,
    evolved,
    hostile,
    interrupted,
    parallel,
    raising,
)
from wio import WIO
from wio.renderers import MAX_EDGES, ChartTooLarge, render

BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"


def bpmn(workflow: WIO[Any, Any, Any]) -> ET.Element:
    return ET.fromstring(str(render(workflow, "bpmn")))


def parsed_mermaid(folder: Path, charts: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Each chart as Mermaid's parser understood it."""
    files = []
    for name, chart in charts.items():
        files.append(folder / f"{name}.mmd")
        files[-1].write_text(chart)
    results = node("parse_mermaid.mjs", files)
    for result in results:
        assert result["error"] is None, result
    return {name: result for name, result in zip(charts, results, strict=True)}


def mermaid_links(chart: dict[str, Any]) -> set[tuple[str, str, str]]:
    """The dotted links, as (source text, link text, target text)."""
    text = {id_: v["text"] for id_, v in chart["vertices"].items()}
    text |= {s["id"]: s["title"] for s in chart["subgraphs"]}
    return {
        (text[e["start"]], e["text"], text[e["end"]])
        for e in chart["edges"]
        if e["stroke"] == "dotted"
    }


def dot_layout(workflow: WIO[Any, Any, Any], folder: Path) -> dict[str, Any]:
    """Graphviz's own reading of the DOT source: ``dot -Tjson``."""
    require("Graphviz", shutil.which("dot") is not None, "apt-get install graphviz")
    source = folder / "chart.dot"
    source.write_text(str(render(workflow, "dot")))
    done = subprocess.run(
        ["dot", "-Tjson", str(source)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr
    layout: dict[str, Any] = json.loads(done.stdout)
    return layout


def dot_links(layout: dict[str, Any]) -> set[tuple[str, str, str]]:
    objects = layout["objects"]
    return {
        (objects[e["tail"]]["label"], e.get("label", ""), objects[e["head"]]["label"])
        for e in layout["edges"]
        if e.get("style") == "dashed"
    }


# -- 1. BPMN error ids and codes ------------------------------------------------------


def test_bpmn_errors_keep_their_real_names_as_codes_under_distinct_ids() -> None:
    root = bpmn(errors_named_alike())
    declared = {e.get("id"): e.get("errorCode") for e in root.iter(f"{BPMN}error")}
    assert sorted(declared.values()) == sorted(ERRORS_NAMED_ALIKE)  # four, none merged
    assert all(e.get("name") == e.get("errorCode") for e in root.iter(f"{BPMN}error"))
    # Each subprocess catches exactly the codes its own steps raise.
    caught: dict[str, set[str | None]] = {}
    for boundary in root.iter(f"{BPMN}boundaryEvent"):
        definition = boundary.find(f"{BPMN}errorEventDefinition")
        assert definition is not None
        code = declared[definition.get("errorRef")]
        assert boundary.get("name") == code
        caught.setdefault(boundary.get("attachedToRef", ""), set()).add(code)
    assert list(caught.values()) == [{"Ошибка", "Провал"}, {"Pay-Error", "Pay_Error"}]
    # Ids depend on the name only: a workflow with one of the errors agrees.
    only = type("Pay-Error", (), {})
    alone = bpmn(raising("Pay", only).handle_error_with(WIO.pure(0).named("Refund")))
    (error,) = alone.iter(f"{BPMN}error")
    assert declared[error.get("id")] == "Pay-Error"


# -- 2. one catch per error -------------------------------------------------------------


def test_a_handler_of_several_errors_catches_each_by_its_own_code() -> None:
    root = bpmn(compensated())
    codes = {e.get("id"): e.get("errorCode") for e in root.iter(f"{BPMN}error")}
    assert not any(" | " in (code or "") for code in codes.values())
    subprocesses = {s.get("id"): s.get("name") for s in root.iter(f"{BPMN}subProcess")}
    by_section: dict[str, set[str | None]] = {}
    for boundary in root.iter(f"{BPMN}boundaryEvent"):
        ref = boundary.find(f"{BPMN}errorEventDefinition").get("errorRef")  # type: ignore[union-attr]
        by_section.setdefault(subprocesses[boundary.get("attachedToRef")], set()).add(codes[ref])
    assert by_section == {
        "Handles OutOfStock": {"OutOfStock"},
        "Handles PayFailed or Rejected": {"PayFailed", "Rejected"},
    }


# -- 3. error links start where the error is raised ----------------------------------


def test_error_links_start_at_the_step_that_raises_and_carry_its_error(tmp_path: Path) -> None:
    expected = {
        ("Reserve", "OutOfStock", "Restock"),
        ("Pay", "PayFailed", "Compensate"),
        ("Approve", "Rejected", "Compensate"),
    }
    charts = parsed_mermaid(tmp_path, {"compensated": str(render(compensated(), "mermaid"))})
    assert mermaid_links(charts["compensated"]) == expected
    assert dot_links(dot_layout(compensated(), tmp_path)) == expected


# -- 4, 5. Mermaid shows names as written -------------------------------------------------


def test_mermaid_draws_directives_and_style_lines_in_names_as_written(tmp_path: Path) -> None:
    require_chromium()
    hostile_chart = tmp_path / "hostile.mmd"
    hostile_chart.write_text(str(render(hostile(), "mermaid", show_technical=True)))
    plain = tmp_path / "plain.mmd"
    plain.write_text(str(render(compensated(), "mermaid")))
    drawn, reference = node("render_mermaid.mjs", [hostile_chart, plain])
    assert drawn["error"] is None, drawn
    # A word joiner (invisible) keeps Mermaid's placeholder pairs from being decoded.
    shown = {label.replace("\u2060", "") for label in drawn["labels"]}
    for name in HOSTILE[:5] + HOSTILE[7:]:
        assert name in shown, name
    # No name switched the chart's theme: nodes are filled as in a plain chart.
    assert drawn["fill"] == reference["fill"]


# -- 6. Graphviz shows names as written -----------------------------------------------------


def test_graphviz_draws_entities_in_names_as_written(tmp_path: Path) -> None:
    dot_layout(hostile(), tmp_path)  # dot reads it without a warning
    source = tmp_path / "chart.dot"
    svg = subprocess.run(["dot", "-Tsvg", str(source)], capture_output=True, text=True).stdout
    shown = {t.text for t in ET.fromstring(svg).iter("{http://www.w3.org/2000/svg}text")}
    for name in HOSTILE[:5] + HOSTILE[7:]:
        assert name in shown, name


# -- 7. the text tree keeps empty branches ------------------------------------------------


def test_the_text_tree_draws_a_branch_that_only_recovers_as_empty() -> None:
    tree = str(render(degenerate()["six-way-fork"], "text")).splitlines()
    branches = [line for line in tree if line.startswith(("├── B", "└── B"))]
    assert [line.split(":")[0][4:] for line in branches] == [
        "B0", "B1", "B2", "B3", "B4", "B5 (default)",
    ]  # fmt: skip
    assert [line for line in branches if line.endswith("(empty)")] == [
        "├── B1: (empty)", "├── B3: (empty)", "└── B5 (default): (empty)",
    ]  # fmt: skip
    flows = str(render(degenerate()["empty-and-full-flows"], "text"))
    assert "├── A: (empty)" in flows and "└── C: (empty)" in flows


# -- 8. a handler around a recovery, and the links around it -----------------------------


def test_mermaid_links_every_node_once_around_a_recovered_handled_section(tmp_path: Path) -> None:
    charts = parsed_mermaid(
        tmp_path,
        {
            name: str(render(workflow, "mermaid", show_technical=technical))
            for name, workflow in {"evolved": evolved(), "interrupted": interrupted()}.items()
            for technical in (False,)
        },
    )
    for chart in charts.values():
        edges = [(e["start"], e["end"], e["text"]) for e in chart["edges"]]
        assert len(edges) == len(set(edges)), edges  # no link twice
        targets = {end for _, end, _ in edges}
        for id_ in chart["vertices"]:
            if id_ != "start" and not any(id_ == s["id"] for s in chart["subgraphs"]):
                assert id_ in targets, f"{chart['vertices'][id_]['text']} has no incoming link"
    links = mermaid_links(charts["evolved"])
    assert ("Receive", "error", "Refund") in links
    assert [link for link in links if link[1] == "interrupts"] == [
        ("Interrupted by Withdrawal", "interrupts", "Withdrawal")
    ]


# -- 9. degenerate shapes make clean BPMN ----------------------------------------------------


def test_degenerate_shapes_pass_bpmnlint(tmp_path: Path) -> None:
    files = []
    for name, workflow in degenerate().items():
        files.append(tmp_path / f"{name}.bpmn")
        files[-1].write_text(str(render(workflow, "bpmn", name=name)))
    for result in node("lint_bpmn.mjs", files):
        assert result["error"] is None and result["warnings"] == [], result
        assert result["reports"] == [], result


# -- 12. interruptible sections are groups ------------------------------------------------------


def test_an_interruptible_section_is_a_group_its_trigger_is_attached_to(tmp_path: Path) -> None:
    (chart,) = parsed_mermaid(
        tmp_path, {"interrupted": str(render(interrupted(), "mermaid"))}
    ).values()
    groups = {s["id"]: s for s in chart["subgraphs"]}
    assert {g["title"] for g in groups.values()} == {
        "Interrupted by Three Days", "Interrupted by Withdrawal",
    }  # fmt: skip
    interrupts = [e for e in chart["edges"] if e["text"] == "interrupts"]
    assert {
        (groups[e["start"]]["title"], chart["vertices"][e["end"]]["text"]) for e in interrupts
    } == {
        ("Interrupted by Three Days", "Three Days"),
        ("Interrupted by Withdrawal", "Withdrawal"),
    }
    layout = dot_layout(interrupted(), tmp_path)
    clusters = {o["name"]: o.get("label") for o in layout["objects"] if "nodes" in o}
    dotted = [e for e in layout["edges"] if e.get("label") == "interrupts"]
    assert sorted(clusters[e["ltail"]] for e in dotted) == [
        "Interrupted by Three Days", "Interrupted by Withdrawal",
    ]  # fmt: skip


# -- 13. Mermaid's limit --------------------------------------------------------------------------


def test_a_chart_mermaid_would_refuse_is_a_clear_error(tmp_path: Path) -> None:
    require_chromium()
    from wio.renderers.flow import build_flow
    from wio.renderers.mermaid import render_mermaid

    def steps(count: int) -> WIO[Any, Any, Any]:
        return WIO.sequence(*(WIO.pure(n).named(f"Step {n}") for n in range(count)))

    largest = steps(MAX_EDGES - 1)  # start, the steps and the end: MAX_EDGES links
    too_large = steps(MAX_EDGES)
    fits, refused = tmp_path / "fits.mmd", tmp_path / "refused.mmd"
    fits.write_text(str(render(largest, "mermaid")))
    from wio.model import to_model

    refused.write_text(render_mermaid(build_flow(to_model(too_large)), max_edges=None))
    drawn, failed = node("render_mermaid.mjs", [fits, refused])
    assert drawn["error"] is None and "Step 498" in drawn["labels"]
    assert "Edge limit exceeded" in failed["error"]
    with pytest.raises(ChartTooLarge, match=f"501 links, and Mermaid draws at most {MAX_EDGES}"):
        render(too_large, "mermaid")
    # The other formats draw it.
    assert "Step 499" in str(render(too_large, "dot"))


def test_every_test_workflow_parses_in_mermaid(tmp_path: Path) -> None:
    workflows = {"hostile": hostile(), "parallel": parallel(), "evolved": evolved(), **degenerate()}
    charts = {
        f"{name}-{technical}": str(render(w, "mermaid", show_technical=technical))
        for name, w in workflows.items()
        for technical in (False, True)
    }
    parsed_mermaid(tmp_path, charts)
