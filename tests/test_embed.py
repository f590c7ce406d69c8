"""Embedded workflows: another definition run inline, in this instance and its journal.

The embedded nodes sit under the `Embed` node in the model, so embedding the
same definition twice gives each embedding its own paths: their timers, and
their parallel flows' envelopes, never mix up.
"""

from __future__ import annotations

from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import DURABLE_JOURNALS, example
from tests.nodes import Boom, Effects
from wio import WIO, InstanceStatus, ManualClock, Runtime, Workflow
from wio.model import Embed, to_model
from wio.parallel import InFlow
from wio.paths import descend_model, format_path
from wio.renderers import render

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def onboarding() -> ModuleType:
    module = example("onboarding")
    module.side_effects.clear()
    module.forged.clear()
    return module


def application(module: ModuleType) -> Any:
    return module.Application(module.Person("Ann", "P1"), module.Person("Bob", "P2"))


def finish(instance: Any, clock: ManualClock) -> Any:
    while instance.advance() != InstanceStatus.FINISHED:
        clock.advance(3600)
    return instance


def test_the_same_definition_embedded_twice_runs_twice_with_its_own_paths(
    onboarding: ModuleType,
) -> None:
    clock = ManualClock(T0)
    instance = finish(
        Runtime(onboarding.workflow, clock=clock).create("o", application(onboarding)), clock
    )
    assert instance.result == "acc-P1"
    assert onboarding.side_effects == ["check Ann", "check Bob", "open Ann"]
    timers = [e.event.timer for e in instance.events if hasattr(e.event, "timer")]
    assert timers == ["/0/0/0/1", "/0/0/0/1", "/0/1/0/1", "/0/1/0/1"]
    # The model shows each embedding as a subprocess holding the KYC nodes.
    model = to_model(onboarding.workflow.wio)
    embedded = [
        (format_path(p), n.meta.name) for n, p in descend_model(model) if isinstance(n, Embed)
    ]
    assert embedded == [("/0/0", "KYC Applicant"), ("/0/1", "KYC Guarantor")]


def test_replay_rebuilds_the_instance_without_running_a_side_effect(
    onboarding: ModuleType,
) -> None:
    clock = ManualClock(T0)
    live = finish(
        Runtime(onboarding.workflow, clock=clock).create("o", application(onboarding)), clock
    )
    again = Runtime(onboarding.workflow, clock=clock, strict=True).rebuild(
        "o", application(onboarding), [e.event for e in live.events]
    )
    assert (again.status, again.result) == (InstanceStatus.FINISHED, "acc-P1")
    assert len(onboarding.side_effects) == 3


def test_a_business_error_inside_leaves_the_embedded_workflow(onboarding: ModuleType) -> None:
    onboarding.forged.add("P2")
    clock = ManualClock(T0)
    instance = finish(
        Runtime(onboarding.workflow, clock=clock).create("o", application(onboarding)), clock
    )
    assert instance.result == "rejected: Bob"
    assert onboarding.side_effects == ["check Ann", "check Bob"]


def test_input_and_output_are_mapped_and_a_workflow_or_a_wio_embeds() -> None:
    effects = Effects()
    inner = effects.step("Inner", 1)
    outer = WIO.embed(inner, input=lambda pair: pair[0], output=lambda pair, out: (out, pair[1]))
    assert Runtime(outer).create("e", (1, "x")).advance() == InstanceStatus.FINISHED
    named = WIO.embed(Workflow(inner, name="Adder", input_type=int))
    assert named.meta.name == "Adder"
    assert Runtime(named).create("n", 5).advance() == InstanceStatus.FINISHED
    with pytest.raises(Exception, match="expects a WIO node"):
        WIO.embed(42)


def test_parallel_flows_inside_two_embeddings_are_routed_apart() -> None:
    effects = Effects()
    both = WIO.parallel().flow("A", effects.step("a", 1)).flow("B", effects.step("b", 2))
    twice = WIO.embed(both, output=lambda x, out: x) >> WIO.embed(both)
    live = Runtime(twice).create("p", 0)
    live.advance()
    assert live.result == (1, 2)
    flows = [e.event.flow for e in live.events]
    assert all(isinstance(e.event, InFlow) for e in live.events)
    assert sorted(flows) == ["/0/0/0", "/0/0/1", "/1/0/0", "/1/0/1"]
    # The second embedding's events, replayed first, are not taken by the first one.
    events = [e.event for e in live.events]
    again = Runtime(twice).rebuild("p", 0, events[2:] + events[:2])
    assert [u.seq for u in again.unmatched_events] == [1, 2]


def test_an_embedding_renders_as_a_subprocess() -> None:
    effects = Effects()
    inner = effects.step("Inner Step").handle_error_with(effects.step("Fix"), error=Boom)
    drawn = render(WIO.embed(inner, name="Reusable"), "bpmn")
    assert '<bpmn:subProcess id="SubProcess_root" name="Reusable">' in drawn
    assert "Inner Step" in render(WIO.embed(inner, name="Reusable"), "mermaid")


@DURABLE_JOURNALS
def test_onboarding_survives_a_restart_between_the_embeddings(
    onboarding: ModuleType, open_fresh: Any
) -> None:
    clock = ManualClock(T0)
    first = Runtime(onboarding.workflow, journal=open_fresh(), clock=clock)
    first.create("o", application(onboarding)).advance()  # Ann checked, her cooling-off started
    del first
    clock.advance(3600)
    again = Runtime(onboarding.workflow, journal=open_fresh(), clock=clock).get("o")
    done = finish(again, clock)
    assert done.result == "acc-P1"
    assert onboarding.side_effects == ["check Ann", "check Bob", "open Ann"]
