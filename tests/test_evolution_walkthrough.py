"""docs/evolution.md, run in order on SQLite and on PostgreSQL: its Python blocks
as scripts, its `$ wio` commands as processes whose output must match the page."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from mypy import api as mypy_api

from tests.conftest import DURABLE_JOURNALS, EXAMPLES, ROOT, example
from tests.test_docs import FENCE, PAGES, run_console
from wio.journal import InstanceStatus, open_journal

PAGE = ROOT / "docs" / "evolution.md"


@DURABLE_JOURNALS
def test_the_evolution_walkthrough_runs_on_each_journal(journal_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "WIO_JOURNAL": journal_url, "WIO_LOG_LEVEL": "ERROR"}
    statuses: list[int] = []
    for number, (language, body) in enumerate(FENCE.findall(PAGE.read_text())):
        if language == "python":
            script = tmp_path / f"block_{number}.py"
            script.write_text(body)
            done = subprocess.run(
                [sys.executable, str(script)], cwd=ROOT, env=env, capture_output=True,
                text=True, timeout=120,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
        elif language == "console":
            statuses += run_console(body, env)
    # instances, compat (a recovery), replay (all replay), migrate --all (refusals),
    # migrate one, deliver, worker, instances, inspect
    assert statuses == [0, 1, 0, 1, 0, 0, 0, 0, 0]
    journal = open_journal(journal_url)
    try:
        final = {r.id: (r.workflow_version, r.status) for r in journal.list_instances()}
        assert final == {
            "S-before": (2, InstanceStatus.FINISHED),
            "S-inside": (1, InstanceStatus.FINISHED),
            "S-past": (2, InstanceStatus.FINISHED),
            "S-done": (1, InstanceStatus.FINISHED),
        }
        shipped = {i: [e.type for e in journal.read(i)] for i in final}
        assert shipped["S-before"] == ["wio.Migrated", "PaymentSettled", "ParcelShipped"]
        assert shipped["S-inside"] == [
            "StockReserved", "CardCharged", "PaymentSettled", "ParcelShipped",
        ]  # fmt: skip
        assert all(types.count("ParcelShipped") == 1 for types in shipped.values())
    finally:
        journal.close()


def test_the_walkthroughs_python_passes_mypy_strict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The docs test leaves this page to this file: its snippets pass mypy here.
    assert PAGE not in PAGES
    script = tmp_path / "evolution_snippets.py"
    script.write_text(
        "\n".join(b for lang, b in FENCE.findall(PAGE.read_text()) if lang == "python")
    )
    monkeypatch.setenv("MYPYPATH", f"{ROOT}{os.pathsep}{EXAMPLES}")
    stdout, stderr, _ = mypy_api.run(
        ["--strict", "--no-incremental", "--cache-dir=/dev/null", str(script)]
    )
    assert not stderr, stderr
    assert [line for line in stdout.splitlines() if ": error:" in line] == []


def test_version_2_retires_the_removed_sections_event_types_and_keeps_no_class() -> None:
    # Finding 4 of issue 11: v2 once had to keep the removed section's classes.
    shipping = example("evolution_v2").shipping
    assert shipping.retired_events == ("StockReserved", "CardCharged")
    assert shipping.codec.event_class("StockReserved") is None
    assert shipping.codec.event_class("CardCharged") is None
