"""An instance's progress on its diagram: what ran, where it waits now, what failed.

A real instance runs (in a SQLite journal file) to a signal it waits for in a
parallel flow, then to its end; another fails its first step. Every format
marks each node with its own class or colour, read back through its consumer:
Mermaid's parser, Graphviz's ``dot -Tjson``, the text tree, and BPMN's DI
colours (bpmnlint and bpmn-js accept them).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, example
from tests.diagram_consumers import node, require, require_chromium
from tests.diagram_workflows import approval_signal, tracked
from tests.nodes import Effects, Ev
from wio import WIO, InstanceStatus, ManualClock, Runtime, Workflow
from wio.journal import open_journal
from wio.operations import cancel
from wio.renderers import Marks, render
from wio.worker import Worker


@pytest.fixture(scope="module")
def instances(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    signal = approval_signal()
    workflow = tracked(signal)
    url = f"sqlite:///{tmp_path_factory.mktemp('journal') / 'j.db'}"
    runtime = Runtime(Workflow(workflow, name="tracked", input_type=int), journal=url)
    waiting = runtime.create("waiting", 0)
    waiting.advance()
    mid = Marks.of(waiting)
    waiting.signal(signal, 5)
    waiting.advance()
    failed = runtime.create("failed", -5)
    failed.advance()
    return {"workflow": workflow, "mid": mid, "done": Marks.of(waiting), "failed": Marks.of(failed)}


def mermaid_classes(instances: dict[str, Any], folder: Path) -> dict[str, dict[str, str]]:
    """Per instance: each node's text -> its class, as Mermaid's parser reads the chart."""
    files = []
    for name in ("mid", "done", "failed"):
        files.append(folder / f"{name}.mmd")
        files[-1].write_text(str(render(instances["workflow"], "mermaid", marks=instances[name])))
    found = {}
    for name, result in zip(
        ("mid", "done", "failed"), node("parse_mermaid.mjs", files), strict=True
    ):
        assert result["error"] is None, result
        found[name] = {
            f"{id_}:{v['text']}": (v["classes"] or [""])[0] for id_, v in result["vertices"].items()
        }
    return found


def test_mermaid_marks_executed_waiting_and_failed_nodes(
    instances: dict[str, Any], tmp_path: Path
) -> None:
    classes = mermaid_classes(instances, tmp_path)
    assert classes["mid"] == {
        "start:Start": "executed", "n0:Receive": "executed", "n1_0:Poll": "executed",
        "n1:Ready?": "executed",  # the loop decided, twice, to go round
        "n2:n2": "executed",  # the fork bar: the flows started
        "n2_0:Pack": "executed", "n2_1:Await Approval": "waiting",
        "n2_join:n2_join": "", "n3:Ship": "", "finish:End": "",
    }  # fmt: skip
    assert set(classes["done"].values()) == {"executed"}  # the join and the end too
    assert classes["failed"]["n0:Receive"] == "failed"
    assert "waiting" not in classes["failed"].values()


def test_graphviz_marks_each_state_with_its_class(
    instances: dict[str, Any], tmp_path: Path
) -> None:
    require("Graphviz", shutil.which("dot") is not None, "apt-get install graphviz")
    source = tmp_path / "mid.dot"
    source.write_text(str(render(instances["workflow"], "dot", marks=instances["mid"])))
    done = subprocess.run(["dot", "-Tjson", str(source)], capture_output=True, text=True)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    nodes = {
        o["name"]: o.get("class") for o in json.loads(done.stdout)["objects"] if "nodes" not in o
    }
    assert nodes["n2_1"] == "waiting" and nodes["n1"] == "executed" and nodes["n3"] is None


def test_the_text_tree_marks_containers_by_what_is_inside(instances: dict[str, Any]) -> None:
    tree = str(render(instances["workflow"], "text", marks=instances["mid"]))
    assert tree.splitlines()[0] == "[>] Sequence"
    assert "├── [x] Loop 'Ready?'" in tree and "├── [>] Parallel 'Prepare'" in tree
    assert "└── Approval: [>] HandleSignal 'Await Approval'" in tree
    assert "└── [ ] RunIO 'Ship'" in tree
    done = str(render(instances["workflow"], "text", marks=instances["done"]))
    assert "[ ]" not in done and "[>]" not in done
    failed = str(render(instances["workflow"], "text", marks=instances["failed"]))
    assert "├── [!] RunIO 'Receive'" in failed and failed.startswith("[!] Sequence")


def test_bpmn_colours_each_state_and_its_consumers_accept_them(
    instances: dict[str, Any], tmp_path: Path
) -> None:
    di = "{http://www.omg.org/spec/BPMN/20100524/DI}BPMNShape"
    bioc = "{http://bpmn.io/schema/bpmn/biocolor/1.0}fill"
    files = []
    fills: dict[str, dict[str, str | None]] = {}
    for name in ("mid", "done", "failed"):
        xml = str(render(instances["workflow"], "bpmn", marks=instances[name]))
        files.append(tmp_path / f"{name}.bpmn")
        files[-1].write_text(xml)
        fills[name] = {s.get("bpmnElement", ""): s.get(bioc) for s in ET.fromstring(xml).iter(di)}
    executed, waiting, failed = "#d4edda", "#fff3cd", "#f8d7da"
    mid = fills["mid"]
    assert mid["Task_0"] == executed and mid["Loop_1"] == executed == mid["LoopJoin_1"]
    assert mid["Gateway_2"] == executed and mid["Signal_2_1"] == waiting
    assert mid["Join_2"] is None and mid["Task_3"] is None and mid["EndEvent"] is None
    assert fills["done"]["Join_2"] == executed and fills["done"]["EndEvent"] == executed
    assert fills["failed"]["Task_0"] == failed
    for result in node("lint_bpmn.mjs", files):
        assert result["error"] is None and result["warnings"] == [] and result["reports"] == []
    require_chromium()
    drawn = tmp_path / "drawn"
    drawn.mkdir()
    for result in node("draw_bpmn.mjs", files, OUT_DIR=str(drawn)):
        assert result["error"] is None and result["warnings"] == [], result
    # bpmn-js draws the colours: the waiting review amber, the failed step red.
    amber, red = "fill: rgb(255, 243, 205)", "fill: rgb(248, 215, 218)"  # #fff3cd, #f8d7da
    assert amber in (drawn / "mid.svg").read_text()
    assert red in (drawn / "failed.svg").read_text()
    assert amber not in (drawn / "done.svg").read_text()


def test_a_step_whose_code_raises_is_marked_failed_where_the_instance_is_stuck() -> None:
    def unreachable_service(x: int) -> Ev:
        raise ConnectionError("the service is down")

    workflow = WIO.pure_from(lambda x: x).named("Prepare") >> WIO.run(
        unreachable_service, lambda x, ev: ev.value, event=Ev
    ).named("Call Service")
    instance = Runtime(workflow).create("stuck", 1)
    instance.advance()
    assert instance.failed_at == ((1,),)
    marks = Marks.of(instance)
    chart = str(render(workflow, "mermaid", marks=marks))
    assert chart.splitlines()[-2:] == [
        "    classDef failed fill:#f8d7da,stroke:#a71d2a,stroke-width:3px",
        "    class n1 failed",
    ]
    assert "└── [!] RunIO 'Call Service'" in str(render(workflow, "text", marks=marks))


def test_bpmn_marks_the_boundary_event_that_caught_the_error(order: Any) -> None:
    declined = Runtime(order.order_workflow).create("B", order.Order("B", "b@x", 10**9, ("piano",)))
    declined.advance()  # the payment is declined, the order cancelled
    xml = str(render(order.order_workflow, "bpmn", marks=Marks.of(declined)))
    di = "{http://www.omg.org/spec/BPMN/20100524/DI}BPMNShape"
    bioc = "{http://bpmn.io/schema/bpmn/biocolor/1.0}fill"
    fills = {s.get("bpmnElement"): s.get(bioc) for s in ET.fromstring(xml).iter(di)}
    assert fills["Task_1_0_0"] == "#f8d7da"  # Charge Payment: failed
    assert fills["Boundary_1"] == fills["Task_1_1"] == fills["EndEvent"] == "#d4edda"
    assert fills["Task_1_0_1"] is None  # Send Email never ran
    # Without a caught error, no boundary event is marked.
    paid = Runtime(order.order_workflow).create("A", order.Order("A", "a@x", 10, ("pen",)))
    paid.advance()
    xml = str(render(order.order_workflow, "bpmn", marks=Marks.of(paid)))
    fills = {s.get("bpmnElement"): s.get(bioc) for s in ET.fromstring(xml).iter(di)}
    assert fills["Boundary_1"] is None and fills["Task_1_0_2"] == "#d4edda"


def test_the_text_tree_marks_an_empty_branch_where_the_instance_waits_to_recover() -> None:
    from tests.nodes import Saved, restore

    workflow = (
        WIO.fork("Migrated?")
        .branch("Yes", lambda x: True, WIO.recover(restore))
        .otherwise("No", WIO.pure(0).named("Start Over"))
    )
    instance = Runtime(workflow).create("v2", 1)
    instance.advance()  # waits for the recovery event the old version recorded
    assert instance.waiting_at == ((0,),)
    tree = str(render(workflow, "text", marks=Marks.of(instance)))
    assert "├── Yes: [>] (empty)" in tree and "└── No (default): [ ] Pure 'Start Over'" in tree
    instance.deliver(Saved(5))
    assert "├── Yes: [x] (empty)" in str(render(workflow, "text", marks=Marks.of(instance)))


def test_compensation_marks_the_undos_that_ran_in_every_format() -> None:
    """The car fails: the hotel's and the flight's undos ran, the car's did not.
    The compensating section's and the handled section's "Done" events were
    never reached, though both sections have a record."""
    booking = example("booking")
    booking.cities_without_cars.add("Rome")
    trip = Runtime(booking.workflow).create("t-1", booking.Trip("t-1", "Rome"))
    trip.advance()
    marks = Marks.of(trip)
    wio = booking.workflow.wio
    xml = str(render(wio, "bpmn", marks=marks))
    di = "{http://www.omg.org/spec/BPMN/20100524/DI}BPMNShape"
    bioc = "{http://bpmn.io/schema/bpmn/biocolor/1.0}fill"
    fills = {s.get("bpmnElement"): s.get(bioc) for s in ET.fromstring(xml).iter(di)}
    executed, failed = "#d4edda", "#f8d7da"
    assert fills["Undo_0_0_0"] == fills["Undo_0_0_1"] == executed  # Cancel Flight, Hotel
    assert fills["Task_0_0_2_0"] == failed and fills["Undo_0_0_2"] is None  # the car
    assert fills["End_0"] is None and fills["End_root"] is None  # no "Done" reached
    assert fills["Boundary_root"] == fills["EndEvent"] == executed
    chart = str(render(wio, "mermaid", marks=marks)).splitlines()
    assert "    class start,n0_0_0_0,n0_0_0_1,n0_0_1_0,n0_0_1_1,n1,finish executed" in chart
    assert "    class n0_0_2_0 failed" in chart
    dot = str(render(wio, "dot", marks=marks))
    nodes = [line for line in dot.splitlines() if " [label=" in line and "->" not in line]
    marked = {line.split()[0]: line for line in nodes}
    assert "class=executed" in marked["n0_0_1_1"] and "class=executed" in marked["n0_0_0_1"]
    assert "class=" not in marked["n0_0_2_1"] and "class=failed" in marked["n0_0_2_0"]
    assert 'style="rounded,filled"' in marked["n0_0_1_1"]  # "filled" once


def fills_of(xml: str) -> dict[str, str | None]:
    di = "{http://www.omg.org/spec/BPMN/20100524/DI}BPMNShape"
    bioc = "{http://bpmn.io/schema/bpmn/biocolor/1.0}fill"
    return {s.get("bpmnElement", ""): s.get(bioc) for s in ET.fromstring(xml).iter(di)}


def mermaid_class_lines(workflow: Any, marks: Marks) -> list[str]:
    return [
        line.strip()
        for line in str(render(workflow, "mermaid", marks=marks)).splitlines()
        if line.strip().startswith("class ")
    ]


def test_waiting_at_a_hidden_recovery_marks_the_element_it_leads_to_in_every_format() -> None:
    """A recovery draws nothing (unless technical nodes are shown): the instance
    waiting there is marked on the step it reaches next, or on the section drawn
    around it, never nowhere."""
    from tests.nodes import Saved, restore

    ship = WIO.pure_from(lambda x: x + 1).named("Ship")
    then = WIO.recover(restore) >> ship
    instance = Runtime(then).create("v2", 1)
    instance.advance()
    assert instance.waiting_at == ((0,),)
    marks = Marks.of(instance)
    assert fills_of(str(render(then, "bpmn", marks=marks)))["Task_1"] == "#fff3cd"
    assert "class n1 waiting" in mermaid_class_lines(then, marks)
    assert "n1 [label=" in (dot := str(render(then, "dot", marks=marks)))
    assert "class=waiting" in next(
        line for line in dot.splitlines() if line.strip().startswith("n1 ")
    )
    assert "└── [>] Pure 'Ship'" in str(render(then, "text", marks=marks))
    # Shown as a technical node, the recovery itself is marked.
    technical = str(render(then, "mermaid", marks=marks, show_technical=True))
    assert "    class n0 waiting" in technical.splitlines()
    instance.deliver(Saved(5))
    assert instance.advance() == InstanceStatus.FINISHED
    assert "waiting" not in str(render(then, "bpmn", marks=Marks.of(instance)))

    # Inside a handled section (v2's shape after replacing a checkpointed one):
    # its subprocess is marked.
    handled = WIO.recover(restore).handle_error_with(WIO.pure(0).named("Start Over"))
    waiting = Runtime(handled).create("h", 1)
    waiting.advance()
    fills = fills_of(str(render(handled, "bpmn", marks=Marks.of(waiting))))
    assert fills["SubProcess_root"] == "#fff3cd"

    # The only content of a fork's branch: the join it leads to.
    fork = (
        WIO.fork("Migrated?")
        .branch("Yes", lambda x: True, WIO.recover(restore))
        .otherwise("No", WIO.pure(0).named("Start Over"))
    )
    forked = Runtime(fork).create("f", 1)
    forked.advance()
    fills = fills_of(str(render(fork, "bpmn", marks=Marks.of(forked))))
    assert fills["Gateway_root"] == "#d4edda" and fills["Join_root"] == "#fff3cd"
    # Mermaid draws no join for a fork: the branch leads to the end.
    assert "class finish waiting" in mermaid_class_lines(fork, Marks.of(forked))


def test_a_subprocess_that_ran_to_its_end_has_its_done_event_marked(order: Any) -> None:
    paid = Runtime(order.order_workflow).create("A", order.Order("A", "a@x", 10, ("pen",)))
    paid.advance()
    fills = fills_of(str(render(order.order_workflow, "bpmn", marks=Marks.of(paid))))
    assert fills["End_1"] == fills["EndEvent"] == "#d4edda"  # the handled section's Done
    declined = Runtime(order.order_workflow).create("B", order.Order("B", "b@x", 10**9, ("p",)))
    declined.advance()  # the payment is declined: the section is left by its error
    fills = fills_of(str(render(order.order_workflow, "bpmn", marks=Marks.of(declined))))
    assert fills["End_1"] is None and fills["Boundary_1"] == "#d4edda"
    # Mid-run, the section not yet left: not reached either.
    booking = example("booking")
    trip = Runtime(booking.workflow).create("t-2", booking.Trip("t-2", "Oslo"))
    trip.advance()
    assert trip.status == InstanceStatus.FINISHED
    fills = fills_of(str(render(booking.workflow.wio, "bpmn", marks=Marks.of(trip))))
    assert fills["End_0"] == fills["End_root"] == "#d4edda"  # compensating, handled: Done


def test_a_loop_round_that_ran_marks_its_subprocess_start_done_and_join() -> None:
    """The approval example waits for its second review: the first round went
    through the interruptible review's subprocess, its Done and its join."""
    import sys

    sys.path.insert(0, str(ROOT / "docs"))
    from make_pictures import approval_progress

    workflow, marks = approval_progress()
    fills = fills_of(str(render(workflow, "bpmn", marks=marks)))
    executed, waiting = "#d4edda", "#fff3cd"
    assert fills["Signal_1_0_0_0"] == waiting  # the second review
    assert fills["Start_1_0_0"] == fills["End_1_0_0"] == fills["Join_1_0_0"] == executed
    assert fills["Loop_1_0"] == fills["Task_1_0_1"] == executed  # Not yet: revised
    assert fills["Task_1_0_0_2"] is None and fills["Task_2"] is None  # Escalate, Publish


def cleanup_shop(effects: Effects) -> Workflow[Any, Any, Any]:
    """A shop whose cleanup flow refunds, waits out a grace period, then tells the customer."""
    return Workflow(
        effects.step("Charge")
        >> WIO.await_for(timedelta(days=14), name="Cooling-off")
        >> effects.step("Ship"),
        name="cleanup-marks",
        input_type=int,
        on_cancel=effects.step("Refund")
        >> WIO.await_for(timedelta(hours=1), name="Grace")
        >> effects.step("Tell"),
    )


@pytest.fixture(scope="module")
def cancelled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A real instance (SQLite journal file, a worker) cancelled in its cooling-off
    period: its marks while its cleanup waits out the grace period, and once done."""
    url = f"sqlite:///{tmp_path_factory.mktemp('cancelled') / 'j.db'}"
    clock, effects = ManualClock(datetime(2026, 1, 1, tzinfo=UTC)), Effects()
    workflow = cleanup_shop(effects)
    journal = open_journal(url)
    Runtime(workflow, journal=journal, clock=clock).create("c-1", 5).advance()
    worker = Worker(journal, [workflow], clock=clock)
    worker.register()  # tells `cancel` that the workflow has a cleanup flow
    cancel(journal, "c-1", "the customer withdrew", now=clock.now())
    worker.run_once()  # the refund, then the grace period's timer
    mid = Runtime(workflow, journal=journal, clock=clock).get("c-1")
    assert mid.status == InstanceStatus.RUNNING and effects.calls == ["Charge", "Refund"]
    clock.advance(2 * 3600)
    worker.run_once()
    done = Runtime(workflow, journal=journal, clock=clock).get("c-1")
    assert done.status == InstanceStatus.CANCELLED
    assert effects.calls == ["Charge", "Refund", "Tell"]
    return {"workflow": workflow, "mid": Marks.of(mid), "done": Marks.of(done)}


def test_a_cancelled_instance_is_marked_in_its_cleanup_flow_in_every_format(
    cancelled: dict[str, Any], tmp_path: Path
) -> None:
    workflow = cancelled["workflow"]
    charts = [tmp_path / "mid.mmd", tmp_path / "done.mmd"]
    for chart, name in zip(charts, ("mid", "done"), strict=True):
        chart.write_text(str(render(workflow, "mermaid", marks=cancelled[name])))
    mid, done = (
        {f"{id_}:{v['text']}": (v["classes"] or [""])[0] for id_, v in result["vertices"].items()}
        for result in node("parse_mermaid.mjs", charts)
    )
    assert mid == {
        "start:Start": "executed", "n0:Charge": "executed",
        "n1:Cooling-off": "", "n2:Ship": "", "finish:End": "",  # cancelled in its cooling-off
        "cancelled:Cancelled": "executed", "nc_0:Refund": "executed", "nc_1:Grace": "waiting",
        "nc_2:Tell": "", "cleaned_up:End": "",
    }  # fmt: skip
    assert done == {
        **mid, "nc_1:Grace": "executed", "nc_2:Tell": "executed", "cleaned_up:End": "executed"
    }  # fmt: skip

    tree = str(render(workflow, "text", marks=cancelled["mid"]))
    assert tree.splitlines()[0] == "[x] Sequence"  # the main flow: what it ran
    assert "on cancel: [>] Sequence" in tree and "├── [>] Timer 'Grace'" in tree
    assert "└── [ ] RunIO 'Tell'" in tree and "└── [ ] RunIO 'Ship'" in tree

    require("Graphviz", shutil.which("dot") is not None, "apt-get install graphviz")
    source = tmp_path / "mid.dot"
    source.write_text(str(render(workflow, "dot", marks=cancelled["mid"])))
    drawn = subprocess.run(["dot", "-Tjson", str(source)], capture_output=True, text=True)
    assert drawn.returncode == 0 and drawn.stderr == "", drawn.stderr
    objects = json.loads(drawn.stdout)["objects"]
    classes = {o["name"]: o.get("class") for o in objects if "nodes" not in o}
    assert classes["nc_0"] == "executed" and classes["nc_1"] == "waiting"
    assert classes["nc_2"] is None and classes["cancelled"] == "executed"
    assert [o["label"] for o in objects if "nodes" in o] == ["On cancel"]

    di = "{http://www.omg.org/spec/BPMN/20100524/DI}BPMNShape"
    bioc = "{http://bpmn.io/schema/bpmn/biocolor/1.0}fill"
    files, fills = [], {}
    for name in ("mid", "done"):
        xml = str(render(workflow, "bpmn", marks=cancelled[name]))
        files.append(tmp_path / f"{name}.bpmn")
        files[-1].write_text(xml)
        fills[name] = {s.get("bpmnElement", ""): s.get(bioc) for s in ET.fromstring(xml).iter(di)}
    executed, waiting = "#d4edda", "#fff3cd"
    assert fills["mid"]["CancelledStartEvent"] == executed == fills["mid"]["Task_c_0"]
    assert fills["mid"]["Timer_c_1"] == waiting and fills["mid"]["Task_2"] is None
    assert fills["mid"]["Task_c_2"] is None is fills["mid"]["CleanupEndEvent"]
    assert fills["done"]["CleanupEndEvent"] == executed == fills["done"]["Task_c_2"]
    assert fills["done"]["EndEvent"] is None  # it was cancelled, never finished
    for result in node("lint_bpmn.mjs", files):
        assert result["error"] is None and result["warnings"] == [] and result["reports"] == []


def test_technical_nodes_in_the_cleanup_flow_follow_the_users_rule() -> None:
    """A checkpoint in the cleanup flow shows only its base unless technical nodes are
    shown, as in the main flow."""
    from tests.nodes import restore, save

    workflow = Workflow(
        WIO.pure(1).named("Main"),
        name="technical-cleanup",
        on_cancel=WIO.pure(2).named("Undo").checkpointed(save, restore),
    )
    plain = str(render(workflow, "mermaid"))
    technical = str(render(workflow, "mermaid", show_technical=True))
    assert "Checkpoint" not in plain and 'nc_0("Undo")' in plain
    assert 'subgraph cpc ["Checkpoint"]' in technical and 'nc_0("Undo")' in technical
    assert "Checkpoint" in str(render(workflow, "text", show_technical=True))
    assert "Checkpoint" not in str(render(workflow, "text", show_technical=False))
