"""Regenerate the pictures of docs/renderers/: python docs/make_pictures.py [OUT_DIR]

Draws the order, checkpointing, evolution, fulfilment, packing, onboarding,
booking and payouts examples as each renderer's consumer draws them: Graphviz's dot for DOT,
bpmn-js (in headless Chromium) for BPMN and Mermaid itself (in headless Chromium)
for Mermaid; and the approval example's progress, from an instance waiting for its
second review. Needs Graphviz, Chromium and the npm packages of tests/consumers
(see .ci/run).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wio import Runtime  # noqa: E402
from wio.loading import load_workflow  # noqa: E402
from wio.renderers import Marks, render  # noqa: E402

EXAMPLES = {
    "order": "docs/examples/order.py:order_workflow",
    "checkpointing": "docs/examples/checkpointing.py:checkpointed",
    "evolution_v1": "docs/examples/evolution_v1.py:workflow",
    "evolution_v2": "docs/examples/evolution_v2.py:workflow",
    "fulfilment": "docs/examples/fulfilment.py:workflow",
    "packing": "docs/examples/packing.py:workflow",
    "onboarding": "docs/examples/onboarding.py:workflow",
    "booking": "docs/examples/booking.py:workflow",
    "payouts": "docs/examples/payouts.py:workflow",
}
CONSUMERS = ROOT / "tests" / "consumers"


def approval_progress() -> tuple[Any, Marks]:
    """The approval example, and the marks of an instance whose first review
    asked for changes: revised, it waits for the second review or its timeout."""
    sys.path.insert(0, str(ROOT / "docs" / "examples"))
    import approval

    instance = Runtime(approval.workflow).create("D-1", approval.Request("D-1", "ann"))
    instance.advance()
    instance.signal(approval.submit, approval.Submission("Plan"))
    instance.advance()
    instance.signal(approval.review, approval.Verdict("bob", approve=False, comments="more"))
    instance.advance()
    return approval.workflow.wio, Marks.of(instance)


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        sources = Path(scratch)
        bpmn, mermaid = [], []
        for name, target in EXAMPLES.items():
            workflow = load_workflow(str(ROOT / target))
            for technical in (False, True):
                suffix = "-technical" if technical else ""
                svg = render(workflow, "svg", show_technical=technical, name=name)
                (out / f"{name}{suffix}.graphviz.svg").write_text(str(svg))
                chart = sources / f"{name}{suffix}.mermaid.mmd"
                chart.write_text(str(render(workflow, "mermaid", show_technical=technical)))
                mermaid.append(chart)
            diagram = sources / f"{name}.bpmn.bpmn"
            diagram.write_text(str(render(workflow, "bpmn", name=name)))
            bpmn.append(diagram)
        workflow, marks = approval_progress()
        name = "approval-progress"
        (out / f"{name}.graphviz.svg").write_text(str(render(workflow, "svg", marks=marks)))
        chart = sources / f"{name}.mermaid.mmd"
        chart.write_text(str(render(workflow, "mermaid", marks=marks)))
        mermaid.append(chart)
        diagram = sources / f"{name}.bpmn.bpmn"
        diagram.write_text(str(render(workflow, "bpmn", name="approval", marks=marks)))
        bpmn.append(diagram)
        for script, files in (("draw_bpmn.mjs", bpmn), ("render_mermaid.mjs", mermaid)):
            subprocess.run(
                ["node", str(CONSUMERS / script), *map(str, files)],
                cwd=CONSUMERS,
                env={"PATH": "/usr/bin:/bin", "OUT_DIR": str(out)},
                check=True,
                stdout=subprocess.DEVNULL,
            )
    for picture in sorted(out.glob("*.svg")):
        print(picture.relative_to(out.parent) if out.parent in picture.parents else picture)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "pictures")
