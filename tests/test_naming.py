from __future__ import annotations

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
