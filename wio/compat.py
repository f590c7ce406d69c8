"""Which in-flight instances a new version of a workflow can take over.

`compare(old, new)` diffs the static models of two versions and classifies
every change by the instances it breaks. The rules come from event-sourced
replay: an instance's journal is a sequence of events, each recorded by one
node (named by its model path); a change is safe for an instance when strict
replay of that journal against the new version consumes every event at the
corresponding node and stops at the same place. Replay matches an event to the
node that waits for its type, so what matters is:

- which nodes record events (pure steps, forks and names record none);
- their order (a node that needs an event where the journal has another breaks);
- their event types and signal names (what a waiting node accepts);
- the paths of timers and parallel flows, which their events record;
- checkpoints: a journal holding a section's checkpoint event replays the whole
  section from that event, so changes inside it are safe for that instance;
- the cleanup flow (`Workflow.on_cancel`, under `wio.paths.CLEANUP`), compared
  as a tree of its own: its events follow the cancellation, not the workflow's
  steps, so it runs neither before nor after any of them.

Pure functions over models: no interpreter, runtime or user code runs. The
model holds no code, so changed conditions and pure functions are invisible
here; `wio replay` checks those against real journals. See docs/compat.md.
"""

from __future__ import annotations

import enum
import itertools
import json
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any, Literal, assert_never

from attrs import frozen

from wio import algebra, model
from wio.algebra import WIO
from wio.codec import EventSpec
from wio.definition import Workflow
from wio.paths import (
    BASE,
    CLEANUP,
    COMPENSATION,
    ERROR_HANDLER,
    INTERRUPTION_HANDLER,
    ON_RESTART,
    ROOT,
    TRIGGER,
    Path,
    child,
    children,
    descend,
    descend_model,
    format_path,
    within,
)

ConditionKind = Literal[
    "events_at", "events_in", "events_from", "events_after", "reached_after", "past", "not_past"
]


class Verdict(enum.StrEnum):
    SAFE = "safe"  # every in-flight instance replays the same under the new version
    SAFE_PAST = "safe-past"  # breaking only for instances that have not passed a checkpoint
    BREAKING = "breaking"  # breaking for the instances its conditions describe
    RECOVERY = "recovery"  # a checkpoint became a recovery: only instances past it move


@frozen
class Condition:
    """A fact about one instance's journal, stated with an old model path.

    - ``events_at``: it holds an event recorded at ``path`` itself (a checkpoint's);
    - ``events_in``: it holds an event recorded at ``path`` or under it;
    - ``events_from``: ... at ``path``, under it, or at a node that runs after it;
    - ``events_after``: ... at a node that runs after ``path`` (not under it);
    - ``reached_after``: it holds such an event, or waits at such a node;
    - ``past``: its latest event in the checkpointed section at ``path`` is the
      checkpoint event (in a loop, the section may run again: then it is not);
    - ``not_past``: it is not past that checkpoint.
    """

    kind: ConditionKind
    path: Path


@frozen
class Change:
    """One difference between the versions, and which instances it breaks.

    An instance is broken when any ``when_any`` condition holds for it and no
    ``unless_any`` condition does. Paths are those of the old (``old_path``)
    and new (``new_path``) models; None where the node exists on one side only.
    """

    kind: str
    verdict: Verdict
    old_path: Path | None
    new_path: Path | None
    old_name: str | None
    new_name: str | None
    detail: str
    when_any: tuple[Condition, ...] = ()
    unless_any: tuple[Condition, ...] = ()


@frozen
class CompatReport:
    """Every change from ``old`` to ``new``, in old-model order.

    ``branching`` holds the old paths of forks and parallel sections, whose
    children run as alternatives rather than one after another, and ``loops``
    those of loops, whose bodies run again: what "a node that runs after"
    needs to know.
    """

    changes: tuple[Change, ...]
    branching: frozenset[Path]
    loops: frozenset[Path]

    @property
    def compatible(self) -> bool:
        """Whether every change is safe for every in-flight instance."""
        return all(change.verdict is Verdict.SAFE for change in self.changes)

    def breaking_for(
        self, event_paths: Sequence[Path], waiting_at: Collection[Path] = ()
    ) -> tuple[Change, ...]:
        """The changes that break an instance whose journal holds events recorded
        at ``event_paths``, in journal order (old model paths: a checkpoint event
        at its checkpoint's path, a parallel flow's event at the inner node's),
        and that waits at the nodes at ``waiting_at`` (one per running flow)."""
        return tuple(c for c in self.changes if self.affects(c, event_paths, waiting_at))

    def affects(
        self, change: Change, event_paths: Sequence[Path], waiting_at: Collection[Path] = ()
    ) -> bool:
        """Whether ``change`` breaks an instance with events at ``event_paths``
        that waits at ``waiting_at``."""

        def holds(condition: Condition) -> bool:
            if condition.kind == "reached_after" and any(
                runs_after(q, condition.path, self.branching) for q in waiting_at
            ):
                return True
            return _holds(condition, event_paths, self.branching, self.loops)

        return any(map(holds, change.when_any)) and not any(map(holds, change.unless_any))


def _holds(
    condition: Condition,
    event_paths: Sequence[Path],
    branching: Collection[Path],
    loops: Collection[Path],
) -> bool:
    path = condition.path
    match condition.kind:
        case "past":
            return _past(path, event_paths, loops)
        case "not_past":
            return not _past(path, event_paths, loops)
        case "events_at":
            return path in event_paths
        case "events_in":
            return any(within(q, path) for q in event_paths)
        case "events_after" | "reached_after":
            return _repeated(path, event_paths, loops) or any(
                runs_after(q, path, branching) for q in event_paths
            )
        case "events_from":
            return _repeated(path, event_paths, loops) or any(
                within(q, path) or runs_after(q, path, branching) for q in event_paths
            )
    raise AssertionError(f"unknown condition {condition.kind!r}")  # pragma: no cover


def _past(checkpoint: Path, event_paths: Sequence[Path], loops: Collection[Path]) -> bool:
    """Whether the journal's latest event in the checkpointed section is its
    checkpoint event (the section completed, each time it ran), and no loop
    around it has since begun another iteration that has yet to reach it."""
    inside = [i for i, q in enumerate(event_paths) if within(q, checkpoint)]
    if not inside or event_paths[inside[-1]] != checkpoint:
        return False
    later = event_paths[inside[-1] + 1 :]
    return not any(
        within(q, loop) and q < checkpoint
        for loop in loops
        if within(checkpoint, loop) and loop != checkpoint
        for q in later
    )


def _repeated(path: Path, event_paths: Sequence[Path], loops: Collection[Path]) -> bool:
    """Whether a loop around ``path`` began another iteration: then the instance
    went past every point of the loop, whatever paths its events name."""
    for loop in loops:
        if loop == path or not within(path, loop):
            continue
        inside = [q for q in event_paths if within(q, loop)]
        if any(later <= earlier for earlier, later in itertools.pairwise(inside)):
            return True
    return False


def runs_after(later: Path, earlier: Path, branching: Collection[Path]) -> bool:
    """Whether the node at ``later`` runs after the node at ``earlier`` (not inside it).

    Siblings run in index order (sequence steps, a loop's body then its restart
    step, a section then its handler), except the branches of a fork and the
    flows of a parallel section, which are alternatives. An ancestor's event
    (a checkpoint's) is recorded after its section. The cleanup flow and the
    workflow's tree are apart: a cancellation may come anywhere in the tree.
    """
    if within(later, CLEANUP) != within(earlier, CLEANUP):
        return False
    if within(later, earlier):
        return False
    if within(earlier, later):
        return True
    depth = next(i for i, (a, b) in enumerate(zip(later, earlier, strict=False)) if a != b)
    return earlier[:depth] not in branching and later[depth] > earlier[depth]


# -- comparing ---------------------------------------------------------------

Version = model.Model | WIO[Any, Any, Any] | Workflow[Any, Any, Any]


def compare(old: Version, new: Version) -> CompatReport:
    """Classify every change from ``old`` to ``new`` (models, WIO trees or workflows).

    Given WIO trees, the checkpoint and recovery event types and signal request
    types, which the model JSON does not carry, are compared too. Workflows'
    cleanup flows (`Workflow.on_cancel`) are compared with each other.
    """
    old_model, old_facts = _prepared(old)
    new_model, new_facts = _prepared(new)
    branching = frozenset(_paths_of(old_model, (model.Fork, model.Parallel)))
    loops = frozenset(_paths_of(old_model, (model.Loop,)))
    possible = _Possible(old_model, branching, loops)
    differ = _Differ(old_facts, new_facts, list(_handlers(old_model)), possible)
    (old_tree, old_cleanup), (new_tree, new_cleanup) = map(model.parts, (old_model, new_model))
    differ.nodes(old_tree, new_tree, ROOT, ROOT, ())
    differ.cleanup(old_cleanup, new_cleanup)
    changes = sorted(differ.changes, key=_order)
    return CompatReport(tuple(changes), branching, loops)


def _order(change: Change) -> tuple[Path, Path]:
    return (change.old_path or (), change.new_path or ())


def _prepared(version: Version) -> tuple[model.Model, dict[Path, str] | None]:
    if isinstance(version, WIO | Workflow):
        facts: dict[Path, str] = {}
        if isinstance(version, Workflow):
            _collect_facts(version.wio, facts)
            if version.on_cancel is not None:
                _collect_facts(version.on_cancel, facts, CLEANUP)
        else:
            _collect_facts(version, facts)
        return model.to_model(version), facts
    return version, None


def _collect_facts(version: WIO[Any, Any, Any], facts: dict[Path, str], at: Path = ROOT) -> None:
    """What the model leaves out but replay checks: checkpoint and recovery event
    types, signal request types, and the names steps' events are stored under."""
    for node, path in descend(version, at):
        if isinstance(node, algebra.Checkpoint | algebra.Recover):
            facts[path] = node.event_type.__name__
        elif isinstance(node, algebra.Run):
            facts[path] = _stored_name(node.event_type)
        elif isinstance(node, algebra.HandleSignal):
            facts[path] = getattr(node.signal.request, "__name__", repr(node.signal.request))


def _handlers(node: model.Model) -> Iterable[Path]:
    """The paths of the error handlers."""
    return _paths_of(node, (model.HandleError,))


def _stored_name(event_type: type[Any]) -> str:
    """The name the journal stores an event type under (see `wio.event`)."""
    spec = getattr(event_type, "__wio_event__", None)
    return spec.name if isinstance(spec, EventSpec) else event_type.__name__


def _paths_of(root: model.Model, kinds: tuple[type[Any], ...]) -> Iterable[Path]:
    """The paths of the nodes of these kinds, in the tree and in its cleanup flow."""
    tree, cleanup = model.parts(root)
    trees = [(tree, ROOT)] if cleanup is None else [(tree, ROOT), (cleanup, CLEANUP)]
    return (
        path
        for top, at in trees
        for found, path in descend_model(top, at)
        if isinstance(found, kinds)
    )


def _children(node: model.ModelNode) -> list[model.ModelNode]:
    return [kid.node for kid in children(node)]


def records_events(node: model.ModelNode) -> bool:
    """Whether running ``node`` may record events (a flat_map continuation may)."""
    if isinstance(node, model.RunIO | model.HandleSignal | model.Timer | model.Recovery):
        return True
    if isinstance(node, model.Checkpoint | model.Dynamic):
        return True
    return any(records_events(kid) for kid in _children(node))


def needs_events(node: model.ModelNode) -> bool:
    """Whether replay can pass ``node`` only by consuming events, or stops there
    (an end): an instance with later events cannot replay through it unless
    its journal holds them."""
    if isinstance(node, model.End):
        return True
    return records_events(node) or any(needs_events(kid) for kid in _children(node))


def _name(node: model.ModelNode | None) -> str | None:
    meta = getattr(node, "meta", None)
    return meta.name if isinstance(meta, model.NodeMeta) else None


def _kind(node: model.ModelNode) -> str:
    return type(node).__name__


def _describe(node: model.ModelNode) -> str:
    name = _name(node)
    event = getattr(node, "event", None)
    what = _kind(node) + (f" {name!r}" if name else "")
    return what + (f" recording {event}" if event else "")


Item = tuple[model.ModelNode, Path]


def _items(node: model.ModelNode, path: Path) -> list[Item]:
    """A node as the steps it runs in order: nested sequences flattened, each
    step with its own path (so a regrouped sequence aligns step by step)."""
    if isinstance(node, model.Sequence):
        return [item for i, step in enumerate(node.steps) for item in _items(step, child(path, i))]
    return [(node, path)]


def _similar(old: model.ModelNode, new: model.ModelNode) -> bool:
    """Whether two nodes are the same step in two versions: equal, or of one kind
    with the same name or the same event."""
    if old == new:
        return True
    if type(old) is not type(new):
        return False
    if isinstance(old, model.Sequence):
        return False
    name = _name(old)
    if name is not None and name == _name(new):
        return True
    event = getattr(old, "event", None)
    if event is not None and event == getattr(new, "event", None):
        return True
    return _name(new) is None and name is None and not isinstance(old, model.RunIO)


# The nodes whose events record their path, so that replay matches them only at
# that path: a timer's events name the timer, a parallel section's the flow. Other
# events match by type wherever their node moved.
_PATH_IN_EVENTS = (model.Timer, model.Parallel)

_WRAPPERS = (model.HandleError, model.Checkpoint, model.Interruptible, model.Loop)


def _wrapped(node: model.ModelNode) -> model.ModelNode | None:
    return node.base if isinstance(node, _WRAPPERS) else None


_RECORDING = (model.RunIO, model.HandleSignal, model.Timer, model.Recovery, model.Checkpoint)


class _Possible:
    """Whether a condition can hold for any instance of the old version: nothing
    runs after the last step of the workflow, for example, so a step appended
    there breaks no in-flight instance."""

    def __init__(
        self, old: model.Model, branching: frozenset[Path], loops: frozenset[Path]
    ) -> None:
        self.branching = branching
        self.loops = loops
        self.nodes = list(_paths_of(old, (object,)))
        # A flat_map continuation records events under its own path.
        self.recording = list(_paths_of(old, (*_RECORDING, model.Dynamic)))

    def __call__(self, condition: Condition) -> bool:
        if condition.kind not in ("events_after", "reached_after"):
            return True
        path = condition.path
        if any(within(path, loop) and loop != path for loop in self.loops):
            return True  # a later iteration runs it again
        candidates = self.recording if condition.kind == "events_after" else self.nodes
        return any(runs_after(q, path, self.branching) for q in candidates)


class _Differ:
    def __init__(
        self,
        old_facts: dict[Path, str] | None,
        new_facts: dict[Path, str] | None,
        old_handlers: list[Path],
        possible: Callable[[Condition], bool],
    ) -> None:
        self.possible = possible
        self.old_facts = old_facts
        self.new_facts = new_facts
        self.old_handlers = old_handlers
        self.changes: list[Change] = []

    # -- recording -------------------------------------------------------

    def add(
        self,
        kind: str,
        old: Item | None,
        new: Item | None,
        detail: str,
        when: Iterable[Condition] = (),
        shields: tuple[Path, ...] = (),
        unless: Iterable[Condition] = (),
        verdict: Verdict | None = None,
    ) -> None:
        when_any = tuple(filter(self.possible, when))
        unless_any = (*unless, *(Condition("past", s) for s in shields)) if when_any else ()
        if verdict is None:
            if not when_any:
                verdict = Verdict.SAFE
            elif any(c.kind == "past" for c in unless_any):
                verdict = Verdict.SAFE_PAST
            else:
                verdict = Verdict.BREAKING
        self.changes.append(
            Change(
                kind,
                verdict,
                None if old is None else old[1],
                None if new is None else new[1],
                None if old is None else _name(old[0]),
                None if new is None else _name(new[0]),
                detail,
                when_any,
                tuple(unless_any),
            )
        )

    def fact(self, facts: dict[Path, str] | None, path: Path) -> str | None:
        return None if facts is None else facts.get(path)

    def facts_differ(self, old_path: Path, new_path: Path) -> tuple[str, str] | None:
        before = self.fact(self.old_facts, old_path)
        after = self.fact(self.new_facts, new_path)
        if before is None or after is None or before == after:
            return None
        return before, after

    # -- nodes -----------------------------------------------------------

    def nodes(
        self,
        old: model.ModelNode,
        new: model.ModelNode,
        op: Path,
        np: Path,
        shields: tuple[Path, ...],
        after: Condition | None = None,
    ) -> None:
        """Compare the node at old path ``op`` with its counterpart at ``np``."""
        if isinstance(old, model.Sequence) or isinstance(new, model.Sequence):
            self.steps(_items(old, op), _items(new, np), shields, after)
            return
        if type(old) is not type(new):
            self.reshaped((old, op), (new, np), shields, after)
            return
        o, n = (old, op), (new, np)
        if isinstance(old, _PATH_IN_EVENTS) and op != np:
            recorded = (
                "its events record" if isinstance(old, model.Timer) else "its flows' events record"
            )
            self.add(
                "path-changed",
                o,
                n,
                f"{_describe(old)} moved from {format_path(op)} to {format_path(np)}; "
                f"{recorded} the old path",
                [Condition("events_in", op)],
                shields,
            )
        self.meta(o, n, shields)
        match old:
            case model.RunIO():
                assert isinstance(new, model.RunIO)
                stored = self.fact(self.old_facts, op)
                if old.event != new.event and stored and stored == self.fact(self.new_facts, np):
                    self.add(
                        "event-class-renamed",
                        o,
                        n,
                        f"records {new.event} instead of {old.event}, both stored as "
                        f"{stored!r}: recorded events load as the new class",
                    )
                elif old.event != new.event:
                    self.event_changed(o, n, old.event, new.event, shields)
                if old.retry != new.retry:
                    self.add("retry-changed", o, n, "the step's retry policy changed", ())
            case model.HandleSignal():
                assert isinstance(new, model.HandleSignal)
                if old.signal != new.signal:
                    self.add(
                        "signal-changed",
                        o,
                        n,
                        f"waits for signal {new.signal!r} instead of {old.signal!r}; recorded "
                        f"deliveries of {old.signal!r} no longer match",
                        [Condition("events_in", op)],
                        shields,
                    )
                if old.event != new.event:
                    self.event_changed(o, n, old.event, new.event, shields)
                request = self.facts_differ(op, np)
                if request is not None:
                    self.add(
                        "signal-request-changed",
                        o,
                        n,
                        f"signal {new.signal!r} takes {request[1]} instead of {request[0]}; "
                        "recorded requests are read as the new type",
                        [Condition("events_in", op)],
                        shields,
                    )
            case model.Timer():
                assert isinstance(new, model.Timer)
                if old.duration != new.duration:
                    self.add(
                        "timer-changed",
                        o,
                        n,
                        f"waits {new.duration or 'a computed duration'} instead of "
                        f"{old.duration or 'a computed duration'}; a started timer keeps the "
                        "release time its journal holds, later ones use the new duration",
                    )
            case model.Recovery():
                types = self.facts_differ(op, np)
                if types is not None:
                    self.add(
                        "recovery-event-changed",
                        o,
                        n,
                        f"recovers from {types[1]} instead of {types[0]}",
                        [Condition("events_in", op)],
                        shields,
                    )
            case model.Checkpoint():
                assert isinstance(new, model.Checkpoint)
                types = self.facts_differ(op, np)
                if types is not None:
                    self.add(
                        "checkpoint-event-changed",
                        o,
                        n,
                        f"saves {types[1]} instead of {types[0]}; journals past it hold {types[0]}",
                        [Condition("events_at", op)],
                        shields,
                    )
                    inner = shields
                else:
                    inner = (*shields, op)  # its event replays the whole section
                self.nodes(old.base, new.base, child(op, BASE), child(np, BASE), inner)
            case model.HandleError():
                assert isinstance(new, model.HandleError)
                self.nodes(old.base, new.base, child(op, BASE), child(np, BASE), shields)
                self.nodes(
                    old.handler,
                    new.handler,
                    child(op, ERROR_HANDLER),
                    child(np, ERROR_HANDLER),
                    shields,
                )
            case model.Loop():
                assert isinstance(new, model.Loop)
                self.loop(old, new, op, np, shields)
            case model.Interruptible():
                assert isinstance(new, model.Interruptible)
                self.interruptible(old, new, op, np, shields)
            case model.Fork():
                assert isinstance(new, model.Fork)
                self.fork(old, new, op, np, shields)
            case model.Parallel():
                assert isinstance(new, model.Parallel)
                self.parallel(old, new, op, np, shields)
            case model.ForEach():
                assert isinstance(new, model.ForEach)
                if old.key != new.key:
                    self.add(
                        "for-each-key-changed",
                        o,
                        n,
                        f"knows its elements by {new.key} instead of {old.key}; recorded "
                        "events are routed to elements by the old one",
                        [Condition("events_in", op)],
                        shields,
                    )
                self.nodes(old.base, new.base, child(op, BASE), child(np, BASE), shields)
            case model.Embed() | model.Compensating():
                assert isinstance(new, type(old))
                self.nodes(old.base, new.base, child(op, BASE), child(np, BASE), shields)
            case model.Compensated():
                assert isinstance(new, model.Compensated)
                self.nodes(old.base, new.base, child(op, BASE), child(np, BASE), shields)
                self.nodes(
                    old.undo, new.undo, child(op, COMPENSATION), child(np, COMPENSATION), shields
                )
            case model.Pure() | model.Dynamic() | model.End():
                pass
            case model.RunChild():
                assert isinstance(new, model.RunChild)
                if (old.workflow, old.version) != (new.workflow, new.version):
                    self.add(
                        "child-workflow-changed",
                        o,
                        n,
                        f"starts child workflow {new.workflow!r} version {new.version} instead "
                        f"of {old.workflow!r} version {old.version}; children started before "
                        "keep running the old one, and their results are read as before",
                        [Condition("events_in", op)],
                        shields,
                    )
            case model.Sequence():  # pragma: no cover - flattened above
                raise AssertionError("sequences are compared step by step")
            case _:
                assert_never(old)

    def meta(self, o: Item, n: Item, shields: tuple[Path, ...]) -> None:
        old_meta, new_meta = getattr(o[0], "meta", None), getattr(n[0], "meta", None)
        if not isinstance(old_meta, model.NodeMeta) or not isinstance(new_meta, model.NodeMeta):
            return
        if old_meta.name != new_meta.name:
            self.add(
                "renamed",
                o,
                n,
                f"named {new_meta.name!r} instead of {old_meta.name!r}; paths are positions, "
                "so only progress and diagrams show the new name",
            )
        if old_meta.description != new_meta.description:
            self.add("described", o, n, "its description changed")
        old_error = old_meta.error.name if old_meta.error else None
        new_error = new_meta.error.name if new_meta.error else None
        if old_error == new_error:
            return
        if isinstance(o[0], model.HandleError):
            # Which errors the handler takes decides, on replay, whether it runs.
            self.add(
                "handled-error-changed",
                o,
                n,
                f"handles {new_error or 'any error'} instead of {old_error or 'any error'}",
                [Condition("events_in", child(o[1], ERROR_HANDLER))],
                shields,
            )
        else:
            self.add(
                "error-changed",
                o,
                n,
                f"declares business error {new_error or 'none'} instead of {old_error or 'none'}",
            )

    def event_changed(
        self, o: Item, n: Item, before: str, after: str, shields: tuple[Path, ...]
    ) -> None:
        self.add(
            "event-type-changed",
            o,
            n,
            f"records {after} instead of {before}; recorded {before} events no longer match",
            [Condition("events_in", o[1])],
            shields,
        )

    # -- sequences -------------------------------------------------------

    def steps(
        self, old: list[Item], new: list[Item], shields: tuple[Path, ...], after: Condition | None
    ) -> None:
        """Align two step lists: equal steps anchor, the gaps between them pair up
        similar, wrapped and replaced steps; what is left was added or removed,
        or moved when an equal step is both."""
        removed: list[Item] = []
        added: list[tuple[Item, Condition | None]] = []

        def point(index: int) -> Condition | None:
            """Where a step inserted before old step ``index`` sits, for the instances past it."""
            if index < len(old):
                return Condition("events_from", old[index][1])
            if old:
                return Condition("events_after", old[-1][1])
            return after

        anchors = _common(old, new)
        i = j = 0
        for ai, aj in [*anchors, (len(old), len(new))]:
            self.gap(old, new, i, ai, j, aj, shields, point, removed, added)
            if ai < len(old):
                self.nodes(old[ai][0], new[aj][0], old[ai][1], new[aj][1], shields, point(ai + 1))
            i, j = ai + 1, aj + 1

        for item, where in added:
            twin = next((r for r in removed if r[0] == item[0]), None)
            if twin is not None:
                removed.remove(twin)
                self.moved(twin, item, where, shields)
            elif needs_events(item[0]):
                self.add(
                    "step-added",
                    None,
                    item,
                    f"{_describe(item[0])} added; replay needs its events where it stands",
                    [] if where is None else [where],
                    shields,
                )
            else:
                self.add("step-added", None, item, f"{_describe(item[0])} added, recording nothing")
        for item in removed:
            self.removed(item, shields)

    def gap(
        self,
        old: list[Item],
        new: list[Item],
        i: int,
        end_i: int,
        j: int,
        end_j: int,
        shields: tuple[Path, ...],
        point: Callable[[int], Condition | None],
        removed: list[Item],
        added: list[tuple[Item, Condition | None]],
    ) -> None:
        while i < end_i or j < end_j:
            if i == end_i:
                added.append((new[j], point(i)))
                j += 1
                continue
            if j == end_j:
                removed.append(old[i])
                i += 1
                continue
            o, n = old[i], new[j]
            if _similar(o[0], n[0]):
                self.nodes(o[0], n[0], o[1], n[1], shields, point(i + 1))
                i, j = i + 1, j + 1
                continue
            inner = _wrapped(n[0])
            if inner is not None:
                count = _run(old[i:end_i], _items(inner, child(n[1], BASE)))
                if count:
                    self.wrapped(old[i : i + count], n, shields, point(i + count))
                    i, j = i + count, j + 1
                    continue
            inner = _wrapped(o[0])
            if inner is not None:
                count = _run(new[j:end_j], _items(inner, child(o[1], BASE)))
                if count:
                    self.unwrapped(o, new[j : j + count], shields, point(i + 1))
                    i, j = i + 1, j + count
                    continue
            if isinstance(o[0], model.Checkpoint) and isinstance(n[0], model.Recovery):
                self.recovery(o, n, shields)
                i, j = i + 1, j + 1
                continue
            if any(_similar(o[0], later[0]) for later in new[j + 1 : end_j]):
                added.append((n, point(i)))
                j += 1
                continue
            if any(_similar(earlier[0], n[0]) for earlier in old[i + 1 : end_i]):
                removed.append(o)
                i += 1
                continue
            if type(o[0]) is type(n[0]):
                self.nodes(o[0], n[0], o[1], n[1], shields, point(i + 1))
            else:
                removed.append(o)
                added.append((n, point(i)))
            i, j = i + 1, j + 1

    def cleanup(self, old: model.ModelNode | None, new: model.ModelNode | None) -> None:
        """The cleanup flows: compared as trees when both versions declare one."""
        if old is not None and new is not None:
            self.nodes(old, new, CLEANUP, CLEANUP, ())
        elif old is not None:
            # An instance whose cleanup recorded events could not replay them.
            self.removed((old, CLEANUP), (), "cleanup-removed")
        elif new is not None:
            self.add(
                "cleanup-added", None, (new, CLEANUP),
                f"a cleanup flow ({_describe(new)}) added: instances cancelled from now on run it",
            )  # fmt: skip

    def reshaped(
        self, o: Item, n: Item, shields: tuple[Path, ...], after: Condition | None
    ) -> None:
        """Two nodes of different kinds at corresponding places."""
        self.steps([o], [n], shields, after)

    def removed(self, item: Item, shields: tuple[Path, ...], kind: str = "step-removed") -> None:
        node, path = item
        if records_events(node):
            self.add(
                kind,
                item,
                None,
                f"{_describe(node)} removed; events it recorded no longer match",
                [Condition("events_in", path)],
                shields,
            )
        else:
            self.add(kind, item, None, f"{_describe(node)} removed, it recorded nothing")

    def moved(
        self, old: Item, new: Item, where: Condition | None, shields: tuple[Path, ...]
    ) -> None:
        node, path = old
        detail = f"{_describe(node)} moved from {format_path(path)} to {format_path(new[1])}"
        if not needs_events(node):
            self.add("step-moved", old, new, detail + ", it records nothing")
            return
        start = path if where is None or where.kind != "events_from" else min(path, where.path)
        self.add(
            "step-moved",
            old,
            new,
            detail + "; instances that reached either place replay events out of order",
            [Condition("events_from", start)],
            shields,
        )

    def wrapped(
        self, old: list[Item], new: Item, shields: tuple[Path, ...], after: Condition | None
    ) -> None:
        """Old steps are now the base of a new section (checkpoint, error handler, ...)."""
        section, at = new
        first = old[0][1]
        base = _items(_base(section), child(at, BASE))
        span = (
            f"{format_path(first)}..{format_path(old[-1][1])}"
            if len(old) > 1
            else format_path(first)
        )
        match section:
            case model.Checkpoint():
                self.add(
                    "checkpoint-added",
                    old[0],
                    new,
                    f"steps at {span} now form a checkpointed section; instances past it have "
                    "no checkpoint event",
                    [Condition("events_after", old[-1][1])],
                    shields,
                )
                self.steps(old, base, shields, after)  # a new checkpoint shields no old journal
            case model.HandleError():
                handled = section.meta.error.name if section.meta.error else "any error"
                outer = self.enclosing_handlers(first)
                self.add(
                    "error-handler-added",
                    old[0],
                    new,
                    f"steps at {span} now have a handler for {handled}; instances that failed "
                    "there stay failed",
                    [Condition("events_in", h) for h in outer],
                    shields,
                )
                self.steps(old, base, shields, after)
            case model.Interruptible():
                trigger = section.trigger
                by_timer = isinstance(trigger, model.Timer)
                self.add(
                    "interruption-added",
                    old[0],
                    new,
                    f"steps at {span} are now interrupted by "
                    + (
                        "a timeout, started (and recorded) before them"
                        if by_timer
                        else f"signal {_name(trigger)!r}"
                    ),
                    [Condition("events_from", first)] if by_timer else [],
                    shields,
                )
                self.steps(old, base, shields, after)
            case model.Loop():
                self.add(
                    "loop-added",
                    old[0],
                    new,
                    f"steps at {span} now repeat; replay evaluates the loop's condition",
                    [Condition("events_after", old[-1][1])],
                    shields,
                )
                self.steps(old, base, shields, after)

    def enclosing_handlers(self, path: Path) -> list[Path]:
        """Old paths of the handlers of error handlers whose base holds ``path``: the
        ones a new inner handler would take errors from."""
        return [child(h, ERROR_HANDLER) for h in self.old_handlers if within(path, child(h, BASE))]

    def unwrapped(
        self, old: Item, new: list[Item], shields: tuple[Path, ...], after: Condition | None
    ) -> None:
        """An old section's wrapper is gone; its steps remain."""
        section, at = old
        base = _items(_base(section), child(at, BASE))
        match section:
            case model.Checkpoint():
                self.add(
                    "checkpoint-removed",
                    old,
                    new[0],
                    "the checkpoint is gone, its steps remain; journals past it hold a "
                    "checkpoint event nothing takes",
                    [Condition("events_at", at)],
                    shields,
                )
            case model.HandleError():
                self.add(
                    "error-handler-removed",
                    old,
                    new[0],
                    "the error handler is gone",
                    [Condition("events_in", child(at, ERROR_HANDLER))],
                    shields,
                )
            case model.Interruptible():
                self.add(
                    "interruption-removed",
                    old,
                    new[0],
                    "the interruption is gone",
                    [
                        Condition("events_in", child(at, TRIGGER)),
                        Condition("events_in", child(at, INTERRUPTION_HANDLER)),
                    ],
                    shields,
                )
            case model.Loop():
                self.add(
                    "loop-removed",
                    old,
                    new[0],
                    "the steps no longer repeat",
                    [Condition("events_in", at), Condition("events_after", at)],
                    shields,
                )
        self.steps(base, new, shields, after)

    def recovery(self, old: Item, new: Item, shields: tuple[Path, ...]) -> None:
        at = old[1]
        types = self.facts_differ(at, new[1])
        if types is not None:
            self.add(
                "checkpoint-replaced-by-recovery",
                old,
                new,
                f"the recovery takes {types[1]} but the checkpoint saved {types[0]}: "
                "no journal holds what it needs",
                [
                    Condition("events_in", at),
                    Condition("events_after", at),
                    Condition("not_past", at),
                ],
                shields,
            )
            return
        event = self.fact(self.old_facts, at) or self.fact(self.new_facts, new[1])
        saved = f" {event}" if event else ""
        self.add(
            "checkpoint-replaced-by-recovery",
            old,
            new,
            f"the checkpointed section at {format_path(at)} is replaced by a recovery that "
            f"consumes its checkpoint event{saved}",
            [Condition("not_past", at)],
            shields,
            verdict=Verdict.RECOVERY,
        )

    # -- sections --------------------------------------------------------

    def loop(
        self, old: model.Loop, new: model.Loop, op: Path, np: Path, shields: tuple[Path, ...]
    ) -> None:
        o, n = (old, op), (new, np)
        if (old.exit, old.restart) != (new.exit, new.restart):
            self.add("renamed", o, n, "the loop's exit and restart labels changed")
        self.nodes(old.base, new.base, child(op, BASE), child(np, BASE), shields)
        if old.on_restart is not None and new.on_restart is not None:
            self.nodes(
                old.on_restart,
                new.on_restart,
                child(op, ON_RESTART),
                child(np, ON_RESTART),
                shields,
            )
        elif old.on_restart is not None:
            self.removed((old.on_restart, child(op, ON_RESTART)), shields)
        elif new.on_restart is not None:
            restart = (new.on_restart, child(np, ON_RESTART))
            if needs_events(new.on_restart):
                self.add(
                    "step-added",
                    None,
                    restart,
                    f"{_describe(new.on_restart)} added between iterations; instances that "
                    "repeated the loop have no events for it",
                    [Condition("events_in", op), Condition("events_after", op)],
                    shields,
                )
            else:
                self.add("step-added", None, restart, "a restart step recording nothing added")

    def interruptible(
        self,
        old: model.Interruptible,
        new: model.Interruptible,
        op: Path,
        np: Path,
        shields: tuple[Path, ...],
    ) -> None:
        o, n = (old, op), (new, np)
        if type(old.trigger) is not type(new.trigger):
            self.add(
                "interruption-changed",
                o,
                n,
                f"interrupted by a {_kind(new.trigger)} instead of a {_kind(old.trigger)}",
                [Condition("events_in", op)],
                shields,
            )
        else:
            self.nodes(old.trigger, new.trigger, child(op, TRIGGER), child(np, TRIGGER), shields)
        self.nodes(old.base, new.base, child(op, BASE), child(np, BASE), shields)
        if old.handler is not None and new.handler is not None:
            self.nodes(
                old.handler,
                new.handler,
                child(op, INTERRUPTION_HANDLER),
                child(np, INTERRUPTION_HANDLER),
                shields,
            )
        elif old.handler is not None:
            self.removed((old.handler, child(op, INTERRUPTION_HANDLER)), shields)
        elif new.handler is not None:
            handler = (new.handler, child(np, INTERRUPTION_HANDLER))
            self.add(
                "interruption-handler-added",
                None,
                handler,
                f"{_describe(new.handler)} now runs after an interruption",
                [Condition("events_in", child(op, TRIGGER))] if needs_events(new.handler) else [],
                shields,
            )

    def fork(
        self, old: model.Fork, new: model.Fork, op: Path, np: Path, shields: tuple[Path, ...]
    ) -> None:
        """Branches pair by name. On replay the fork re-evaluates its conditions,
        which the model does not show, in branch order: the first that holds wins."""
        old_index = {b.name: i for i, b in enumerate(old.branches)}
        new_index = {b.name: j for j, b in enumerate(new.branches)}
        pairs = [(i, new_index[b.name]) for i, b in enumerate(old.branches) if b.name in new_index]
        lost = [i for i, b in enumerate(old.branches) if b.name not in new_index]
        gained = [j for j, b in enumerate(new.branches) if b.name not in old_index]
        for i in list(lost):  # a renamed branch: same position or same content
            twin = next((j for j in gained if new.branches[j].base == old.branches[i].base), None)
            if twin is None and i in gained and old.branches[i].default == new.branches[i].default:
                twin = i
            if twin is not None:
                lost.remove(i)
                gained.remove(twin)
                pairs.append((i, twin))
                self.add(
                    "branch-renamed",
                    (old.branches[i].base, child(op, i)),
                    (new.branches[twin].base, child(np, twin)),
                    f"fork branch {old.branches[i].name!r} is now {new.branches[twin].name!r}",
                )
        pairs.sort()
        order_kept = [j for _, j in pairs] == sorted(j for _, j in pairs)
        defaults_kept = all(old.branches[i].default == new.branches[j].default for i, j in pairs)
        if not (order_kept and defaults_kept):
            self.add(
                "branches-reordered",
                (old, op),
                (new, np),
                "the fork tries its branches in another order (or another default); "
                "replay may choose another branch",
                [Condition("events_in", op), Condition("events_after", op)],
                shields,
            )
        for i, j in pairs:
            self.nodes(
                old.branches[i].base, new.branches[j].base, child(op, i), child(np, j), shields
            )
        for i in lost:
            branch = old.branches[i]
            when = [Condition("events_in", child(op, i))]
            if not records_events(branch.base):  # who took it is not in the journal
                when.append(Condition("events_after", op))
            self.add(
                "branch-removed",
                (branch.base, child(op, i)),
                None,
                f"fork branch {branch.name!r} removed; instances that took it replay another",
                when,
                shields,
            )
        for j in gained:
            branch = new.branches[j]
            # Old branches now tried after it may lose their instances to it; those
            # tried before it keep theirs (the first condition that holds wins).
            later = [i for i, k in pairs if k > j]
            earlier = [i for i, k in pairs if k < j]
            when = [Condition("events_in", child(op, i)) for i in later]
            if later and any(not records_events(old.branches[i].base) for i in later):
                when.append(Condition("events_after", op))
            self.add(
                "branch-added",
                None,
                (branch.base, child(np, j)),
                f"fork branch {branch.name!r} added before "
                + (", ".join(repr(old.branches[i].name) for i in later) or "no old branch")
                + "; replay re-evaluates its condition for instances that took those",
                when,
                shields,
                unless=[Condition("events_in", child(op, i)) for i in earlier],
            )

    def parallel(
        self,
        old: model.Parallel,
        new: model.Parallel,
        op: Path,
        np: Path,
        shields: tuple[Path, ...],
    ) -> None:
        """Flows pair by name; each flow's events record the flow's path."""
        new_index = {f.name: j for j, f in enumerate(new.flows)}
        old_names = {f.name for f in old.flows}
        for i, flow in enumerate(old.flows):
            j = new_index.get(flow.name)
            if j is None:
                self.removed((flow.base, child(op, i)), shields, "flow-removed")
                continue
            if i != j:
                self.add(
                    "path-changed",
                    (flow.base, child(op, i)),
                    (new.flows[j].base, child(np, j)),
                    f"parallel flow {flow.name!r} moved from position {i} to {j}; its events "
                    "record the old position",
                    [Condition("events_in", child(op, i))],
                    shields,
                )
            self.nodes(flow.base, new.flows[j].base, child(op, i), child(np, j), shields)
        for j, flow in enumerate(new.flows):
            if flow.name in old_names:
                continue
            item = (flow.base, child(np, j))
            if needs_events(flow.base):
                self.add(
                    "flow-added",
                    None,
                    item,
                    f"parallel flow {flow.name!r} added; the section now completes only "
                    "after it, so instances past the section have no events for it",
                    [Condition("reached_after", op)],
                    shields,
                )
            else:
                self.add(
                    "flow-added",
                    None,
                    item,
                    f"parallel flow {flow.name!r} added, recording nothing",
                )


def _base(section: model.ModelNode) -> model.ModelNode:
    inner = _wrapped(section)
    assert inner is not None
    return inner


def _run(candidates: list[Item], base: list[Item]) -> int:
    """How many of ``candidates`` (from the first) a new section's ``base`` steps
    wrap: its first step is similar to the first candidate, its last to the last."""
    if not candidates or not base or not _similar(candidates[0][0], base[0][0]):
        return 0
    for count in range(min(len(candidates), len(base) + 2), 0, -1):
        if _similar(candidates[count - 1][0], base[-1][0]):
            return count
    return 1


def _common(old: list[Item], new: list[Item]) -> list[tuple[int, int]]:
    """Index pairs of a longest common subsequence of equal steps."""
    m, n = len(old), len(new)
    table = [[0] * (n + 1) for _ in range(m + 1)]
    for i in range(m - 1, -1, -1):
        for j in range(n - 1, -1, -1):
            if old[i][0] == new[j][0]:
                table[i][j] = table[i + 1][j + 1] + 1
            else:
                table[i][j] = max(table[i + 1][j], table[i][j + 1])
    pairs, i, j = [], 0, 0
    while i < m and j < n:
        if old[i][0] == new[j][0]:
            pairs.append((i, j))
            i, j = i + 1, j + 1
        elif table[i + 1][j] >= table[i][j + 1]:
            i += 1
        else:
            j += 1
    return pairs


# -- output --------------------------------------------------------------------

JSON_FORMAT = 1


def unstructure(report: CompatReport) -> dict[str, Any]:
    """The report as the JSON value ``wio compat --json`` prints (docs/compat.md)."""
    counts = {verdict.value: 0 for verdict in Verdict}
    for change in report.changes:
        counts[change.verdict.value] += 1
    return {
        "format": JSON_FORMAT,
        "compatible": report.compatible,
        "counts": counts,
        "branching": sorted(format_path(p) for p in report.branching),
        "loops": sorted(format_path(p) for p in report.loops),
        "changes": [_change_json(change) for change in report.changes],
    }


def _change_json(change: Change) -> dict[str, Any]:
    return {
        "kind": change.kind,
        "verdict": change.verdict.value,
        "old_path": None if change.old_path is None else format_path(change.old_path),
        "new_path": None if change.new_path is None else format_path(change.new_path),
        "old_name": change.old_name,
        "new_name": change.new_name,
        "detail": change.detail,
        "impact": impact(change),
        "when_any": [{c.kind: format_path(c.path)} for c in change.when_any],
        "unless_any": [{c.kind: format_path(c.path)} for c in change.unless_any],
    }


def to_json(report: CompatReport, *, indent: int | None = 2) -> str:
    return json.dumps(unstructure(report), indent=indent, ensure_ascii=False)


_CONDITION_WORDS = {
    "events_at": "have an event at {}",
    "events_in": "have events in {}",
    "events_from": "have events in or after {}",
    "events_after": "have events after {}",
    "reached_after": "have events or wait after {}",
    "past": "are past checkpoint {}",
    "not_past": "are not past checkpoint {}",
}


def _words(conditions: Iterable[Condition], joiner: str) -> str:
    return joiner.join(_CONDITION_WORDS[c.kind].format(format_path(c.path)) for c in conditions)


def impact(change: Change) -> str:
    """Which instances the change breaks, in words."""
    if change.verdict is Verdict.SAFE:
        return "safe for every in-flight instance"
    if change.verdict is Verdict.RECOVERY:
        at = format_path(change.when_any[0].path)
        return (
            f"instances past checkpoint {at} can move; those inside or before it cannot, "
            "unless an operator delivers the recovery event"
        )
    text = "breaking for instances that " + _words(change.when_any, " or ")
    exempt = [c for c in change.unless_any if c.kind != "past"]
    if exempt:
        text += ", except those that " + _words(exempt, " or ")
    past = [format_path(c.path) for c in change.unless_any if c.kind == "past"]
    if past:
        text = f"safe only for instances past checkpoint {' or '.join(past)}; " + text
    return text


def render(report: CompatReport, old: str = "old", new: str = "new") -> str:
    """The human-readable report ``wio compat`` prints."""
    lines = [f"compat {old} -> {new}"]
    if not report.changes:
        lines.append("  no changes")
    for change in report.changes:
        where = _where(change)
        lines.append(f"  {change.verdict.value:<9}  {change.kind:<32} {where}")
        lines.append(f"             {change.detail}")
        lines.append(f"             {impact(change)}")
    counts = unstructure(report)["counts"]
    summary = ", ".join(f"{n} {verdict}" for verdict, n in counts.items())
    verdict = "compatible" if report.compatible else "NOT compatible for every instance"
    lines.append(f"{len(report.changes)} change(s): {summary}; {verdict}")
    return "\n".join(lines)


def _where(change: Change) -> str:
    old = None if change.old_path is None else format_path(change.old_path)
    new = None if change.new_path is None else format_path(change.new_path)
    if old == new:
        return f"at {old}"
    if old is None:
        return f"new {new}"
    if new is None:
        return f"old {old}"
    return f"{old} -> {new}"
