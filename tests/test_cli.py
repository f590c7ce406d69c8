"""The `wio` command, run as users run it: a subprocess."""

from __future__ import annotations

import json

import pytest

from tests.processes import wio


def test_render_json_prints_the_cards_value_exactly() -> None:
    done = wio("render", "docs/examples/checkpointing.py:checkpointed", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "base": {"meta": {"name": "My Workflow", "error": None}, "_type": "Pure"},
        "_type": "Checkpoint",
    }
    assert done.stdout == (
        '{"base": {"meta": {"name": "My Workflow", "error": null}, "_type": "Pure"}, '
        '"_type": "Checkpoint"}\n'
    )
    recovery = wio("render", "docs/examples/checkpointing.py:recovery", "--format", "json")
    assert recovery.stdout == '{"_type": "Recovery"}\n'


def test_render_takes_a_module_and_writes_a_file(tmp_path: pytest.TempPathFactory) -> None:
    out = tmp_path / "model.json"  # type: ignore[operator]
    done = wio("render", "wio.algebra:WIO", "-o", str(out))
    assert done.returncode == 1 and "not a WIO workflow" in done.stderr
    done = wio("render", "docs/examples/order.py:order_workflow", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert json.loads(out.read_text())["_type"] == "Sequence"


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("docs/examples/missing.py:x", "no such file: docs/examples/missing.py"),
        ("docs/examples/order.py:nothing", "has no attribute 'nothing'"),
        ("docs/examples/order.py:Order", "is a type, not a WIO workflow"),
        ("no_such_module:x", "cannot import module 'no_such_module'"),
        ("just-a-name", "expected PATH_OR_MODULE:ATTR"),
    ],
)
def test_render_bad_targets_get_clear_errors(target: str, message: str) -> None:
    done = wio("render", target)
    assert done.returncode == 1
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_render_rejects_an_unknown_format() -> None:
    done = wio("render", "docs/examples/order.py:order_workflow", "--format", "pdf")
    assert done.returncode == 2
    assert "invalid choice: 'pdf'" in done.stderr


def test_demo_crashes_a_child_on_sqlite_and_resumes_the_order() -> None:
    done = wio("demo")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "sqlite:///" in out
    assert "with SIGKILL while it was sending the email" in out
    assert "#1 PaymentCharged" in out
    assert "replayed: Charge Payment (event #1; handler only)" in out
    assert "ran:      Send Email (event #2)" in out
    assert "ran:      Update Inventory (event #3)" in out
    assert "each event exactly once: True" in out
    assert "finished: order is fulfilled" in out
    assert "finished: order is cancelled" in out
    # The resume charged nothing again: only the child charged A-1.
    assert out.count("side effect: charge A-1") == 1
