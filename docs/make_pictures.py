"""Regenerate the pictures of docs/renderers/: python docs/make_pictures.py [OUT_DIR]

Draws the order, checkpointing, evolution, fulfilment, packing, onboarding,
booking, payouts and shop examples as each renderer's consumer draws them: Graphviz's dot for DOT,
bpmn-js (in headless Chromium) for BPMN and Mermaid itself (in headless Chromium)
for Mermaid; the approval example's progress, from an instance waiting for its
second review; and the shop example's, from an instance cancelled and cleaned up.
Needs Graphviz, Chromium and the npm packages of tests/consumers (see .ci/run).
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
from wio.loading import load_definition  # noqa: E402
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
    "shop": "docs/examples/shop.py:workflow",
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


def shop_cancelled(scratch: Path) -> tuple[Any, Marks]:
    """The shop example, and the marks of an order cancelled in its cooling-off period
    whose cleanup a worker ran (on a scratch SQLite journal): refunded, customer told."""
    sys.path.insert(0, str(ROOT / "docs" / "examples"))
    import shop

    from wio.journal import open_journal
    from wio.operations import cancel
    from wio.worker import Worker

    journal = open_journal(f"sqlite:///{scratch / 'shop.db'}")
    worker = Worker(journal, [shop.workflow])
    worker.register()  # tells `cancel` that the shop has a cleanup flow
    Runtime(shop.workflow, journal=journal).create("S-1", shop.Order("S-1", 700)).advance()
    cancel(journal, "S-1", "the customer withdrew")
    worker.run_once()
    marks = Marks.of(Runtime(shop.workflow, journal=journal).get("S-1"))
    journal.close()
    return shop.workflow, marks


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        sources = Path(scratch)
        bpmn, mermaid = [], []
        for name, target in EXAMPLES.items():
            workflow = load_definition(str(ROOT / target))  # with its cleanup flow, if any
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
        for name, (workflow, marks) in {
            "approval": approval_progress(),
            "shop": shop_cancelled(sources),
        }.items():
            progress = f"{name}-progress"
            svg = render(workflow, "svg", marks=marks)
            (out / f"{progress}.graphviz.svg").write_text(str(svg))
            chart = sources / f"{progress}.mermaid.mmd"
            chart.write_text(str(render(workflow, "mermaid", marks=marks)))
            mermaid.append(chart)
            diagram = sources / f"{progress}.bpmn.bpmn"
            diagram.write_text(str(render(workflow, "bpmn", name=name, marks=marks)))
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
