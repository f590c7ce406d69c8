"""Every kind of node, through every analysis and renderer.

The kinds come from the `Node` union itself, so a kind added to it without a
case here fails; and each analysis must see through it to the step inside
(the step's error, its event, its name), so a kind an analysis treats as a
leaf fails too, not only mypy.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from tests.nodes import Boom, Ev, Other
from wio import WIO, Err, Signal, Workflow, drafts
from wio import algebra as a
from wio.algebra import Node, escaping_errors
from wio.children import ChildFinished, ChildStarted
from wio.definition import event_types, infer_input_type
from wio.errors import DefinitionError
from wio.interpreter import RunStep, ready_effects, start
from wio.lint import lint
from wio.model import Dynamic, to_model
from wio.paths import descend, descend_model, format_path
from wio.renderers import render
from wio.timers import TimerReleased, TimerStarted

NAME = "Inner Step"
STOP = Signal("Stop", request=str, response=str)


class Order:
    """The annotated input of the steps here, as `infer_input_type` finds it."""


def effect(_order: Order) -> Ev:
    return Ev(1)


def handle(_order: Order, event: Ev) -> int | Err[Boom]:
    return event.value


def other_effect(_order: Order) -> Other:
    return Other(1)


def other_handle(_order: Order, event: Other) -> int:
    return event.value


def inner() -> WIO[Any, Any, Any]:
    """A step that declares an error and records an event."""
    return WIO.run(effect, handle, error=Boom).named(NAME)


def stop(_state: Any, request: str) -> Other:
    return Other(len(request))


def stop_trigger() -> WIO[Any, Any, Any]:
    return WIO.handle_signal(STOP, stop, lambda s, _: s, lambda *_: "ok")


# Each kind around a child (a composite kind), or made itself from the step's parts
# (a leaf kind: the child is unused), with the input type inference should find.
Make = Callable[[WIO[Any, Any, Any]], WIO[Any, Any, Any]]
COMPOSITES: dict[type[Any], tuple[Make, Any]] = {
    a.Sequence: (lambda child: child >> WIO.pure(1), Order),
    a.Transform: (lambda child: child.transform(lambda o: o, lambda _, out: out), object),
    a.FlatMap: (lambda child: child.flat_map(lambda _: WIO.pure(1)), Order),
    a.HandleError: (lambda child: WIO.run(other_effect, other_handle).handle_error_with(child), Order),
    a.Checkpoint: (lambda child: child.checkpointed(lambda *_: Other(1), lambda *_: 1, event=Other), Order),
    a.Fork: (lambda child: WIO.fork("Which?").branch("This", lambda _: True, child).otherwise("Else", WIO.pure(1)), object),
    a.Parallel: (lambda child: WIO.parallel("Both").flow("A", child).flow("B", WIO.pure(1)), object),
    a.ForEach: (lambda child: WIO.for_each(lambda order: [order], child, key=lambda _: "only", name="Each"), object),
    a.Embed: (lambda child: WIO.embed(child, name="Embedded Flow"), object),
    a.Compensated: (lambda child: child.compensate_with(WIO.pure(0).named("Undo")), Order),
    a.Compensating: (lambda child: child.compensating(), Order),
    a.Loop: (lambda child: WIO.repeat(child).until(lambda _: True, name="Done?"), object),
    a.Interruptible: (lambda child: child.interrupted_by(stop_trigger()), object),
}  # fmt: skip
# A leaf kind: the node, its own errors and events, and the input type.
LEAVES: dict[type[Any], tuple[Callable[[], WIO[Any, Any, Any]], list[type], list[type], Any]] = {
    a.Run: (inner, [Boom], [Ev], Order),
    a.Pure: (lambda: WIO.pure_from(lambda o: o, error=Boom).named(NAME), [Boom], [], object),
    a.HandleSignal: (lambda: WIO.handle_signal(Signal(NAME, request=str, response=str), lambda _, r: Ev(1), handle, lambda *_: "ok", event=Ev, error=Boom), [Boom], [Ev], object),
    a.Timer: (lambda: WIO.await_for(timedelta(days=1), name=NAME), [], [TimerStarted, TimerReleased], object),
    a.Recover: (lambda: WIO.recover(lambda o, e: 1, event=Ev), [], [Ev], object),
    a.End: (lambda: WIO.end(), [], [], object),
    a.RunChild: (lambda: WIO.run_child(Workflow(inner(), name="child"), id_of=str, name=NAME), [Boom], [ChildStarted, ChildFinished], object),
}  # fmt: skip
# The draft of each leaf kind that has one.
DRAFTS: dict[type[Any], Callable[[], WIO[Any, Any, Any]]] = {
    a.Run: lambda: drafts.step(NAME),
    a.HandleSignal: lambda: drafts.signal(NAME),
    a.Timer: lambda: drafts.timer(NAME),
    a.Recover: drafts.recovery,
    a.RunChild: lambda: drafts.child(NAME, "child"),
}

KINDS = [typing.get_origin(kind) for kind in typing.get_args(Node)]
COMPOSITE_KINDS = [kind for kind in KINDS if kind not in LEAVES]
RENDERINGS = ["mermaid", "bpmn", "dot", "text"]


def test_every_kind_is_here_as_a_composite_or_a_leaf() -> None:
    assert set(COMPOSITES) | set(LEAVES) == set(KINDS)
    assert not set(COMPOSITES) & set(LEAVES)


def node_of(kind: type[Any], child: WIO[Any, Any, Any] | None = None) -> WIO[Any, Any, Any]:
    if kind in LEAVES:
        node = LEAVES[kind][0]()
    else:
        node = COMPOSITES[kind][0](inner() if child is None else child)
    assert type(node) is kind
    return node


def path_of(root: WIO[Any, Any, Any], target: WIO[Any, Any, Any]) -> str:
    (found,) = [format_path(path) for node, path in descend(root) if node is target]
    return found


@pytest.mark.parametrize("kind", COMPOSITE_KINDS, ids=lambda k: k.__name__)
def test_analyses_see_the_step_inside(kind: type[Any]) -> None:
    node = node_of(kind)
    assert Boom in escaping_errors(node)
    assert Ev in list(event_types(node))
    assert infer_input_type(node) == COMPOSITES[kind][1]


@pytest.mark.parametrize("kind", list(LEAVES), ids=lambda k: k.__name__)
def test_analyses_of_a_leaf(kind: type[Any]) -> None:
    node = node_of(kind)
    _, errors, events, input_type = LEAVES[kind]
    assert escaping_errors(node) == errors
    assert list(event_types(node)) == events
    assert infer_input_type(node) == input_type
    assert lint(node) == []


@pytest.mark.parametrize("kind", COMPOSITE_KINDS, ids=lambda k: k.__name__)
def test_lint_finds_a_problem_inside(kind: type[Any]) -> None:
    problem = WIO.pure(1).handle_error_with(WIO.pure(2))  # its section raises no error
    node = node_of(kind, problem)
    found = {(p.code, format_path(p.path)) for p in lint(node)}
    assert ("impossible-error", path_of(node, problem)) in found


@pytest.mark.parametrize("kind", COMPOSITE_KINDS, ids=lambda k: k.__name__)
def test_a_draft_inside_is_found_and_refused(kind: type[Any]) -> None:
    draft = drafts.step(NAME)
    node = node_of(kind, draft)
    assert [(n, format_path(p)) for n, p in drafts.draft_nodes(node)] == [
        (draft, path_of(node, draft))
    ]
    with pytest.raises(DefinitionError, match=NAME):
        drafts.refuse_drafts(node)


@pytest.mark.parametrize("kind", list(LEAVES), ids=lambda k: k.__name__)
def test_drafts_of_a_leaf(kind: type[Any]) -> None:
    assert list(drafts.draft_nodes(node_of(kind))) == []  # real logic
    if kind in DRAFTS:
        draft = DRAFTS[kind]()
        assert type(draft) is kind
        assert [n for n, _ in drafts.draft_nodes(draft)] == [draft]


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.__name__)
def test_the_model_keeps_every_path(kind: type[Any]) -> None:
    node = node_of(kind)
    model = to_model(node)
    named = [
        n
        for n, _ in descend_model(model)
        if getattr(getattr(n, "meta", None), "name", None) == NAME
    ]
    assert named or kind in (a.Recover, a.End)
    # The model's nodes sit at the WIO tree's paths: a flat_map's continuation,
    # unknown until it runs, is the model's only extra node.
    wio_paths = {path for _, path in descend(node)}
    model_paths = {path for n, path in descend_model(model) if not isinstance(n, Dynamic)}
    assert model_paths == wio_paths


@pytest.mark.parametrize("fmt", RENDERINGS)
@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.__name__)
def test_renderers_draw_the_step_inside(kind: type[Any], fmt: str) -> None:
    drawn = render(node_of(kind), fmt, show_technical=True)
    assert isinstance(drawn, str)
    if kind not in (a.Recover, a.End):
        assert NAME in drawn


@pytest.mark.parametrize("kind", COMPOSITE_KINDS, ids=lambda k: k.__name__)
def test_the_interpreter_names_a_step_by_its_model_path(kind: type[Any]) -> None:
    node = node_of(kind)
    (effect,) = list(ready_effects(start(node, Order())))
    assert isinstance(effect, RunStep)
    assert format_path(effect.path) == path_of(node, effect.node)
