"""The benchmark harness: a run of every suite measures every target of issue 15.

`python -m benchmarks --quick` runs every suite at tiny sizes; the target table
then looks each target's figure up by name. A figure renamed in a suite and
not in the table would leave its target "not measured" in docs/performance.md.
No timing is asserted: the sizes are too small to mean anything.
Run by .ci/run as `python -m pytest -m bench` (it needs the bench extras: DBOS).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.__main__ import targets, unmeasured
from benchmarks.measure import Figure
from benchmarks.suites import QUICK, SUITES
from tests.conftest import postgres_available

ROOT = Path(__file__).resolve().parent.parent
# The targets issue 15 sets, by the number of the benchmark measuring each
# ((6) is the soak's, read from benchmarks/soak.json).
ISSUE_TARGETS = {"(1)", "(2)", "(3)", "(6)", "(9)", "(13)", "(14)"}

pytestmark = [pytest.mark.bench, pytest.mark.postgres]


def test_a_quick_run_of_every_suite_measures_every_target(tmp_path: Path) -> None:
    postgres_available()
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--output", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    saved = json.loads((tmp_path / "results.json").read_text())
    rows = targets([Figure(**f) for f in saved["figures"]], QUICK)
    assert unmeasured(rows) == []
    assert {target.split(" ", 1)[0] for target, _, _ in rows} >= ISSUE_TARGETS
    # Every suite ran and is dated, so the report says which run each table is from.
    assert len(saved["measured"]) == len(SUITES)
