from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import example
from tests.nodes import Ev
from wio import WIO, DefinitionError
from wio.naming import humanize


@pytest.mark.parametrize(
    ("identifier", "name"),
    [
        ("my_workflow", "My Workflow"),
        ("myWorkflow", "My Workflow"),
        ("charge_payment_v2", "Charge Payment V2"),
        ("_private", "Private"),
    ],
)
def test_humanize(identifier: str, name: str) -> None:
    assert humanize(identifier) == name


def test_auto_named_takes_the_assignment_target() -> None:
    send_the_email = WIO.pure(1).auto_named()
    assert send_the_email.meta.name == "Send The Email"
    annotated: WIO[object, object, int] = WIO.pure(2).auto_named()
    assert annotated.meta.name == "Annotated"


def test_auto_named_in_the_cards_example() -> None:
    assert example("checkpointing").my_workflow.meta.name == "My Workflow"


def test_auto_named_outside_an_assignment_is_a_clear_error() -> None:
    with pytest.raises(DefinitionError, match=r"right-hand side of an assignment"):
        print(WIO.pure(1).auto_named())


def test_named_rejects_empty_names_and_described_keeps_the_name() -> None:
    with pytest.raises(DefinitionError, match="non-empty string"):
        WIO.pure(1).named("  ")
    node = WIO.pure(1).named("Step").described("Does things")
    assert (node.meta.name, node.meta.description) == ("Step", "Does things")


def test_run_steps_default_to_the_effects_name() -> None:
    def charge_payment(x: int) -> Ev:
        return Ev(x)

    assert WIO.run(charge_payment, lambda x, e: e).meta.name == "Charge Payment"


def test_auto_named_takes_its_own_statement_on_a_shared_line() -> None:
    # fmt: off
    x = WIO.pure(1).auto_named(); other_variable = 2  # noqa: E702
    # fmt: on
    assert x.meta.name == "X" and other_variable == 2


def test_auto_named_ignores_other_statements_before_it_on_the_line() -> None:
    # fmt: off
    before = 1; after = WIO.pure(before).auto_named()  # noqa: E702
    # fmt: on
    assert after.meta.name == "After"


def test_two_auto_named_calls_in_one_assignment_are_refused() -> None:
    with pytest.raises(DefinitionError, match=r"right-hand side of an assignment.*\.named"):
        both = WIO.pure(1).auto_named() >> WIO.pure_from(str).auto_named()
        del both


def test_a_walrus_inside_a_call_takes_its_own_name() -> None:
    outer = WIO.sequence(inner := WIO.pure(1).auto_named(), WIO.pure_from(str))
    assert inner.meta.name == "Inner" and outer.meta.name is None


def test_auto_named_keeps_the_name_through_method_calls_on_its_result() -> None:
    # fmt: off
    described = (
        WIO.pure(1)
        .auto_named()
        .described("the same node, described")
    )
    # fmt: on
    assert (described.meta.name, described.meta.description) == (
        "Described",
        "the same node, described",
    )


def test_auto_named_in_a_tuple_assignment_is_refused() -> None:
    with pytest.raises(DefinitionError, match=r"\.named\(\.\.\.\) elsewhere"):
        first, second = WIO.pure(1).auto_named(), WIO.pure(2)
        del first, second


def test_without_column_positions_a_lone_call_on_its_line_is_still_named(tmp_path: Path) -> None:
    script = tmp_path / "names.py"
    script.write_text(
        "from wio import WIO, DefinitionError\n"
        "alone = WIO.pure(1).auto_named()\n"
        "print(alone.meta.name)\n"
        "try:\n"
        "    a = WIO.pure(1).auto_named(); b = WIO.pure(2).auto_named()\n"
        "except DefinitionError as error:\n"
        "    print('refused:', error)\n"
    )
    done = subprocess.run(
        [sys.executable, "-X", "no_debug_ranges", str(script)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    named, refused = done.stdout.splitlines()
    assert named == "Alone" and refused.startswith(f"refused: auto_named() at {script}:5")
