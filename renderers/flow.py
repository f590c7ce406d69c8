"""A flow graph derived from the model: what Mermaid and Graphviz draw.

The model is a tree; a flowchart is a graph of nodes and edges with a start
and an end. `build_flow` walks the tree once, giving each node a stable id
derived from its model path, so diagrams and snapshots are stable and an
instance's progress (which names nodes by path) maps onto them.

Technical nodes follow the user's rule: a checkpoint shows only its base and
a recovery shows nothing, unless ``show_technical`` is set.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Literal

from attrs import field, frozen

from wio import model
from wio.interpreter import Path

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
    "fork",  # a parallel section's flows start here
    "join",  # and meet here
]
EdgeKind = Literal["normal", "default", "error"]


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
    """A group of nodes: a parallel section, or (drawn with show_technical) a
    checkpointed one."""

    id: str
    title: str
    members: tuple[str, ...]
    clusters: tuple[Cluster, ...] = ()
    kind: Literal["checkpoint", "parallel"] = "checkpoint"


@frozen
class Flow:
    nodes: tuple[FlowNode, ...]
    edges: tuple[FlowEdge, ...]
    clusters: tuple[Cluster, ...] = ()
    executed: frozenset[str] = field(factory=frozenset)  # node ids an instance ran


START = "start"
END = "finish"  # not "end": that is a keyword in Mermaid and cannot be a node id


def node_id(path: Path) -> str:
    return "n" + "_".join(map(str, path)) if path else "n"


def label_of(node: model.Pure | model.RunIO | model.Dynamic | model.HandleSignal) -> str:
    if node.meta.name:
        return node.meta.name
    if isinstance(node, model.HandleSignal):
        return node.signal
    if isinstance(node, model.RunIO):
        return f"Run: {node.event}"
    return "Dynamic" if isinstance(node, model.Dynamic) else "Pure"


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

    def close_cluster(self, id_: str, title: str, kind: Literal["checkpoint", "parallel"]) -> None:
        """Group what was added since the last ``cluster_stack.append([])``."""
        members = self.cluster_stack.pop()
        nodes = tuple(m for m in members if isinstance(m, str))
        inner = tuple(m for m in members if isinstance(m, Cluster))
        self.cluster_stack[-1].append(Cluster(id_, title, nodes, inner, kind))

    def connect(self, exits: list[Exit], target: str) -> None:
        for source, label, kind in exits:
            self.edges.append(FlowEdge(source, target, label, kind))

    def build(self, node: model.ModelNode, path: Path, entry: list[Exit]) -> list[Exit]:
        """Draw ``node`` after the exits ``entry``; returns the node's own exits."""
        match node:
            case model.Pure() | model.RunIO() | model.Dynamic() | model.HandleSignal():
                kind: NodeKind = (
                    "run" if isinstance(node, model.RunIO)
                    else "dynamic" if isinstance(node, model.Dynamic)
                    else "signal" if isinstance(node, model.HandleSignal) else "pure"
                )  # fmt: skip
                label = label_of(node)
                if isinstance(node, model.RunIO) and node.retry is not None:
                    label += f" (retried, {node.retry.max_attempts} attempts)"
                created = self.add(
                    FlowNode(node_id(path), kind, label, path, node.meta.description)
                )
                self.connect(entry, created)
                return [(created, None, "normal")]
            case model.Interruptible():
                exits = self.build(node.base, (*path, 0), entry)
                # The trigger may fire any time the section runs: a dotted link to it.
                armed: list[Exit] = [(source, "interrupts", "error") for source, _, _ in entry]
                fired = self.build(node.trigger, (*path, 1), armed)
                if node.handler is not None:
                    fired = self.build(node.handler, (*path, 2), fired)
                return exits + fired
            case model.Loop():
                first = len(self.nodes)
                exits = self.build(node.base, (*path, 0), entry)
                body_entry = self.nodes[first].id if len(self.nodes) > first else None
                condition = self.add(
                    FlowNode(node_id(path), "decision", node.meta.name or "Repeat?", path)
                )
                self.connect(exits, condition)
                back: list[Exit] = [(condition, node.restart, "normal")]
                if node.on_restart is not None:
                    back = self.build(node.on_restart, (*path, 1), back)
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
                for index, step in enumerate(node.steps):
                    exits = self.build(step, (*path, index), exits)
                return exits
            case model.HandleError():
                exits = self.build(node.base, (*path, 0), entry)
                raisers = [n for n in self.nodes if n.path and _within(n.path, (*path, 0))]
                error = node.meta.error.name if node.meta.error else "error"
                sources = [n.id for n in raisers if _declares(node.base, n.path, (*path, 0))] or [
                    n.id for n in raisers[-1:]
                ]
                handler_entry: list[Exit] = [(s, error, "error") for s in sources]
                return exits + self.build(node.handler, (*path, 1), handler_entry)
            case model.Fork():
                decision = self.add(
                    FlowNode(node_id(path), "decision", node.meta.name or "Fork", path)
                )
                self.connect(entry, decision)
                exits = []
                for index, branch in enumerate(node.branches):
                    kind_: EdgeKind = "default" if branch.default else "normal"
                    branch_entry: list[Exit] = [(decision, branch.name, kind_)]
                    exits += self.build(branch.base, (*path, index), branch_entry)
                return exits
            case model.Parallel():
                self.cluster_stack.append([])
                fork = self.add(FlowNode(node_id(path), "fork", node.meta.name or "Parallel", path))
                self.connect(entry, fork)
                exits = []
                for index, flow in enumerate(node.flows):
                    exits += self.build(flow.base, (*path, index), [(fork, flow.name, "normal")])
                join = self.add(FlowNode(node_id(path) + "_join", "join", "Join"))
                self.connect(exits, join)
                self.close_cluster(
                    "par" + node_id(path)[1:], node.meta.name or "Parallel", "parallel"
                )
                return [(join, None, "normal")]
            case model.Checkpoint():
                if not self.show_technical:
                    return self.build(node.base, (*path, 0), entry)
                self.cluster_stack.append([])
                exits = self.build(node.base, (*path, 0), entry)
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
        raise TypeError(f"not a model node: {node!r}")


def _within(path: Path, section: Path) -> bool:
    return path[: len(section)] == section


def _declares(section: model.ModelNode, path: Path | None, section_path: Path) -> bool:
    """Whether the node at ``path`` inside ``section`` declares a business error."""
    assert path is not None
    node: model.ModelNode = section
    for index in path[len(section_path) :]:
        match node:
            case model.Sequence():
                node = node.steps[index]
            case model.HandleError():
                node = node.base if index == 0 else node.handler
            case model.Fork():
                node = node.branches[index].base
            case model.Parallel():
                node = node.flows[index].base
            case model.Checkpoint():
                node = node.base
            case model.Loop():
                restart = node.on_restart
                if index == 1 and restart is None:
                    return False
                node = node.base if index == 0 or restart is None else restart
            case model.Interruptible():
                nodes = [node.base, node.trigger, node.handler]
                following = nodes[index]
                if following is None:
                    return False
                node = following
            case _:
                return False
    declaring = model.Pure | model.RunIO | model.HandleSignal
    return isinstance(node, declaring) and node.meta.error is not None


def build_flow(
    root: model.ModelNode, *, show_technical: bool = False, executed: Collection[Path] = ()
) -> Flow:
    """The flow graph of a model; ``executed`` paths mark what an instance ran."""
    builder = _Builder(show_technical)
    builder.add(FlowNode(START, "start", "Start"))
    exits = builder.build(root, (), [(START, None, "normal")])
    builder.add(FlowNode(END, "end", "End"))
    builder.connect(exits + builder.ends, END)
    ran = {node_id(p) for p in executed}
    known = {n.id for n in builder.nodes}
    marked = frozenset(ran & known)
    if marked:
        marked |= {START}
    top = builder.cluster_stack[0]
    return Flow(
        tuple(builder.nodes),
        tuple(builder.edges),
        tuple(m for m in top if isinstance(m, Cluster)),
        marked,
    )
