"""A flow graph derived from the model: what Mermaid and Graphviz draw.

The model is a tree; a flowchart is a graph of nodes and edges with a start
and an end. `build_flow` walks the tree once, giving each node a stable id
derived from its model path, so diagrams and snapshots are stable and an
instance's progress (which names nodes by path) maps onto them.

Technical nodes follow the user's rule: a checkpoint shows only its base and
a recovery shows nothing, unless ``show_technical`` is set.

A workflow's cleanup flow (`wio.model.WithCleanup`) is a group of its own
titled "On cancel", beside the main flow: from a start named "Cancelled" to an
end of its own, linked to nothing else (a cancellation may come at any step).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Literal, assert_never

from attrs import field, frozen

from wio import model
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
    within,
)

from . import errors
from .marks import CLEANUP_END, JOIN, STATES, Marks, State, shown_on, states
from .marks import END as END_PATH

NodeKind = Literal[
    "start",
    "end",
    "run",
    "pure",
    "dynamic",
    "decision",
    "recovery",
    "signal",
    "timer",
    "child",  # a child instance of another workflow, started and awaited
    "fork",  # a parallel section's flows start here
    "join",  # and meet here
]
EdgeKind = Literal["normal", "default", "error", "interrupt", "undo"]
ClusterKind = Literal[
    "checkpoint", "parallel", "interruptible", "for_each", "embed", "compensating", "cleanup"
]


@frozen
class FlowNode:
    id: str
    kind: NodeKind
    label: str
    path: Path | None = None
    description: str | None = None


@frozen
class FlowEdge:
    source: str
    target: str
    label: str | None = None
    kind: EdgeKind = "normal"


@frozen
class Cluster:
    """A group of nodes: a parallel section, a section a signal or a timeout may
    interrupt (the trigger's link starts at the group), a for-each section's body
    (run once per element), an embedded workflow, a compensating section, the
    cleanup flow run on a cancellation, or (drawn with show_technical) a
    checkpointed section."""

    id: str
    title: str
    members: tuple[str, ...]
    clusters: tuple[Cluster, ...] = ()
    kind: ClusterKind = "checkpoint"


@frozen
class Flow:
    nodes: tuple[FlowNode, ...]
    edges: tuple[FlowEdge, ...]
    clusters: tuple[Cluster, ...] = ()
    executed: frozenset[str] = field(factory=frozenset)  # node ids an instance ran
    waiting: frozenset[str] = field(factory=frozenset)  # node ids it waits at now
    failed: frozenset[str] = field(factory=frozenset)  # node ids of steps that failed


START = "start"
END = "finish"  # not "end": that is a keyword in Mermaid and cannot be a node id
# The cleanup flow's group, start and end.
CLEANUP_GROUP, CANCELLED, CLEANUP_DONE = "cleanup", "cancelled", "cleaned_up"


def node_id(path: Path) -> str:
    """``n0_2`` for ``/0/2``; a cleanup flow's segment -1 is ``c`` (``nc_0`` for ``/-1/0``)."""
    return "n" + "_".join("c" if segment == -1 else str(segment) for segment in path)


Step = model.Pure | model.RunIO | model.Dynamic | model.HandleSignal | model.RunChild


def label_of(node: Step) -> str:
    if node.meta.name:
        return node.meta.name
    match node:
        case model.HandleSignal():
            return node.signal
        case model.RunIO():
            return f"Run: {node.event}"
        case model.Dynamic():
            return "Dynamic"
        case model.Pure():
            return "Pure"
        case model.RunChild():
            return f"Child: {node.workflow}"
        case _:
            assert_never(node)


def _step_kind(node: Step) -> NodeKind:
    match node:
        case model.RunIO():
            return "run"
        case model.Dynamic():
            return "dynamic"
        case model.HandleSignal():
            return "signal"
        case model.Pure():
            return "pure"
        case model.RunChild():
            return "child"
        case _:
            assert_never(node)


def label_of_trigger(trigger: model.ModelNode) -> str:
    """How a section's interruption is called: its signal step, or its timeout."""
    if isinstance(trigger, model.HandleSignal):
        return label_of(trigger)
    if isinstance(trigger, model.Timer):
        return trigger.meta.name or f"timeout {trigger.duration or '(computed)'}"
    return "trigger"


# An exit is a node id with the label and kind its outgoing edge should carry.
Exit = tuple[str, str | None, EdgeKind]


class _Builder:
    def __init__(self, show_technical: bool) -> None:
        self.show_technical = show_technical
        self.nodes: list[FlowNode] = []
        self.edges: list[FlowEdge] = []
        self.ends: list[Exit] = []  # exits that go straight to the end (WIO.end)
        self.cluster_stack: list[list[str | Cluster]] = [[]]

    def add(self, node: FlowNode) -> str:
        self.nodes.append(node)
        self.cluster_stack[-1].append(node.id)
        return node.id

    def close_cluster(self, id_: str, title: str, kind: ClusterKind) -> None:
        """Group what was added since the last ``cluster_stack.append([])``."""
        members = self.cluster_stack.pop()
        nodes = tuple(m for m in members if isinstance(m, str))
        inner = tuple(m for m in members if isinstance(m, Cluster))
        self.cluster_stack[-1].append(Cluster(id_, title, nodes, inner, kind))

    def connect(self, exits: list[Exit], target: str) -> None:
        for source, label, kind in exits:
            edge = FlowEdge(source, target, label, kind)
            if edge not in self.edges:  # a link is drawn once, however it is reached
                self.edges.append(edge)

    def build(self, node: model.ModelNode, path: Path, entry: list[Exit]) -> list[Exit]:
        """Draw ``node`` after the exits ``entry``; returns the node's own exits."""
        match node:
            case (
                model.Pure() | model.RunIO() | model.Dynamic() | model.HandleSignal()
                | model.RunChild()
            ):  # fmt: skip
                kind = _step_kind(node)
                label = label_of(node)
                if isinstance(node, model.RunIO) and node.retry is not None:
                    label += f" (retried, {node.retry.max_attempts} attempts)"
                created = self.add(
                    FlowNode(node_id(path), kind, label, path, node.meta.description)
                )
                self.connect(entry, created)
                return [(created, None, "normal")]
            case model.Interruptible():
                self.cluster_stack.append([])
                first = len(self.nodes)
                exits = self.build(node.base, child(path, BASE), entry)
                section = "int" + node_id(path)[1:]
                trigger = label_of_trigger(node.trigger)
                if len(self.nodes) > first:
                    # The trigger may fire any time the section runs: a link from
                    # the section's group, not from one of its steps.
                    self.close_cluster(section, f"Interrupted by {trigger}", "interruptible")
                    armed: list[Exit] = [(section, "interrupts", "interrupt")]
                else:  # an empty section: the trigger waits where it starts
                    self.cluster_stack.pop()
                    armed = [(source, "interrupts", "interrupt") for source, _, _ in entry]
                fired = self.build(node.trigger, child(path, TRIGGER), armed)
                if node.handler is not None:
                    fired = self.build(node.handler, child(path, INTERRUPTION_HANDLER), fired)
                return exits + fired
            case model.Loop():
                first = len(self.nodes)
                exits = self.build(node.base, child(path, BASE), entry)
                body_entry = self.nodes[first].id if len(self.nodes) > first else None
                condition = self.add(
                    FlowNode(node_id(path), "decision", node.meta.name or "Repeat?", path)
                )
                self.connect(exits, condition)
                back: list[Exit] = [(condition, node.restart, "normal")]
                if node.on_restart is not None:
                    back = self.build(node.on_restart, child(path, ON_RESTART), back)
                self.connect(back, body_entry or condition)
                return [(condition, node.exit, "normal")]
            case model.Timer():
                wait = f"Wait {node.duration}" if node.duration else "Wait (computed)"
                label = node.meta.name or wait
                created = self.add(FlowNode(node_id(path), "timer", label, path))
                self.connect(entry, created)
                return [(created, None, "normal")]
            case model.Sequence():
                exits = entry
                for step in children(node):
                    exits = self.build(step.node, step.path(path), exits)
                return exits
            case model.HandleError():
                first = len(self.nodes)
                exits = self.build(node.base, child(path, BASE), entry)
                drawn = {n.id for n in self.nodes[first:]}
                # Each error from the step that raises it, with that step's own error.
                handler_entry: list[Exit] = [
                    (node_id(r.path), r.error, "error")
                    for r in errors.caught(node, path)
                    if node_id(r.path) in drawn
                ]
                if not handler_entry:
                    # Nothing declared: any step of the section may fail, and the
                    # section as a whole (its exits, or its entry if it draws
                    # nothing) leads to the handler.
                    names = errors.handled_names(node)
                    label = errors.JOINED.join(names) if names else "error"
                    handler_entry = [(s, label, "error") for s, _, _ in (exits or entry)]
                return exits + self.build(node.handler, child(path, ERROR_HANDLER), handler_entry)
            case model.Fork():
                decision = self.add(
                    FlowNode(node_id(path), "decision", node.meta.name or "Fork", path)
                )
                self.connect(entry, decision)
                exits = []
                for branch, arm in zip(node.branches, children(node), strict=True):
                    kind_: EdgeKind = "default" if branch.default else "normal"
                    branch_entry: list[Exit] = [(decision, branch.name, kind_)]
                    exits += self.build(arm.node, arm.path(path), branch_entry)
                return exits
            case model.Parallel():
                self.cluster_stack.append([])
                fork = self.add(FlowNode(node_id(path), "fork", node.meta.name or "Parallel", path))
                self.connect(entry, fork)
                exits = []
                for flow, lane in zip(node.flows, children(node), strict=True):
                    exits += self.build(lane.node, lane.path(path), [(fork, flow.name, "normal")])
                join = self.add(FlowNode(node_id(path) + "_join", "join", "Join"))
                self.connect(exits, join)
                self.close_cluster(
                    "par" + node_id(path)[1:], node.meta.name or "Parallel", "parallel"
                )
                return [(join, None, "normal")]
            case model.ForEach():
                self.cluster_stack.append([])
                title = f"For each: {node.meta.name}" if node.meta.name else "For each"
                exits = self.build(node.base, child(path, BASE), entry)
                self.close_cluster("each" + node_id(path)[1:], title, "for_each")
                return exits
            case model.Embed():
                self.cluster_stack.append([])
                exits = self.build(node.base, child(path, BASE), entry)
                self.close_cluster("emb" + node_id(path)[1:], node.meta.name or "Embedded", "embed")
                return exits
            case model.Compensated():
                exits = self.build(node.base, child(path, BASE), entry)
                # The undo runs only if a later error leaves the compensating
                # section: a dotted "undo" link from the step, leading nowhere after.
                undone: list[Exit] = [(source, "undo", "undo") for source, _, _ in exits]
                self.build(node.undo, child(path, COMPENSATION), undone)
                return exits
            case model.Compensating():
                self.cluster_stack.append([])
                exits = self.build(node.base, child(path, BASE), entry)
                self.close_cluster("comp" + node_id(path)[1:], "Compensating", "compensating")
                return exits
            case model.Checkpoint():
                if not self.show_technical:
                    return self.build(node.base, child(path, BASE), entry)
                self.cluster_stack.append([])
                exits = self.build(node.base, child(path, BASE), entry)
                self.close_cluster("cp" + node_id(path)[1:], "Checkpoint", "checkpoint")
                return exits
            case model.Recovery():
                if not self.show_technical:
                    return entry
                created = self.add(FlowNode(node_id(path), "recovery", "State Recovery", path))
                self.connect(entry, created)
                return [(created, None, "normal")]
            case model.End():
                self.ends.extend(entry)
                return []
            case _:
                assert_never(node)


def build_flow(
    root: model.Model,
    *,
    show_technical: bool = False,
    executed: Collection[Path] = (),
    marks: Marks | None = None,
) -> Flow:
    """The flow graph of a model; ``marks`` (or only the ``executed`` paths) show
    what an instance ran, where it waits and what failed."""
    tree, cleanup = model.parts(root)
    builder = _Builder(show_technical)
    builder.add(FlowNode(START, "start", "Start"))
    exits = builder.build(tree, ROOT, [(START, None, "normal")])
    builder.add(FlowNode(END, "end", "End"))
    builder.connect(exits + builder.ends, END)
    if cleanup is not None:
        builder.cluster_stack.append([])
        builder.ends = []
        builder.add(FlowNode(CANCELLED, "start", "Cancelled"))
        exits = builder.build(cleanup, CLEANUP, [(CANCELLED, None, "normal")])
        builder.add(FlowNode(CLEANUP_DONE, "end", "End"))
        builder.connect(exits + builder.ends, CLEANUP_DONE)
        builder.close_cluster(CLEANUP_GROUP, "On cancel", "cleanup")
    marks = marks if marks is not None else Marks.from_paths(executed)
    known = {n.id for n in builder.nodes}
    by_state: dict[State, set[str]] = {state: set() for state in STATES}
    found = shown_on(root, states(root, marks), lambda path: _marked_id(path) in known)
    for path, state in found.items():
        id_ = _marked_id(path)
        if id_ in known:
            by_state[state].add(id_)
            # The start of the flow (the main one, or the cleanup) it is in.
            by_state["executed"].add(CANCELLED if within(path, CLEANUP) else START)
    top = builder.cluster_stack[0]
    return Flow(
        tuple(builder.nodes),
        tuple(builder.edges),
        tuple(m for m in top if isinstance(m, Cluster)),
        frozenset(by_state["executed"]),
        frozenset(by_state["waiting"]),
        frozenset(by_state["failed"]),
    )


def _marked_id(path: Path) -> str:
    if path == END_PATH:
        return END
    if path == CLEANUP_END:
        return CLEANUP_DONE
    if path and path[-1] == JOIN:
        return node_id(path[:-1]) + "_join"
    return node_id(path)
