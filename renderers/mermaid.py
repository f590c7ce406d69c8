"""Mermaid flowcharts (Mermaid 11 ``flowchart`` syntax).

Every label is quoted and escaped with Mermaid's entity codes, so names with
quotes, brackets, ``end``, ``#``, HTML or any Unicode parse and show as
written. Node ids come from model paths and never collide with keywords.
"""

from __future__ import annotations

from .flow import Cluster, Flow, FlowEdge, FlowNode

# Mermaid decodes #name; and #code; entities inside quoted labels.
_ENTITIES = {
    "#": "#35;",
    '"': "#quot;",
    "<": "#lt;",
    ">": "#gt;",
    "&": "#amp;",
    "`": "#96;",
    "\\": "#92;",
}

_SHAPES = {
    "start": ('(("', '"))'),
    "end": ('((("', '")))'),
    "run": ('["', '"]'),
    "pure": ('("', '")'),
    "dynamic": ('[/"', '"/]'),
    "decision": ('{"', '"}'),
    "recovery": ('{{"', '"}}'),
    "signal": ('>"', '"]'),  # a flag: a message arrives
    "timer": ('(["', '"])'),  # a stadium: time passes
}
_BARS = ("fork", "join")  # a parallel section's bars: unlabelled; its cluster names it

EXECUTED_STYLE = "fill:#d4edda,stroke:#2e7d32,stroke-width:2px"
CHECKPOINT_STYLE = "stroke-dasharray: 5 5"
FOR_EACH_STYLE = "stroke-width: 3px"  # a body run once per element, drawn bold


def escape(text: str) -> str:
    """A label Mermaid parses and shows as ``text``."""
    text = " ".join(text.split())  # a line break would end the statement
    return "".join(_ENTITIES.get(char, char) for char in text)


def render_mermaid(flow: Flow, *, direction: str = "TD") -> str:
    lines = [f"flowchart {direction}"]
    clustered = _clustered(flow.clusters)
    for node in flow.nodes:
        if node.id not in clustered:
            lines.append(f"    {_node(node)}")
    by_id = {node.id: node for node in flow.nodes}
    for cluster in flow.clusters:
        lines.extend(_cluster(cluster, by_id, indent=1))
    lines.extend(f"    {_edge(edge)}" for edge in flow.edges)
    for cluster in _all_clusters(flow.clusters):
        if cluster.kind == "checkpoint":
            lines.append(f"    style {cluster.id} {CHECKPOINT_STYLE}")
        elif cluster.kind == "for_each":
            lines.append(f"    style {cluster.id} {FOR_EACH_STYLE}")
    if flow.executed:
        # Only classes that are used are defined.
        lines.append(f"    classDef executed {EXECUTED_STYLE}")
        executed = [node.id for node in flow.nodes if node.id in flow.executed]
        lines.append(f"    class {','.join(executed)} executed")
    return "\n".join(lines) + "\n"


def _node(node: FlowNode) -> str:
    if node.kind in _BARS:
        return f"{node.id}@{{ shape: fork }}"  # Mermaid 11.3+
    opening, closing = _SHAPES[node.kind]
    return f"{node.id}{opening}{escape(node.label)}{closing}"


def _edge(edge: FlowEdge) -> str:
    arrow = "-.->" if edge.kind in ("error", "undo") else "-->"
    if edge.label is None:
        return f"{edge.source} {arrow} {edge.target}"
    return f'{edge.source} {arrow}|"{escape(edge.label)}"| {edge.target}'


def _cluster(cluster: Cluster, nodes: dict[str, FlowNode], indent: int) -> list[str]:
    pad = "    " * indent
    lines = [f'{pad}subgraph {cluster.id} ["{escape(cluster.title)}"]']
    lines.extend(f"{pad}    {_node(nodes[member])}" for member in cluster.members)
    for inner in cluster.clusters:
        lines.extend(_cluster(inner, nodes, indent + 1))
    lines.append(f"{pad}end")
    return lines


def _all_clusters(clusters: tuple[Cluster, ...]) -> list[Cluster]:
    found: list[Cluster] = []
    for cluster in clusters:
        found.append(cluster)
        found.extend(_all_clusters(cluster.clusters))
    return found


def _clustered(clusters: tuple[Cluster, ...]) -> set[str]:
    return {member for cluster in _all_clusters(clusters) for member in cluster.members}
