"""Loops: repeat a body until a condition holds, with an optional restart flow."""

from __future__ import annotations

import json

import jsonschema

from tests.conftest import ROOT
from tests.diagram_workflows import looping
from tests.nodes import Boom, Effects
from wio import WIO, Err, InstanceStatus, Runtime
from wio.model import from_json, to_json, to_model, unstructure


def test_the_body_repeats_until_the_condition_holds() -> None:
    effects = Effects()
    loop = WIO.repeat(effects.step("Count", 1)).until(lambda x: x >= 3, name="Enough?")
    instance = Runtime(loop).create("i", 0)
    assert instance.advance() == InstanceStatus.FINISHED
    assert instance.result == 3 and effects.calls == ["Count"] * 3


def test_on_restart_runs_between_iterations() -> None:
    effects = Effects()
    loop = WIO.repeat(effects.step("Review", 1)).until(
        lambda x: x > 20, on_restart=effects.step("Revise", 10)
    )
    instance = Runtime(loop).create("i", 0)
    instance.advance()
    assert effects.calls == ["Review", "Revise", "Review", "Revise", "Review"]
    assert instance.result == 23
    assert [r.path for r in instance.progress] == [(0,), (1,), (0,), (1,), (0,)]


def test_a_business_error_leaves_the_loop() -> None:
    body = WIO.pure_from(lambda x: Err(Boom(x)) if x == 2 else x + 1, error=Boom)
    loop = WIO.repeat(body).until(lambda x: x > 5).handle_error_with(WIO.pure("stopped"))
    assert Runtime(loop).create("i", 0).advance() == InstanceStatus.FINISHED
    instance = Runtime(loop).create("j", 0)
    instance.advance()
    assert instance.result == "stopped"


def test_replaying_thousands_of_iterations_rebuilds_the_state() -> None:
    effects = Effects()
    loop = WIO.repeat(effects.step("Tick", 1)).until(lambda x: x >= 5_000)
    live = Runtime(loop).create("i", 0)
    live.advance()
    assert len(live.events) == 5_000
    effects.calls.clear()
    replayed = Runtime(loop, strict=True).rebuild("i", 0, [e.event for e in live.events])
    assert replayed.result == 5_000 and effects.calls == []
    assert replayed.progress == live.progress


def test_loops_in_the_model_round_trip_and_fit_the_schema() -> None:
    model = to_model(looping())
    assert from_json(to_json(model)) == model
    data = unstructure(model)
    jsonschema.validate(data, json.loads((ROOT / "docs" / "model.schema.json").read_text()))
    loop = data["steps"][1]["branches"][0]["base"]
    assert (loop["_type"], loop["meta"]["name"], loop["exit"], loop["restart"]) == (
        "Loop", "Approved?", "Approved", "Changes",
    )  # fmt: skip
    assert loop["on_restart"]["steps"][1]["on_restart"] is None


def test_mermaid_draws_the_condition_and_the_way_back() -> None:
    from wio.renderers import render

    chart = str(render(looping(), "mermaid"))
    assert 'n1_0{"Approved?"}' in chart
    assert 'n1_0 -->|"Changes"| n1_0_1_0' in chart  # to the restart flow
    assert 'n1_0_1_1 -->|"Yes"| n1_0_0' in chart  # the inner loop exits back to the body
    assert 'n1_0 -->|"Approved"| n1_j' not in chart and 'n1_0 -->|"Approved"| n2' in chart
