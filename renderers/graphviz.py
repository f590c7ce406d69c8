"""Graphviz: DOT source through the ``graphviz`` package, and SVG or PNG through ``dot``."""

from __future__ import annotations

import graphviz  # type: ignore[import-untyped]  # the package ships no type information

from wio.errors import WioError

from .flow import Cluster, ClusterKind, EdgeKind, Flow, FlowNode

_SHAPES = {
    "start": {
        "shape": "circle",
        "label": "",
        "width": "0.3",
        "style": "filled",
        "fillcolor": "white",
    },
    "end": {"shape": "doublecircle", "label": "", "width": "0.25"},
    "run": {"shape": "box", "style": "rounded,filled", "fillcolor": "#e8f0fe"},
    "pure": {"shape": "box", "style": "rounded"},
    "dynamic": {"shape": "parallelogram"},
    "decision": {"shape": "diamond"},
    "recovery": {"shape": "hexagon", "style": "dashed"},
    "signal": {"shape": "cds"},
    "timer": {"shape": "box", "style": "rounded,dashed"},
    "child": {"shape": "box", "peripheries": "2"},  # a subroutine: another workflow
    # A parallel section's fork and join: bars, as in UML; the cluster names the section.
    "fork": {"shape": "box", "style": "filled", "fillcolor": "black", "label": "",
             "height": "0.06", "width": "1.5", "fixedsize": "true"},
    "join": {"shape": "box", "style": "filled", "fillcolor": "black", "label": "",
             "height": "0.06", "width": "1.5", "fixedsize": "true"},
}  # fmt: skip


# What an instance did: fill, outline and outline width of a node.
MARKS = {
    "executed": ("#d4edda", "#2e7d32", "1.5"),
    "waiting": ("#fff3cd", "#b26a00", "3"),
    "failed": ("#f8d7da", "#a71d2a", "3"),
}


class GraphvizMissing(WioError):
    """Raised when drawing SVG or PNG without Graphviz's ``dot`` program installed."""


def render_dot(flow: Flow, *, name: str = "workflow") -> graphviz.Digraph:
    graph = graphviz.Digraph(name, graph_attr={"rankdir": "TB", "fontname": "Helvetica"})
    groups = {c.id: c for c in _all(flow.clusters)}
    if any(edge.source in groups for edge in flow.edges):
        graph.attr(compound="true")  # a section's interruption leaves its cluster (ltail)
    graph.attr("node", fontname="Helvetica")
    graph.attr("edge", fontname="Helvetica", fontsize="10")
    clustered = {m for c in flow.clusters for m in _members(c)}
    nodes = {node.id: node for node in flow.nodes}
    for node in flow.nodes:
        if node.id not in clustered:
            _node(graph, node, flow)
    for cluster in flow.clusters:
        _cluster(graph, cluster, nodes, flow)
    for edge in flow.edges:
        attributes = {"style": _EDGE_STYLES[edge.kind]} if edge.kind in _EDGE_STYLES else {}
        if edge.kind == "default":
            attributes["arrowtail"] = "odot"
            attributes["dir"] = "both"
        source = edge.source
        if source in groups:  # from the group's border, through one of its nodes
            attributes["ltail"] = f"cluster_{source}"
            source = _members(groups[source])[0]
        graph.edge(source, edge.target, label=_text(edge.label or ""), **attributes)
    return graph


def draw(graph: graphviz.Digraph, image_format: str) -> bytes:
    """The picture, as ``dot`` draws it; raises `GraphvizMissing` without ``dot``."""
    try:
        picture: bytes = graph.pipe(format=image_format)
        return picture
    except graphviz.ExecutableNotFound:
        raise GraphvizMissing(
            f"drawing {image_format.upper()} needs Graphviz's `dot` program, which is not "
            "installed: install Graphviz (`apt-get install graphviz` on Debian or Ubuntu, "
            "`brew install graphviz` on macOS), or use --format dot for the source"
        ) from None


def _node(graph: graphviz.Digraph, node: FlowNode, flow: Flow) -> None:
    attributes = dict(_SHAPES[node.kind])
    attributes.setdefault("label", _text(node.label))
    state = (
        "failed" if node.id in flow.failed
        else "waiting" if node.id in flow.waiting
        else "executed" if node.id in flow.executed
        else None
    )  # fmt: skip
    if state is not None:
        fill, color, width = MARKS[state]
        styles = [s for s in attributes.get("style", "").split(",") if s]
        attributes["style"] = ",".join(dict.fromkeys([*styles, "filled"]))
        if node.kind not in ("fork", "join"):  # a bar stays black, outlined in colour
            attributes["fillcolor"] = fill
        attributes["color"] = color
        attributes["penwidth"] = width
        attributes["class"] = state
    if node.description:
        attributes["tooltip"] = _text(node.description)
    graph.node(node.id, **attributes)


# A for-each body runs many times over: drawn bold, like BPMN's multi-instance marker.
_CLUSTER_STYLES: dict[ClusterKind, str] = {
    "checkpoint": "dashed",
    "parallel": "rounded",
    "interruptible": "rounded,dotted",
    "for_each": "rounded,bold",
    "embed": "rounded",
    "compensating": "rounded,dashed",
    "cleanup": "rounded,filled",  # the cleanup flow, shaded apart from the main flow
}
CLEANUP_FILL = "#f2f2f2"
# An error or an interruption leaves its section dashed; an undo, run only after
# an error, dotted.
_EDGE_STYLES: dict[EdgeKind, str] = {"error": "dashed", "interrupt": "dashed", "undo": "dotted"}


def _cluster(
    graph: graphviz.Digraph, cluster: Cluster, nodes: dict[str, FlowNode], flow: Flow
) -> None:
    with graph.subgraph(name=f"cluster_{cluster.id}") as sub:
        sub.attr(
            label=_text(cluster.title),
            # Left: the edge into a section's first step, drawn down its middle,
            # then misses the title more often than a centred one.
            labeljust="l",
            style=_CLUSTER_STYLES[cluster.kind],
        )
        if cluster.kind == "cleanup":
            sub.attr(fillcolor=CLEANUP_FILL)
        for member in cluster.members:
            _node(sub, nodes[member], flow)
        for inner in cluster.clusters:
            _cluster(sub, inner, nodes, flow)


def _text(text: str) -> str:
    # Shown as written: not an HTML-like label, backslashes are not escapes, and
    # "&" starts no entity (Graphviz decodes &amp; &lt; &#35; in every label).
    # The result's type is what tells the graphviz package so: keep it as is.
    escaped: str = graphviz.escape(text.replace("&", "&amp;"))
    return escaped


def _all(clusters: tuple[Cluster, ...]) -> list[Cluster]:
    return [found for c in clusters for found in (c, *_all(c.clusters))]


def _members(cluster: Cluster) -> list[str]:
    return [*cluster.members, *(m for c in cluster.clusters for m in _members(c))]
