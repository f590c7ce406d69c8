"""mypy --strict accepts correct compositions and rejects ``a >> b`` with mismatched types."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest
from mypy import api

from tests.conftest import ROOT
from wio.algebra import Node

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


def test_complete_matches_over_nodes_type_check(monkeypatch: pytest.MonkeyPatch) -> None:
    assert mypy(str(TYPING / "exhaustive.py"), monkeypatch) == []


def node_kinds() -> list[str]:
    return [typing.get_origin(kind).__name__ for kind in typing.get_args(Node)]


def test_a_match_over_nodes_missing_any_kind_is_rejected(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # One function per kind, each matching every kind but that one.
    kinds = node_kinds()
    lines = ["from typing import assert_never", "from wio import algebra", "", ""]
    missed_at = {}
    for missing in kinds:
        cases = " | ".join(f"algebra.{kind}()" for kind in kinds if kind != missing)
        lines += [
            f"def without_{missing}(node: algebra.Node) -> str:",
            "    match node:",
            f"        case {cases}:  # fmt: skip",
            "            return 'handled'",
            "        case _:",
            "            assert_never(node)",
        ]
        missed_at[len(lines)] = missing
        lines += ["", ""]
    source = tmp_path / "non_exhaustive.py"
    source.write_text("\n".join(lines))
    errors = mypy(str(source), monkeypatch)
    found = {int(re.search(r":(\d+): error", e).group(1)): e for e in errors}  # type: ignore[union-attr]
    assert set(found) == set(missed_at), errors
    for line, missing in missed_at.items():
        assert "assert_never" in found[line] and f'"{missing}[' in found[line], found[line]


def test_the_node_union_has_every_node_class() -> None:
    # Every concrete WIO subclass in wio.algebra is a member of Node.
    from wio import algebra

    classes = {
        name
        for name, value in vars(algebra).items()
        if isinstance(value, type) and issubclass(value, algebra.WIO) and value is not algebra.WIO
    }
    assert classes == set(node_kinds())
