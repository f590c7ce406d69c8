"""The packing example (a for-each section), instrumented for tests that span processes.

Side effects go to ``$WIO_EFFECTS_LOG`` and ``$WIO_BLOCK`` makes one kind of
effect hang, as in `tests.harness.crashable_order`: ``pack:before`` hangs
before the first line is packed, ``pack:after`` after it was packed but before
its event is recorded.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.harness.crashable_order import FileEffects
from wio.definition import Workflow
from wio.loading import load_module
from wio.retry import RetryPolicy

packing = load_module(str(Path(__file__).resolve().parents[2] / "docs" / "examples" / "packing.py"))
packing.side_effects = FileEffects(os.environ["WIO_EFFECTS_LOG"], os.environ.get("WIO_BLOCK", ""))

workflow = Workflow(
    packing.workflow.wio,
    name="packing",
    input_type=packing.Order,
    retry=RetryPolicy(max_attempts=3, initial_delay=0.05, multiplier=2),
)
