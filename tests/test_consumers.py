"""Every diagram we emit, checked by the real tools that consume it.

BPMN: the OMG XSD (lxml and xmlschema), bpmn-moddle with no warnings,
bpmnlint's recommended rules, bpmn-js importing and drawing it without
overlaps, a layout audit in bpmn-js, and SpiffWorkflow parsing it with its
XSD validator, building the process and running it to completion down every
branch of every fork; its Camunda 8 flavour, Camunda's own lint rules.
Mermaid: Mermaid's parser, and Mermaid drawing it in Chromium with every
name shown as written. DOT: Graphviz's dot without a warning.
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import example
from tests.diagram_consumers import node, require, require_chromium, spiff_run, xsd_problems
from tests.diagram_workflows import (
    HOSTILE,
    approval_signal,
    compensated,
    degenerate,
    errors_named_alike,
    evolved,
    for_each,
    hostile,
    interrupted,
    long_names,
    looping,
    nested_at_random,
    parallel,
    routing,
    timed,
    tracked,
)
from tests.harness import review
from wio import Runtime
from wio.renderers import executed_paths, render
from wio.renderers.bpmn import job_type

pytestmark = pytest.mark.consumers

BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"


def workflows() -> dict[str, Any]:
    checkpointing = example("checkpointing")
    return {
        "checkpointing-my_workflow": checkpointing.my_workflow,
        "checkpointing-checkpointed": checkpointing.checkpointed,
        "checkpointing-recovery": checkpointing.recovery,
        "order": example("order").order_workflow,
        "evolution_v1": example("evolution_v1").workflow,
        "evolution_v2": example("evolution_v2").workflow,
        "approval": example("approval").workflow.wio,
        "drafts": example("drafts").workflow,
        "routing": routing(),
        "hostile": hostile(),
        "review": review.workflow.wio,
        "timed": timed(),
        "looping": looping(),
        "interrupted": interrupted(),
        "fulfilment": example("fulfilment").workflow.wio,
        "parallel": parallel(),
        "packing": example("packing").workflow.wio,
        "for_each": for_each(),
        "onboarding": example("onboarding").workflow.wio,
        "booking": example("booking").workflow.wio,
        "payouts": example("payouts").workflow.wio,
        "errors_named_alike": errors_named_alike(),
        "compensated": compensated(),
        "evolved": evolved(),
        "long_names": long_names(),
        "tracked": tracked(approval_signal()),
        "shop": example("shop").workflow,  # with a cleanup flow: an event subprocess
        **degenerate(),
    }


@pytest.fixture(scope="module")
def bpmn_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("bpmn")
    files = []
    for name, workflow in workflows().items():
        path = folder / f"{name}.bpmn"
        path.write_text(str(render(workflow, "bpmn", name=name)))
        files.append(path)
    return files


def test_bpmn_is_valid_against_the_omg_xsd(bpmn_files: list[Path]) -> None:
    for path in bpmn_files:
        assert xsd_problems(path) == [], path.name


def test_bpmn_loads_in_bpmn_moddle_and_passes_bpmnlint(bpmn_files: list[Path]) -> None:
    for result in node("lint_bpmn.mjs", bpmn_files):
        assert result["error"] is None, result
        assert result["warnings"] == [], result  # bpmn-moddle warns, never fails
        assert result["reports"] == [], result


def test_bpmn_imports_and_draws_in_bpmn_js_without_overlaps(bpmn_files: list[Path]) -> None:
    require_chromium()
    for result in node("draw_bpmn.mjs", bpmn_files):
        assert result["error"] is None, result
        assert result["warnings"] == [] and result["pageErrors"] == [], result
        assert result["drawn"] > 0 and result["overlaps"] == [], result


def test_bpmn_layout_audit_in_bpmn_js_finds_nothing_to_trip_over(bpmn_files: list[Path]) -> None:
    """Shape overlaps, labels crossed by flows or covering shapes, text outside its
    shape, default markers on shared segments, flows through shapes: none."""
    require_chromium()
    for result in node("audit_bpmn.mjs", bpmn_files):
        assert result["error"] is None, result
        assert result["problems"] == [], result


def test_bpmn_of_workflows_nested_at_random_is_clean_and_laid_out(tmp_path: Path) -> None:
    """Forty workflows no one drew by hand, in both flavours: bpmnlint, Camunda's
    rules and the layout audit find nothing, Mermaid parses their charts and
    Graphviz draws them without a warning."""
    require_chromium()
    files, camunda, charts = [], [], []
    for seed in range(40):
        workflow = nested_at_random(seed, depth=3 + seed % 2)
        files.append(tmp_path / f"random-{seed}.bpmn")
        files[-1].write_text(str(render(workflow, "bpmn")))
        camunda.append(tmp_path / f"random-{seed}-camunda8.bpmn")
        camunda[-1].write_text(str(render(workflow, "bpmn", bpmn_target="camunda8")))
        charts.append(tmp_path / f"random-{seed}.mmd")
        charts[-1].write_text(str(render(workflow, "mermaid")))
    for result in node("lint_bpmn.mjs", files):
        assert result["error"] is None and result["warnings"] == [] and result["reports"] == []
    for result in node("lint_camunda.mjs", camunda, CAMUNDA="8.8"):
        assert result["error"] is None and result["reports"] == [], result
    for result in node("audit_bpmn.mjs", files):
        assert result["error"] is None and result["problems"] == [], result
    for result in node("parse_mermaid.mjs", charts):
        assert result["error"] is None, result
    require("Graphviz", shutil.which("dot") is not None, "apt-get install graphviz")
    for seed in range(0, 40, 4):
        source = tmp_path / f"random-{seed}.dot"
        source.write_text(str(render(nested_at_random(seed, depth=3 + seed % 2), "dot")))
        done = subprocess.run(["dot", "-Tsvg", str(source)], capture_output=True, text=True)
        assert done.returncode == 0 and done.stderr == "", (seed, done.stderr)


def forks(path: Path) -> dict[str, dict[str, str]]:
    """Each diverging gateway's variable -> {branch name: first element}, from the XML."""
    root = ET.parse(path).getroot()
    flows = {f.get("id"): f for f in root.iter(f"{BPMN}sequenceFlow")}
    found: dict[str, dict[str, str]] = {}
    for gateway in root.iter(f"{BPMN}exclusiveGateway"):
        if not gateway.get("id", "").startswith("Gateway_"):
            continue  # a converging gateway
        outgoing = [flows[o.text] for o in gateway.iter(f"{BPMN}outgoing")]
        variable = "route_" + gateway.get("id", "").removeprefix("Gateway_")
        found[variable] = {f.get("name", ""): f.get("targetRef", "") for f in outgoing}
    return found


# Diagrams with a construct SpiffWorkflow does not implement (see docs/renderers/bpmn.md).
NOT_IN_SPIFF = {"booking.bpmn": "compensation events"}


def test_spiffworkflow_refuses_only_what_it_does_not_implement(bpmn_files: list[Path]) -> None:
    """If SpiffWorkflow learns a construct, this fails: run that diagram again."""
    for path in bpmn_files:
        if path.name in NOT_IN_SPIFF:
            with pytest.raises(Exception, match="Unsupported Catch Event"):
                spiff_run(path, {})


def called_processes(path: Path) -> list[Path]:
    """The child workflows the diagram at ``path`` calls, each drawn as a process of its
    own, with the id its call activity calls (the child workflow's name)."""
    called = []
    for child in CALLED.get(path.name, []):
        drawn = str(render(child.wio, "bpmn", name=child.name))
        other = path.with_name(f"{path.stem}.{child.name}.called.bpmn")
        other.write_text(drawn.replace('"Process_1"', f'"{child.name}"'))
        called.append(other)
    return called


# The child workflows each diagram's call activities call, by file name.
CALLED = {"payouts.bpmn": [example("payouts").payout]}


def test_spiffworkflow_runs_a_call_activity_to_completion(bpmn_files: list[Path]) -> None:
    (path,) = [p for p in bpmn_files if p.name == "payouts.bpmn"]
    ran = spiff_run(path, {}, called_processes(path))
    assert ran.count("Call_0") == 2  # once per element
    assert ran.count("Task_root") == 2  # the called process's "Transfer" step, run in each
    assert "EndEvent" in ran


def test_spiffworkflow_runs_every_branch_of_every_fork(bpmn_files: list[Path]) -> None:
    for path in bpmn_files:
        if path.name in NOT_IN_SPIFF:
            continue
        routes = forks(path)
        taken: set[tuple[str, str]] = set()
        # Every combination of branch choices, each fed as process data.
        for choice in itertools.product(*(list(b) for b in routes.values())):
            data = dict(zip(routes, choice, strict=True))
            ran = spiff_run(path, data, called_processes(path))
            assert ran[0] == "StartEvent", path.name
            for variable, branch in data.items():
                if routes[variable][branch] in ran:
                    taken.add((variable, branch))
        expected = {(v, b) for v, branches in routes.items() for b in branches}
        assert taken == expected, path.name
    assert any(forks(p) for p in bpmn_files)  # the forks were really exercised


def mermaid_files(folder: Path) -> list[Path]:
    files = []
    for name, workflow in workflows().items():
        for technical in (False, True):
            path = folder / f"{name}{'-technical' if technical else ''}.mmd"
            path.write_text(str(render(workflow, "mermaid", show_technical=technical)))
            files.append(path)
    order = example("order")
    instance = Runtime(order.order_workflow).create("A", order.Order("A", "a@x", 10, ("pen",)))
    instance.advance()
    progress = folder / "order-progress.mmd"
    executed = executed_paths(instance.progress)
    progress.write_text(str(render(order.order_workflow, "mermaid", executed=executed)))
    return [*files, progress]


def test_every_mermaid_chart_parses(tmp_path: Path) -> None:
    for result in node("parse_mermaid.mjs", mermaid_files(tmp_path)):
        assert result["error"] is None, result
        assert result["type"] == "flowchart-v2", result


def test_mermaid_draws_hostile_names_as_written(tmp_path: Path) -> None:
    require_chromium()
    path = tmp_path / "hostile.mmd"
    path.write_text(str(render(hostile(), "mermaid", show_technical=True)))
    (result,) = node("render_mermaid.mjs", [path])
    assert result["error"] is None, result
    # Names are drawn; descriptions are not (the hostile workflow's Unicode one).
    for name in HOSTILE[:5] + HOSTILE[7:]:
        # A word joiner (invisible) keeps Mermaid's placeholder pairs from being decoded.
        assert name in result["text"].replace("\u2060", ""), name
    assert "State Recovery" in result["text"] and "Checkpoint" in result["text"]


def test_graphviz_draws_every_workflow_without_warnings(tmp_path: Path) -> None:
    require("Graphviz", shutil.which("dot") is not None, "apt-get install graphviz")
    for name, workflow in workflows().items():
        for technical in (False, True):
            source = tmp_path / f"{name}.dot"
            source.write_text(str(render(workflow, "dot", show_technical=technical)))
            done = subprocess.run(
                ["dot", "-Tsvg", str(source)], capture_output=True, text=True, timeout=60
            )
            assert done.returncode == 0 and done.stderr == "", (name, done.stderr)
            assert "<svg" in done.stdout
    # Names are drawn as written, not read as HTML-like labels or escapes.
    source.write_text(str(render(hostile(), "dot")))
    svg = subprocess.run(["dot", "-Tsvg", str(source)], capture_output=True, text=True).stdout
    shown = {t.text for t in ET.fromstring(svg).iter("{http://www.w3.org/2000/svg}text")}
    for name in HOSTILE[:5] + HOSTILE[7:]:
        assert name in shown, name


ZEEBE = "{http://camunda.org/schema/zeebe/1.0}"


def test_the_camunda8_flavour_passes_camunda_compat_on_every_workflow(tmp_path: Path) -> None:
    """What Camunda Modeler checks before deploying to Zeebe (8.8), the OMG XSD
    and bpmnlint's recommended rules, on every example and test workflow."""
    files, plain = [], []
    for name, workflow in workflows().items():
        files.append(tmp_path / f"{name}.bpmn")
        files[-1].write_text(str(render(workflow, "bpmn", name=name, bpmn_target="camunda8")))
        plain.append(tmp_path / f"{name}-plain.bpmn")
        plain[-1].write_text(str(render(workflow, "bpmn", name=name)))
    for result in node("lint_camunda.mjs", files, CAMUNDA="8.8"):
        assert result["error"] is None and result["warnings"] == [], result
        assert result["reports"] == [], result
    for result in node("lint_bpmn.mjs", files):
        assert result["error"] is None and result["warnings"] == [] and result["reports"] == []
    for path in files:
        assert xsd_problems(path) == [], path.name
        root = ET.parse(path).getroot()
        for task in root.iter(f"{BPMN}serviceTask"):
            (definition,) = task.iter(f"{ZEEBE}taskDefinition")
            assert definition.get("type") == job_type(task.get("name", "")), path.name
    # The default flavour (SpiffWorkflow's Python) is what Zeebe cannot take.
    refused = [r for r in node("lint_camunda.mjs", plain, CAMUNDA="8.8") if r["reports"]]
    assert {r["file"] for r in refused} >= {str(tmp_path / "order-plain.bpmn")}
    assert len(refused) > len(plain) // 2


def test_job_types_come_from_step_names() -> None:
    assert job_type("Charge Payment") == "charge-payment"
    assert job_type("#1 priority; a|b & c") == "1-priority-a-b-c"
    assert job_type("日本語 — ok") == "日本語-ok"
    assert job_type("!!!") == "step"


def test_camunda8_for_each_iterates_its_elements_and_compensation_needs_8_5(
    tmp_path: Path,
) -> None:
    """Zeebe reads no loop cardinality: a for-each section runs one instance per
    item of the ``elements_<path>`` collection. Compensation boundary events are
    Camunda 8.5's: older versions refuse exactly those (docs/renderers/bpmn.md)."""
    packing = ET.fromstring(
        str(render(example("packing").workflow.wio, "bpmn", bpmn_target="camunda8"))
    )
    (multi,) = packing.iter(f"{BPMN}multiInstanceLoopCharacteristics")
    assert list(multi.iter(f"{BPMN}loopCardinality")) == []
    (loop,) = multi.iter(f"{ZEEBE}loopCharacteristics")
    section = multi.get("id", "").removeprefix("MultiInstance_")
    assert loop.get("inputCollection") == f"=elements_{section}"
    assert loop.get("inputElement") == f"element_{section}"
    booking = tmp_path / "booking.bpmn"
    booking.write_text(str(render(example("booking").workflow.wio, "bpmn", bpmn_target="camunda8")))
    (old,) = node("lint_camunda.mjs", [booking], CAMUNDA="8.4")
    assert old["reports"] and all(r["id"].startswith("Compensation_") for r in old["reports"])
    assert all("8.5 or newer" in r["message"] for r in old["reports"])
    (new,) = node("lint_camunda.mjs", [booking], CAMUNDA="8.5")
    assert new["reports"] == [] and new["error"] is None


def test_the_cleanup_flow_is_an_event_subprocess_the_consumers_run_and_draw(
    bpmn_files: list[Path], tmp_path: Path
) -> None:
    """The shop's cleanup: SpiffWorkflow, sent the ``wio.Cancelled`` signal while the
    order waits out its cooling-off period, runs the cleanup to its end (SpiffWorkflow
    3.x does not interrupt the main flow for it, as docs/renderers/bpmn.md says);
    bpmn-js draws the event subprocess and everything in it."""
    (path,) = [p for p in bpmn_files if p.name == "shop.bpmn"]
    root = ET.parse(path).getroot()
    (sub,) = [s for s in root.iter(f"{BPMN}subProcess") if s.get("triggeredByEvent") == "true"]
    (start,) = sub.iter(f"{BPMN}startEvent")
    assert (sub.get("name"), start.get("name"), start.get("isInterrupting")) == (
        "On cancel", "Cancelled", "true"
    )  # fmt: skip
    assert "CancelledStartEvent" not in spiff_run(path, {})  # not cancelled: no cleanup
    ran = spiff_run(path, {}, send=["wio.Cancelled"])
    assert ran[-4:] == ["CancelledStartEvent", "Task_c_0", "Task_c_1", "CleanupEndEvent"]
    require_chromium()
    (drawn,) = node("draw_bpmn.mjs", [path], OUT_DIR=str(tmp_path))
    assert drawn["error"] is None and drawn["overlaps"] == [], drawn
    svg = (tmp_path / "shop.svg").read_text()
    for element in ("CleanupSubProcess", "CancelledStartEvent", "Task_c_1", "CleanupEndEvent"):
        assert f'data-element-id="{element}"' in svg, element
