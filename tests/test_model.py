"""The model JSON: exact values, round trips, the schema and snapshots of every example."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from tests.conftest import ROOT, example
from tests.nodes import Boom, Effects, restore, save
from wio import WIO, Err
from wio.model import ModelFormatError, from_json, structure, to_json, to_model, unstructure

EXAMPLES = {
    "checkpointing": ["my_workflow", "checkpointed", "recovery"],
    "order": ["order_workflow"],
    "evolution_v1": ["workflow"],
    "evolution_v2": ["workflow"],
    "approval": ["workflow"],
    "drafts": ["workflow"],
    "fulfilment": ["workflow"],
    "packing": ["workflow", "checked_lines"],
    "onboarding": ["workflow"],
    "booking": ["workflow"],
}
ALL = [(module, attr) for module, attrs in EXAMPLES.items() for attr in attrs]
SCHEMA = json.loads((ROOT / "docs" / "model.schema.json").read_text())


def test_the_cards_checkpoint_example_exports_exactly() -> None:
    module = example("checkpointing")
    assert to_json(module.checkpointed) == (
        '{"base": {"meta": {"name": "My Workflow", "error": null}, "_type": "Pure"}, '
        '"_type": "Checkpoint"}'
    )
    assert to_json(module.recovery) == '{"_type": "Recovery"}'


def kitchen_sink() -> WIO[Any, Any, Any]:
    effects = Effects()
    fork = (
        WIO.fork("Which?")
        .branch("Small", lambda x: x < 10, effects.step("Small Step"))
        .otherwise("Large", WIO.end())
    )
    body = WIO.pure_from(lambda x: Err(Boom(x)) if x < 0 else x, error=Boom).named(
        "Check"
    ) >> fork.described("Routes by size")
    from tests.harness.review import await_review

    return (
        body.handle_error_with(WIO.pure(0).named("Fallback")).checkpointed(save, restore)
        >> WIO.pure_from(lambda x: x).flat_map(lambda v: WIO.pure(v)).map(str)
        >> WIO.recover(restore).provide_input(1)
        >> await_review
    )


def wio_of(module: str, attr: str) -> Any:
    found = getattr(example(module), attr)
    return getattr(found, "wio", found)  # a wio.Workflow's model is its WIO's


@pytest.mark.parametrize(("module", "attr"), ALL)
def test_every_example_round_trips_and_fits_the_schema(module: str, attr: str) -> None:
    model = to_model(wio_of(module, attr))
    assert from_json(to_json(model)) == model
    jsonschema.validate(unstructure(model), SCHEMA)


def test_every_node_kind_round_trips_and_fits_the_schema() -> None:
    model = to_model(kitchen_sink())
    data = unstructure(model)
    kinds = set()

    def collect(value: Any) -> None:
        if isinstance(value, dict):
            kinds.add(value.get("_type"))
            for item in value.values():
                collect(item)
        elif isinstance(value, list):
            for item in value:
                collect(item)

    collect(data)
    assert kinds - {None} == {
        "Sequence", "Pure", "RunIO", "HandleError", "Fork", "Checkpoint", "Recovery", "End",
        "Dynamic", "HandleSignal",
    }  # fmt: skip
    assert structure(data) == model
    jsonschema.validate(data, SCHEMA)
    assert data["steps"][0]["base"]["base"]["steps"][1]["meta"]["description"] == "Routes by size"


def test_transforms_are_transparent_and_flat_map_is_dynamic() -> None:
    assert to_model(WIO.pure(1).map(str).named("N")) == to_model(WIO.pure(1).named("N"))
    data = unstructure(to_model(WIO.pure(1).flat_map(lambda v: WIO.pure(v))))
    assert [s["_type"] for s in data["steps"]] == ["Pure", "Dynamic"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not JSON"),
        ('{"_type": "Bogus"}', "unknown node _type 'Bogus'"),
        ("[1]", "expected a JSON object with _type"),
        ('{"_type": "Pure", "meta": {"name": 3, "error": null}}', "expected str, got 3 @ model.meta.name"),
        ('{"_type": "Pure", "meta": {"name": null, "error": null}, "x": 1}', "extra fields found (x)"),
        ('{"_type": "Sequence", "steps": [{"_type": "End"}, {"_type": "Nope"}]}', "@ model.steps[1]"),
        ('{"_type": "Checkpoint"}', "required field missing @ model.base"),
    ],
)  # fmt: skip
def test_bad_model_json_says_what_and_where(text: str, message: str) -> None:
    with pytest.raises(ModelFormatError) as raised:
        from_json(text)
    assert message in str(raised.value)


@pytest.fixture
def json_snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(JSONSnapshotExtension)


@pytest.mark.parametrize(("module", "attr"), ALL)
def test_model_json_snapshot(module: str, attr: str, json_snapshot: SnapshotAssertion) -> None:
    assert unstructure(to_model(wio_of(module, attr))) == json_snapshot


def test_a_for_each_section_round_trips_and_fits_the_schema() -> None:
    from wio.for_each import BY_POSITION

    body = Effects().step("Pack")
    for key, shown in [(lambda x: x, "key"), (BY_POSITION, "position")]:
        model = to_model(WIO.for_each(lambda xs: xs, body, key=key, name="Lines"))
        data = unstructure(model)
        assert data["_type"] == "ForEach" and data["key"] == shown
        assert data["base"]["meta"]["name"] == "Pack" and data["meta"]["name"] == "Lines"
        assert structure(data) == model and from_json(to_json(model)) == model
        jsonschema.validate(data, SCHEMA)
    bad = {**unstructure(model), "key": "index"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, SCHEMA)


def test_a_workflow_with_a_cleanup_flow_is_modelled_with_it() -> None:
    """`WithCleanup` around the tree: it fits the schema, round-trips, and is only ever
    a root; a workflow without a cleanup keeps its tree's model, byte for byte."""
    from wio import Workflow
    from wio.cancellation import declares_cleanup
    from wio.model import WithCleanup
    from wio.worker import registered_model

    shop = example("shop").workflow
    model = to_model(shop)
    assert isinstance(model, WithCleanup) and model.base == to_model(shop.wio)
    assert model.on_cancel == to_model(shop.on_cancel)
    data = unstructure(model)
    assert list(data) == ["base", "on_cancel", "_type"] and data["_type"] == "WithCleanup"
    jsonschema.validate(data, SCHEMA)
    assert from_json(to_json(shop)) == model and structure(data) == model
    assert registered_model(shop) == data and declares_cleanup(data)
    plain = Workflow(shop.wio, name="shop")
    assert to_json(plain) == to_json(shop.wio) and not declares_cleanup(registered_model(plain))
    # What workers registered before the WithCleanup root: the cleanup beside the tree.
    assert declares_cleanup({**unstructure(to_model(shop.wio)), "on_cancel": data["on_cancel"]})
    nested = {"_type": "Sequence", "steps": [data, data]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(nested, SCHEMA)
    with pytest.raises(ModelFormatError, match=r"only a model's root @ model.steps\[0\]"):
        structure(nested)
    with pytest.raises(ModelFormatError, match=r"required field missing @ model\.on_cancel"):
        structure({"_type": "WithCleanup", "base": data["base"]})
