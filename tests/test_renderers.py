"""What the renderers draw: the technical-node rule, progress, escaping, BPMN mapping, CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import ROOT, example
from tests.diagram_workflows import HOSTILE, hostile, routing
from tests.processes import wio
from wio import Runtime
from wio.renderers import UnknownFormat, executed_paths, render
from wio.renderers.mermaid import escape

BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"


def mermaid(workflow: object, **options: object) -> str:
    output = render(workflow, "mermaid", **options)  # type: ignore[arg-type]
    assert isinstance(output, str)
    return output


def bpmn(workflow: object) -> ET.Element:
    output = render(workflow, "bpmn")  # type: ignore[arg-type]
    assert isinstance(output, str)
    return ET.fromstring(output)


# -- the user's rule for technical nodes ------------------------------------------


def test_a_checkpoint_shows_its_base_and_its_frame_only_with_show_technical() -> None:
    checkpointed = example("checkpointing").checkpointed
    hidden = mermaid(checkpointed)
    assert '("My Workflow")' in hidden and "Checkpoint" not in hidden
    shown = mermaid(checkpointed, show_technical=True)
    assert 'subgraph cp ["Checkpoint"]' in shown
    assert "style cp stroke-dasharray: 5 5" in shown
    assert '("My Workflow")' in shown.split("subgraph cp")[1].split("end")[0]


def test_a_recovery_shows_nothing_or_a_state_recovery_hexagon() -> None:
    recovery = example("checkpointing").recovery
    assert mermaid(recovery).splitlines()[1:] == [
        '    start(("Start"))',
        '    finish((("End")))',
        "    start --> finish",
    ]
    assert '{{"State Recovery"}}' in mermaid(recovery, show_technical=True)


@pytest.mark.parametrize("show_technical", [False, True])
def test_bpmn_never_draws_technical_nodes(show_technical: bool) -> None:
    # BPMN has no show_technical: a checkpoint is its base, a recovery nothing.
    v1 = bpmn(example("evolution_v1").workflow)
    tasks = [e.get("name") for e in v1.iter(f"{BPMN}serviceTask")]
    assert tasks == ["Reserve Stock", "Charge Card", "Ship"]
    v2 = bpmn(example("evolution_v2").workflow)
    assert [e.get("name") for e in v2.iter(f"{BPMN}serviceTask")] == ["Ship"]
    assert "Recovery" not in ET.tostring(v2, encoding="unicode")
    assert "Checkpoint" not in ET.tostring(v1, encoding="unicode")


@pytest.mark.parametrize("fmt", ["dot", "text"])
def test_graphviz_and_text_follow_show_technical(fmt: str) -> None:
    v1 = example("evolution_v1").workflow
    assert "Checkpoint" not in str(render(v1, fmt))
    assert "Checkpoint" in str(render(v1, fmt, show_technical=True))


# -- Mermaid -------------------------------------------------------------------------


def test_mermaid_draws_errors_as_labelled_dotted_links_to_their_handler() -> None:
    chart = mermaid(example("order").order_workflow)
    assert 'n1_0_0 -.->|"PaymentDeclined"| n1_1' in chart
    assert 'n1_0_0["Charge Payment"]' in chart and 'n1_1["Cancel Order"]' in chart
    assert chart.count("-.->") == 1


def test_mermaid_draws_forks_as_decisions_with_branch_labels() -> None:
    chart = mermaid(routing())
    assert 'n1{"Size?"}' in chart
    assert 'n1 -->|"Large"| n1_0' in chart and 'n1 -->|"Small"| n1_2_0' in chart
    assert 'n1 -->|"Invalid"| finish' in chart  # WIO.end ends the workflow
    assert 'n3_1[/"Choose Next"/]' in chart  # flat_map's continuation, named


@pytest.mark.parametrize(
    ("name", "escaped"),
    [
        ('Say "hi"', "Say #quot;hi#quot;"),
        ("#1 a<b>&c", "#35;1 a#lt;b#gt;#amp;c"),
        ("`code` \\", "#96;code#96; #92;"),
        ("two\nlines", "two lines"),
        ("end [x] {y} Ünï 🚀", "end [x] {y} Ünï 🚀"),
    ],
)
def test_mermaid_escapes_labels_with_entities(name: str, escaped: str) -> None:
    assert escape(name) == escaped


def test_hostile_names_never_reach_mermaid_raw() -> None:
    chart = mermaid(hostile(), show_technical=True)
    for line in chart.splitlines()[1:]:
        # Every quote in a statement delimits a label: none is left inside one.
        assert line.count('"') % 2 == 0, line
        assert "<" not in line and "#quot;" not in line.replace("#quot;", "")


def test_progress_marks_what_an_instance_ran_with_one_used_class(order: ModuleType) -> None:
    runtime = Runtime(order.order_workflow)
    declined = runtime.create("B", order.Order("B", "b@x", 10**9, ("piano",)))
    declined.advance()
    chart = mermaid(order.order_workflow, executed=executed_paths(declined.progress))
    assert chart.count("classDef") == 1 and "classDef executed" in chart
    assert chart.rstrip().endswith("class start,n0,n1_0_0,n1_1 executed")
    assert "classDef" not in mermaid(order.order_workflow)


def test_output_is_stable() -> None:
    for fmt in ("mermaid", "bpmn", "dot", "text", "json"):
        assert render(routing(), fmt) == render(routing(), fmt)


# -- BPMN ----------------------------------------------------------------------------


def test_bpmn_maps_steps_forks_handlers_and_ends() -> None:
    root = bpmn(routing())
    (process,) = root.iter(f"{BPMN}process")
    assert process.get("isExecutable") == "true"
    assert {e.get("name") for e in root.iter(f"{BPMN}serviceTask")} >= {
        "Page On-Call", "Queue Ticket", "Auto Approve", "Notify", "Escalate",
    }  # fmt: skip
    assert {e.get("name") for e in root.iter(f"{BPMN}task")} == {"Classify", "Verify", "Pure", "Choose Next"}  # fmt: skip
    gateway = next(g for g in root.iter(f"{BPMN}exclusiveGateway") if g.get("name") == "Size?")
    flows = {f.get("id"): f for f in root.iter(f"{BPMN}sequenceFlow")}
    outgoing = [flows[o.text or ""] for o in gateway.iter(f"{BPMN}outgoing")]
    conditions = {
        f.get("name"): (c.text if (c := f.find(f"{BPMN}conditionExpression")) is not None else None)
        for f in outgoing
    }
    assert conditions == {
        "Large": "route_1 == 'Large'",
        "Invalid": "route_1 == 'Invalid'",
        "Small": None,
    }
    assert flows[gateway.get("default") or ""].get("name") == "Small"
    (boundary,) = root.iter(f"{BPMN}boundaryEvent")
    assert boundary.get("attachedToRef", "").startswith("SubProcess_")
    (error,) = root.iter(f"{BPMN}error")
    assert boundary.find(f"{BPMN}errorEventDefinition").get("errorRef") == error.get("id")  # type: ignore[union-attr]
    assert error.get("name") == "Boom"
    terminate = [
        e
        for e in root.iter(f"{BPMN}endEvent")
        if e.find(f"{BPMN}terminateEventDefinition") is not None
    ]
    assert len(terminate) == 1


def test_bpmn_shapes_never_overlap() -> None:
    for workflow in (routing(), hostile(), example("order").order_workflow):
        root = bpmn(workflow)
        di = "{http://www.omg.org/spec/DD/20100524/DC}Bounds"
        boxes = {
            shape.get("bpmnElement"): tuple(
                float(shape.find(di).get(k)) for k in ["x", "y", "width", "height"]
            )  # type: ignore[union-attr]
            for shape in root.iter("{http://www.omg.org/spec/BPMN/20100524/DI}BPMNShape")
        }
        boundary = {e.get("id") for e in root.iter(f"{BPMN}boundaryEvent")}

        def inside(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
            return (
                a[0] >= b[0]
                and a[1] >= b[1]
                and a[0] + a[2] <= b[0] + b[2]
                and a[1] + a[3] <= b[1] + b[3]
            )

        ids = [i for i in boxes if i not in boundary]
        for n, a in enumerate(ids):
            for b in ids[n + 1 :]:
                p, q = boxes[a], boxes[b]
                crossing = (
                    p[0] < q[0] + q[2]
                    and q[0] < p[0] + p[2]
                    and p[1] < q[1] + q[3]
                    and q[1] < p[1] + p[3]
                )
                assert not crossing or inside(p, q) or inside(q, p), (a, b)


def test_bpmn_keeps_hostile_names_as_written() -> None:
    root = bpmn(hostile())
    texts = {e.get("name") for e in root.iter() if e.get("name")}
    # A parallel flow's name is its flow's documentation, "Flow <name>".
    texts |= {(e.text or "").removeprefix("Flow ") for e in root.iter(f"{BPMN}documentation")}
    assert set(HOSTILE) <= texts


# -- Graphviz and text -----------------------------------------------------------------


def test_text_tree_marks_progress(order: ModuleType) -> None:
    instance = Runtime(order.order_workflow).create("A", order.Order("A", "a@x", 10, ("pen",)))
    instance.advance()
    tree = str(render(order.order_workflow, "text", executed=executed_paths(instance.progress)))
    assert "[x] RunIO 'Charge Payment'" in tree and "[ ] RunIO 'Cancel Order'" in tree


def test_svg_without_graphviz_says_what_to_install(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "wio.cli",
            "render",
            "docs/examples/order.py:order_workflow",
            "--format",
            "svg",
        ],
        cwd=ROOT,
        env={**os.environ, "PATH": str(tmp_path)},  # no `dot` anywhere
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "needs Graphviz's `dot` program, which is not installed" in done.stderr
    assert "apt-get install graphviz" in done.stderr


# -- the CLI -----------------------------------------------------------------------------


def test_render_an_instances_progress_from_a_journal(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'j.db'}"
    target = "docs/examples/order.py:order_workflow"
    order = '{"order_id": "A", "customer_email": "a@x", "amount_cents": 10, "items": ["pen"]}'
    assert (
        wio(
            "start", target, "--journal", url, "--id", "A", "--input", order, "--advance"
        ).returncode
        == 0
    )
    done = wio("render", target, "--format", "mermaid", "--instance", "A", "--journal", url)
    assert done.returncode == 0, done.stderr
    assert "class start,n0,n1_0_0,n1_0_1,n1_0_2,finish executed" in done.stdout  # finished
    text = wio("render", target, "--format", "text", "--instance", "A", "--journal", url)
    assert "[x] RunIO 'Update Inventory'" in text.stdout
    missing = wio("render", target, "-f", "text", "--instance", "nope", "--journal", url)
    assert missing.returncode == 1 and "no instance 'nope'" in missing.stderr


def test_render_errors_are_clear() -> None:
    assert (
        "invalid choice: 'pdf'"
        in wio("render", "docs/examples/order.py:order_workflow", "-f", "pdf").stderr
    )
    assert "no such file" in wio("render", "nope.py:x", "-f", "bpmn").stderr
    assert (
        "not a WIO workflow"
        in wio("render", "docs/examples/order.py:Order", "-f", "mermaid").stderr
    )


def test_a_signal_is_a_flag_in_mermaid_and_a_catch_event_in_bpmn() -> None:
    from tests.harness.review import workflow

    assert 'n1>"Await Review"]' in mermaid(workflow.wio)
    root = bpmn(workflow.wio)
    (catch,) = root.iter(f"{BPMN}intermediateCatchEvent")
    (signal,) = root.iter(f"{BPMN}signal")
    definition = catch.find(f"{BPMN}signalEventDefinition")
    assert definition is not None and definition.get("signalRef") == signal.get("id")
    assert (catch.get("name"), signal.get("name")) == ("Await Review", "Review")
    assert "HandleSignal 'Await Review' signal=Review event=Reviewed" in str(
        render(workflow.wio, "text")
    )


def test_render_bpmn_for_camunda8_from_the_cli() -> None:
    target = "docs/examples/order.py:order_workflow"
    done = wio("render", target, "-f", "bpmn", "--bpmn-target", "camunda8")
    assert done.returncode == 0, done.stderr
    assert '<zeebe:taskDefinition type="charge-payment"/>' in done.stdout
    assert 'modeler:executionPlatform="Camunda Cloud"' in done.stdout
    assert "zeebe:" not in wio("render", target, "-f", "bpmn").stdout
    wrong = wio("render", target, "-f", "bpmn", "--bpmn-target", "zeebe")
    assert wrong.returncode == 2 and "invalid choice: 'zeebe'" in wrong.stderr
    with pytest.raises(UnknownFormat, match="unknown BPMN target 'zeebe': expected one of"):
        render(example("order").order_workflow, "bpmn", bpmn_target="zeebe")  # type: ignore[arg-type]
