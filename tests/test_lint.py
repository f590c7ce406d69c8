"""wio lint catches each of the four definition problems, with the node's path."""

from __future__ import annotations

import pytest

from tests.conftest import EXAMPLES
from tests.harness.review import await_review, await_withdrawal
from tests.nodes import Boom, Effects, Ev, restore, save
from tests.processes import wio
from wio import WIO, Err
from wio.lint import lint


def codes(workflow: WIO) -> list[tuple[str, str]]:  # type: ignore[type-arg]
    return [(p.code, "/" + "/".join(map(str, p.path))) for p in lint(workflow)]


def test_an_event_type_shared_by_a_checkpoint_and_its_section() -> None:
    effects = Effects()
    clashing = (effects.step("A") >> effects.step("B")).checkpointed(
        lambda i, o: Ev(o), lambda i, e: e.value, event=Ev
    )
    assert codes(effects.step("First") >> clashing) == [
        ("ambiguous-event", "/1/0/0"),
        ("ambiguous-event", "/1/0/1"),
    ]
    assert lint((effects.step("A") >> effects.step("B")).checkpointed(save, restore)) == []


def test_two_handlers_for_one_signal_active_at_once() -> None:
    assert codes(await_review.interrupted_by(await_review.named("Again"))) == [
        ("duplicate-signal", "/0")
    ]
    assert lint(await_review.interrupted_by(await_withdrawal)) == []


def test_two_parallel_flows_waiting_for_one_signal() -> None:
    effects = Effects()
    section = (
        WIO.parallel("Both")
        .flow("Legal", effects.step("Prepare") >> await_review)
        .flow("Finance", await_withdrawal >> await_review.named("Finance Review"))
        .flow("Ops", effects.step("Deploy"))
    )
    (problem,) = lint(section)
    assert (problem.code, problem.path) == ("duplicate-signal", (1, 1))
    assert "in flow 'Finance'" in problem.message and "at /0/1 in flow 'Legal'" in problem.message
    sequential = effects.step("A") >> await_review >> await_review.named("Again")
    assert lint(WIO.parallel().flow("One", sequential).flow("Two", await_withdrawal)) == []


def test_a_loop_that_can_repeat_without_recording_an_event() -> None:
    effects = Effects()
    busy = WIO.repeat(WIO.pure_from(lambda x: x + 1)).until(lambda x: x > 10, name="Done?")
    (problem,) = lint(effects.step("A") >> busy)
    assert (problem.code, problem.path) == ("busy-loop", (1,))
    assert "loop 'Done?' can repeat without recording any event" in problem.message
    # A fork that records on one branch only can still spin.
    sometimes = (
        WIO.fork("?").branch("Yes", lambda x: x > 0, effects.step("B")).otherwise("No", WIO.pure(1))
    )
    assert codes(WIO.repeat(sometimes).until(lambda x: x > 5)) == [("busy-loop", "/")]
    assert lint(WIO.repeat(effects.step("C")).until(lambda x: x > 5)) == []
    assert lint(WIO.repeat(WIO.pure(1)).until(lambda x: True, on_restart=effects.step("D"))) == []
    # A parallel section records if any of its flows always does: they all run.
    pure_only = WIO.parallel().flow("P", WIO.pure(1)).flow("Q", WIO.pure(2))
    assert codes(WIO.repeat(pure_only).until(lambda x: True)) == [("busy-loop", "/")]
    recording = WIO.parallel().flow("P", WIO.pure(1)).flow("Q", effects.step("E"))
    assert lint(WIO.repeat(recording).until(lambda x: True)) == []


def test_an_error_handler_for_an_error_that_cannot_occur() -> None:
    class Other(Exception):
        pass

    effects = Effects()
    assert codes(WIO.pure(1).handle_error_with(WIO.pure(0))) == [("impossible-error", "/")]
    (problem,) = lint(effects.step("A").handle_error_with(WIO.pure(0), error=Other))
    assert problem.message == "handles Other, which the section cannot raise (it declares: Boom)"
    assert lint(effects.step("A").handle_error_with(WIO.pure(0), error=Boom)) == []
    failing = WIO.pure_from(lambda x: Err(Boom(x)), error=Boom)
    assert lint(failing.handle_error_with(WIO.pure(0))) == []


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.py")), ids=lambda p: p.name)
def test_the_examples_lint_clean(path: object) -> None:
    from wio.definition import Workflow
    from wio.loading import load_module

    module = load_module(str(path))
    for value in vars(module).values():
        if isinstance(value, Workflow):
            value = value.wio
        if isinstance(value, WIO):
            assert lint(value) == [], value


def test_wio_lint_exits_1_on_problems() -> None:
    clean = wio("lint", "docs/examples/approval.py:workflow")
    assert clean.returncode == 0 and "no problems found" in clean.stdout
    flagged = wio("lint", "tests/harness/lint_problems.py:busy")
    assert flagged.returncode == 1
    assert (
        flagged.stdout.strip()
        == "/: busy-loop: loop 'Spin?' can repeat without recording any event: its body may complete by pure steps alone"
    )
