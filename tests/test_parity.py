"""The sync and asyncio layers offer the same API: same public methods, same parameters."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import pytest

from tests.nodes import Effects, Ev
from wio import AsyncInstance, AsyncRuntime, Instance, InstanceStatus, Runtime


def public_api(cls: type[Any]) -> dict[str, Any]:
    """Each public method's and property's parameters, as declared (annotations included)."""
    api: dict[str, Any] = {}
    for name, member in inspect.getmembers(cls):
        if name.startswith("_"):
            continue
        if isinstance(inspect.getattr_static(cls, name), property):
            api[name] = "property"
        elif callable(member):
            api[name] = list(inspect.signature(member).parameters.values())
    return api


@pytest.mark.parametrize(
    ("sync", "asynchronous", "some"),
    [
        (Instance, AsyncInstance, {"advance", "step", "deliver", "signal", "status", "result"}),
        (Runtime, AsyncRuntime, {"create", "get", "rebuild", "instances", "close"}),
    ],
)
def test_sync_and_async_layers_have_the_same_api(
    sync: type[Any], asynchronous: type[Any], some: set[str]
) -> None:
    sync_api, async_api = public_api(sync), public_api(asynchronous)
    assert some <= set(sync_api)  # the comparison below is not vacuous
    assert sorted(sync_api) == sorted(async_api)
    for name, parameters in sync_api.items():
        assert async_api[name] == parameters, name


@pytest.mark.parametrize(
    ("sync", "asynchronous"), [(Instance, AsyncInstance), (Runtime, AsyncRuntime)]
)
def test_every_public_method_is_documented(sync: type[Any], asynchronous: type[Any]) -> None:
    for cls in (sync, asynchronous):
        for name in public_api(cls):
            assert inspect.getdoc(getattr(cls, name)), f"{cls.__name__}.{name}"


@pytest.mark.parametrize("layer", ["sync", "asyncio"])
def test_advance_stops_where_until_says_in_both_layers(layer: str) -> None:
    effects = Effects()
    workflow = effects.step("A", 1) >> effects.step("B", 1) >> effects.step("C", 1)
    stop = iter([False, True])  # asked before each step: one step, then stop

    def until() -> bool:
        return next(stop)

    if layer == "sync":
        instance: Any = Runtime(workflow).create("i", 0)
        status = instance.advance(until=until)
    else:

        async def advance() -> Any:
            created = await AsyncRuntime(workflow).create("i", 0)
            return created, await created.advance(until=until)

        instance, status = asyncio.run(advance())
    assert effects.calls == ["A"] and status == InstanceStatus.RUNNING
    assert [e.event for e in instance.events] == [Ev(1)]
