"""mypy --strict accepts correct compositions and rejects ``a >> b`` with mismatched types."""

from __future__ import annotations

import re

import pytest
from mypy import api

from tests.conftest import ROOT

TYPING = ROOT / "tests" / "typing"


def mypy(path: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    # The editable install's import hook is invisible to mypy; point it at the source.
    monkeypatch.setenv("MYPYPATH", str(ROOT))
    stdout, stderr, _ = api.run(
        ["--strict", "--no-incremental", "--cache-dir=/dev/null", "--hide-error-context", path]
    )
    assert not stderr, stderr
    return [line for line in stdout.splitlines() if ": error:" in line]


def test_correct_compositions_type_check(monkeypatch: pytest.MonkeyPatch) -> None:
    assert mypy(str(TYPING / "accepted.py"), monkeypatch) == []


def test_mismatched_sequences_are_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    source = TYPING / "rejected.py"
    marked = {
        number
        for number, line in enumerate(source.read_text().splitlines(), start=1)
        if line.endswith("# E")
    }
    errors = mypy(str(source), monkeypatch)
    lines = {int(re.search(r":(\d+): error", e).group(1)) for e in errors}  # type: ignore[union-attr]
    assert lines == marked, errors
    assert any("Unsupported operand types for >>" in e for e in errors), errors
