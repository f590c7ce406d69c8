"""Drafts: workflows sketched from names alone, to render and review before any logic.

    from wio import drafts as d

    sketch = d.signal("Submit") >> d.loop(d.signal("Review"), "Approved?") >> d.step("Publish")

A draft is made of ordinary nodes whose functions are placeholders, so it
renders in every format and exports its model like any workflow; a runtime
refuses to run it, naming the first draft node.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import attrs
from attrs import frozen

from wio import algebra
from wio.algebra import WIO, Meta, Node, own_logic
from wio.errors import DefinitionError
from wio.paths import Path, descend, format_path, walk_static
from wio.signals import Signal


@frozen
class DraftEvent:
    """The event a draft step would record."""


@frozen
class DraftCheckpoint:
    """The checkpoint event a draft section would save."""


@frozen
class _Placeholder:
    """Stands for logic not written yet; running it is refused before it is called."""

    name: str

    def __call__(self, *_args: Any) -> Any:
        raise DefinitionError(f"{self.name!r} is a draft: it has no logic to run")


def _placeholder(name: str) -> Callable[..., Any]:
    return _Placeholder(name)


def step(name: str, *, error: type[Any] | None = None) -> WIO[Any, Any, Any]:
    """An effectful step, known by its name (and the business error it may raise)."""
    return algebra.Run(
        effect=_placeholder(name),
        handle=_placeholder(name),
        event_type=DraftEvent,
        error_type=error,
        meta=Meta(name=name, error=None if error is None else error.__name__),
    )


def signal(name: str) -> WIO[Any, Any, Any]:
    """Waiting for a signal of that name."""
    return algebra.HandleSignal(
        signal=Signal(name, request=object, response=object),
        handle=_placeholder(name),
        update=_placeholder(name),
        respond=_placeholder(name),
        event_type=DraftEvent,
        meta=Meta(name=name),
    )


def timer(name: str, duration: timedelta | None = None) -> WIO[Any, Any, Any]:
    """Waiting a duration, given or yet to be decided."""
    return algebra.Timer(duration=duration or _placeholder(name), meta=Meta(name=name))


def choice(name: str, **branches: WIO[Any, Any, Any]) -> WIO[Any, Any, Any]:
    """An exclusive choice between named branches; the last is the default."""
    if not branches:
        raise DefinitionError(f"choice {name!r} needs at least one branch")
    names = list(branches)
    fork: algebra.Fork[Any, Any, Any] = algebra.Fork(branches=(), meta=Meta(name=name))
    for label in names[:-1]:
        fork = fork._add(algebra.Branch(label, _placeholder(label), branches[label]))
    last = names[-1]
    return fork._add(algebra.Branch(last, _always, branches[last], is_default=True))


def parallel(name: str, **flows: WIO[Any, Any, Any]) -> WIO[Any, Any, Any]:
    """Named flows that run at the same time; the section ends when all have."""
    if not flows:
        raise DefinitionError(f"parallel {name!r} needs at least one flow")
    section: algebra.Parallel[Any, Any, Any] = algebra.Parallel(flows=(), meta=Meta(name=name))
    for label, flow in flows.items():
        section = section.flow(label, flow)
    return section.combine(_placeholder(name))


def for_each(name: str, body: WIO[Any, Any, Any]) -> WIO[Any, Any, Any]:
    """``body`` run once per element of a collection named ``name`` (by key)."""
    return algebra.ForEach(
        items_of=_placeholder(name), body=body, key=_placeholder(name), meta=Meta(name=name)
    )


def embedded(name: str, workflow: WIO[Any, Any, Any]) -> WIO[Any, Any, Any]:
    """Another workflow, named ``name``, run inline as a subprocess."""
    return algebra.Embed(
        base=workflow, map_input=_placeholder(name), map_output=_placeholder(name),
        meta=Meta(name=name),
    )  # fmt: skip


@frozen
class DraftWorkflow:
    """The workflow a drafted child instance would run: a name, nothing to run yet."""

    name: str
    version: int = 1
    wio: WIO[Any, Any, Any] = attrs.field(factory=algebra.End)


def child(name: str, workflow: str) -> WIO[Any, Any, Any]:
    """A child instance of the workflow named ``workflow``, started and awaited
    (see `WIO.run_child`), as the step ``name``."""
    return algebra.RunChild(
        workflow=DraftWorkflow(workflow),
        id_of=_placeholder(name),
        map_input=_placeholder(name),
        map_output=_placeholder(name),
        meta=Meta(name=name),
    )


def undone_by(drafted: WIO[Any, Any, Any], undo: str) -> WIO[Any, Any, Any]:
    """``drafted``, with a drafted undo named ``undo`` (see `WIO.compensate_with`)."""
    return drafted.compensate_with(step(undo))


def loop(
    body: WIO[Any, Any, Any],
    name: str,
    *,
    exit: str = "Yes",
    restart: str = "No",
    on_restart: WIO[Any, Any, Any] | None = None,
) -> WIO[Any, Any, Any]:
    """Repeating ``body`` until the condition ``name`` holds."""
    return algebra.Loop(
        body=body,
        condition=_placeholder(name),
        on_restart=on_restart,
        exit_name=exit,
        restart_name=restart,
        meta=Meta(name=name),
    )


def checkpoint(section: WIO[Any, Any, Any]) -> WIO[Any, Any, Any]:
    """A checkpointed section."""
    return algebra.Checkpoint(
        base=section,
        save_state=_placeholder("checkpoint"),
        recover_state=_placeholder("checkpoint"),
        event_type=DraftCheckpoint,
    )


def recovery() -> WIO[Any, Any, Any]:
    """A recovery from a checkpoint."""
    return algebra.Recover(recover_state=_placeholder("recovery"), event_type=DraftCheckpoint)


def _always(_input: Any) -> bool:
    return True


def draft_nodes(workflow: WIO[Any, Any, Any]) -> Iterator[tuple[Node, Path]]:
    """Every node of ``workflow`` that is a draft, with its path."""
    for node, path in descend(workflow):
        if any(isinstance(fn, _Placeholder) for fn in own_logic(node)):
            yield node, path


# Workflows already found free of drafts, by identity: a process builds many runtimes
# over one definition, and checking a 100k-node tree each time would cost more than
# replaying it. Weak values, so a checked definition can still be collected.
_checked: weakref.WeakValueDictionary[int, WIO[Any, Any, Any]] = weakref.WeakValueDictionary()


def _contains_draft(workflow: WIO[Any, Any, Any]) -> bool:
    """Whether any node holds a placeholder: a flat scan, without paths."""
    return any(
        isinstance(fn, _Placeholder) for node in walk_static(workflow) for fn in own_logic(node)
    )


def refuse_drafts(workflow: WIO[Any, Any, Any]) -> None:
    """Raise `DefinitionError` if ``workflow`` contains a draft node."""
    if _checked.get(id(workflow)) is workflow:
        return
    if not _contains_draft(workflow):
        _checked[id(workflow)] = workflow
        return
    for node, path in draft_nodes(workflow):
        name = node.meta.name or type(node).__name__
        raise DefinitionError(
            f"{name!r} at {format_path(path)} is a draft: drafts render but cannot run; "
            "replace it with a real step before running the workflow"
        )
