"""The semantics of every node of the algebra, run on the in-memory runtime."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.nodes import Boom, Effects, Ev, Other
from wio import WIO, DefinitionError, Err, InstanceStatus, Runtime
from wio.runtime import AsyncRuntime


def run(workflow: WIO[Any, Any, Any], input: Any = 0) -> Any:
    instance = Runtime(workflow).create("i", input)
    instance.advance()
    return instance


def test_pure_value_and_function() -> None:
    assert run(WIO.pure(7)).result == 7
    assert run(WIO.pure_from(lambda x: x * 3), 5).result == 15


def test_pure_business_error_fails_the_instance() -> None:
    wf = WIO.pure_from(lambda x: Err(Boom(x)), error=Boom)
    instance = run(wf, 4)
    assert instance.status == InstanceStatus.FAILED
    assert instance.result == Boom(4)
    assert instance.events == ()


def test_undeclared_business_error_is_a_definition_error_that_records_nothing() -> None:
    wf = WIO.pure_from(lambda x: Err(Boom(x))).named("Sneaky")
    instance = run(wf, 1)
    # The same input would raise it again: it fails at once rather than being retried.
    assert instance.status == InstanceStatus.FAILED and instance.attempts == 1
    assert instance.last_error is not None
    assert isinstance(instance.last_error.exception, DefinitionError)
    assert "Sneaky" in str(instance.last_error.exception)


def test_run_records_exactly_one_event_and_handles_it() -> None:
    effects = Effects()
    instance = run(effects.step("A", add=10), 1)
    assert instance.status == InstanceStatus.FINISHED
    assert instance.result == 11
    assert [e.event for e in instance.events] == [Ev(11)]
    assert [e.seq for e in instance.events] == [1]
    assert effects.calls == ["A"]


def test_run_handler_business_error() -> None:
    instance = run(Effects().step("A", add=-5), 1)
    assert instance.status == InstanceStatus.FAILED
    assert instance.result == Boom(-4)
    assert len(instance.events) == 1  # the side effect happened and is recorded


def test_run_infers_its_event_type_from_the_annotation() -> None:
    def effect(x: int) -> Ev:
        return Ev(x)

    assert WIO.run(effect, lambda x, e: e.value).event_type is Ev  # type: ignore[attr-defined]
    with pytest.raises(DefinitionError, match="pass event=EventClass"):
        WIO.run(lambda x: Ev(x), lambda x, e: e)


def test_run_rejects_an_effect_returning_the_wrong_event_type() -> None:
    wf = WIO.run(lambda x: Other(x), lambda x, e: e, event=Ev).named("Wrong")
    instance = run(wf)
    assert instance.events == ()
    assert instance.last_error is not None
    assert "expected an event of type Ev" in str(instance.last_error.exception)


def test_async_effect_on_sync_and_async_runtimes() -> None:
    async def effect(x: int) -> Ev:
        await asyncio.sleep(0)
        return Ev(x + 1)

    wf = WIO.run(effect, lambda x, e: e.value * 2)
    assert run(wf, 1).result == 4

    async def main() -> Any:
        instance = await AsyncRuntime(wf).create("a", 2)
        assert await instance.advance() == InstanceStatus.FINISHED
        return instance.result

    assert asyncio.run(main()) == 6


def test_sequence_feeds_outputs_forward_and_flattens() -> None:
    effects = Effects()
    wf = WIO.pure_from(lambda x: x + 1) >> effects.step("A", 10) >> WIO.pure_from(lambda x: x * 2)
    assert run(wf, 1).result == 24
    a, b, c = WIO.pure(1), WIO.pure(2), WIO.pure(3)
    assert (a >> b >> c).steps == (a, b, c)  # type: ignore[attr-defined]
    assert WIO.sequence(a, b, c) == a >> b >> c
    with pytest.raises(DefinitionError, match="expects a WIO node"):
        a >> 3  # type: ignore[operator]


def test_flat_map_chooses_the_next_node_from_the_output() -> None:
    wf = WIO.pure_from(lambda x: x).flat_map(
        lambda v: WIO.pure("big") if v > 10 else WIO.pure_from(lambda x: f"small {x}")
    )
    assert run(wf, 50).result == "big"
    assert run(wf, 3).result == "small 3"


def test_map_transform_and_provide_input() -> None:
    assert run(WIO.pure_from(lambda x: x + 1).map(str), 1).result == "2"
    wf = WIO.pure_from(lambda x: x * 10).transform(lambda s: len(s), lambda s, out: f"{s}:{out}")
    assert run(wf, "abc").result == "abc:30"
    assert run(WIO.pure_from(lambda x: x + 1).provide_input(41), "ignored").result == 42


def test_named_transform_names_its_base() -> None:
    wf = WIO.pure_from(lambda x: x).map(str).named("Shown")
    assert wf.base.meta.name == "Shown"  # type: ignore[attr-defined]


def test_handle_error_with_receives_last_state_and_error() -> None:
    effects = Effects()
    failing = effects.step("A", add=0) >> WIO.pure_from(lambda x: Err(Boom(x)), error=Boom)
    wf = failing.handle_error_with(WIO.pure_from(lambda se: f"state={se[0]} error={se[1].code}"))
    instance = run(wf, 5)
    assert instance.status == InstanceStatus.FINISHED
    assert instance.result == "state=5 error=5"
    assert [r.kind for r in instance.progress] == ["run", "pure", "error_handled", "pure"]


def test_handle_error_with_a_type_lets_other_errors_through() -> None:
    class Other(Exception):
        pass

    wf = WIO.pure_from(lambda x: Err(Boom(x)), error=Boom).handle_error_with(
        WIO.pure("handled"), error=Other
    )
    instance = run(wf, 1)
    assert instance.status == InstanceStatus.FAILED
    assert instance.result == Boom(1)


def test_fork_takes_the_first_matching_branch_and_records_it() -> None:
    wf = (
        WIO.fork("Size?")
        .branch("Big", lambda x: x > 10, WIO.pure("big"))
        .branch("Even", lambda x: x % 2 == 0, WIO.pure("even"))
        .otherwise("Other", WIO.pure("other"))
    )
    assert run(wf, 12).result == "big"
    assert run(wf, 4).result == "even"
    instance = run(wf, 3)
    assert instance.result == "other"
    assert instance.progress[0].kind == "fork" and instance.progress[0].value == "Other"


def test_fork_without_a_matching_branch_stops_with_a_clear_error() -> None:
    wf = WIO.fork("Pick").branch("Never", lambda x: False, WIO.pure(1))
    instance = run(wf, 3)
    assert instance.last_error is not None
    assert "no branch matched" in str(instance.last_error.exception)


def test_fork_rejects_duplicate_branches_and_a_default_not_last() -> None:
    fork = WIO.fork("F").branch("A", lambda x: True, WIO.pure(1))
    with pytest.raises(DefinitionError, match="two branches named 'A'"):
        fork.branch("A", lambda x: True, WIO.pure(2))
    with pytest.raises(DefinitionError, match="default branch must be added last"):
        fork.otherwise("D", WIO.pure(0)).branch("B", lambda x: True, WIO.pure(2))


def test_end_stops_the_workflow_with_the_current_state() -> None:
    effects = Effects()
    wf = WIO.pure_from(lambda x: x + 1) >> WIO.end() >> effects.step("never")
    instance = run(wf, 1)
    assert instance.status == InstanceStatus.FINISHED
    assert instance.result == 2
    assert effects.calls == []


def test_a_raising_step_records_no_event_and_stays_until_retried() -> None:
    attempts: list[int] = []

    def flaky(x: int) -> Ev:
        attempts.append(x)
        if len(attempts) < 2:
            raise ConnectionError("gateway down")
        return Ev(x)

    wf = WIO.run(flaky, lambda x, e: e.value).named("Flaky")
    instance = Runtime(wf).create("i", 3)
    assert instance.advance() == InstanceStatus.RUNNING
    assert instance.events == ()
    assert instance.last_error is not None
    assert instance.last_error.node_name == "Flaky"
    assert isinstance(instance.last_error.exception, ConnectionError)
    assert instance.advance() == InstanceStatus.FINISHED
    assert instance.last_error is None
    assert [e.event for e in instance.events] == [Ev(3)]


def test_a_raising_handler_records_nothing_either() -> None:
    calls: list[int] = []

    def handle(x: int, e: Ev) -> int:
        calls.append(x)
        if len(calls) == 1:
            raise ValueError("bad handler")
        return e.value

    instance = Runtime(WIO.run(lambda x: Ev(x), handle, event=Ev)).create("i", 1)
    instance.advance()
    assert instance.events == () and instance.last_error is not None
    instance.advance()
    assert instance.result == 1 and len(instance.events) == 1


def test_a_raising_pure_step_keeps_the_progress_before_it() -> None:
    effects = Effects()
    failures = iter([True, False])

    def sometimes(x: int) -> int:
        if next(failures):
            raise RuntimeError("transient")
        return x

    wf = effects.step("A", 1) >> WIO.pure_from(sometimes).named("Sometimes")
    instance = Runtime(wf).create("i", 0)
    instance.advance()
    assert instance.last_error is not None and instance.last_error.node_name == "Sometimes"
    assert [r.name for r in instance.progress] == ["A"]
    assert instance.advance() == InstanceStatus.FINISHED
    assert effects.calls == ["A"]


def test_runtime_registry_errors() -> None:
    from wio import InstanceAlreadyExists, InstanceNotFound

    runtime = Runtime(WIO.pure(1))
    runtime.create("a", 0)
    with pytest.raises(InstanceAlreadyExists):
        runtime.create("a", 0)
    with pytest.raises(InstanceNotFound):
        runtime.get("b")
    with pytest.raises(DefinitionError):
        Runtime("not a workflow")  # type: ignore[arg-type]


def test_sync_runtime_refuses_async_steps_inside_a_running_loop() -> None:
    async def effect(x: int) -> Ev:
        return Ev(x)

    async def main() -> Any:
        instance = Runtime(WIO.run(effect, lambda x, e: e.value)).create("i", 1)
        instance.advance()
        return instance.last_error

    error = asyncio.run(main())
    assert error is not None and "use AsyncRuntime" in str(error.exception)


def test_a_run_step_without_a_handler_passes_its_input_on() -> None:
    effects: list[int] = []

    def record(x: int) -> Ev:
        effects.append(x)
        return Ev(x * 100)

    wf = WIO.run(record) >> WIO.pure_from(lambda x: x + 1)
    live = Runtime(wf).create("i", 4)
    live.advance()
    assert live.result == 5 and effects == [4]
    assert [e.event for e in live.events] == [Ev(400)]
    replayed = Runtime(wf, strict=True).rebuild("r", 4, [Ev(400)])
    assert replayed.result == 5 and effects == [4]


def test_a_run_step_with_an_error_type_needs_a_handler() -> None:
    with pytest.raises(DefinitionError, match=r"error=\.\.\.\) needs a handler"):
        WIO.run(lambda x: Ev(x), event=Ev, error=Boom)  # type: ignore[call-overload]
