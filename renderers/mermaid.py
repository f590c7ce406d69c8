"""Mermaid flowcharts (Mermaid 11 ``flowchart`` syntax).

Every label is quoted and escaped with Mermaid's entity codes, so names with
quotes, brackets, ``end``, ``#``, HTML or any Unicode parse and show as
written. Node ids come from model paths and never collide with keywords.
"""

from __future__ import annotations

from wio.errors import WioError

from .flow import Cluster, Flow, FlowEdge, FlowNode

MAX_EDGES = 500
"""Mermaid's default ``flowchart.maxEdges``: it refuses to draw a chart with more links."""


class ChartTooLarge(WioError):
    """Raised by `render_mermaid` (and ``render(..., "mermaid")``) when a chart has
    more links than Mermaid draws, which no Mermaid viewer would show."""


# Mermaid decodes #name; and #code; entities inside quoted labels. "%" would
# let a name open a %%{init}%% directive or a %% comment.
_ENTITIES = {
    "#": "#35;",
    "%": "#37;",
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
    "child": ('[["', '"]]'),  # a subroutine: another workflow's instance
}
_BARS = ("fork", "join")  # a parallel section's bars: unlabelled; its cluster names it

EXECUTED_STYLE = "fill:#d4edda,stroke:#2e7d32,stroke-width:2px"
WAITING_STYLE = "fill:#fff3cd,stroke:#b26a00,stroke-width:3px"
FAILED_STYLE = "fill:#f8d7da,stroke:#a71d2a,stroke-width:3px"
CHECKPOINT_STYLE = "stroke-dasharray: 5 5"
FOR_EACH_STYLE = "stroke-width: 3px"  # a body run once per element, drawn bold


# Before parsing, Mermaid drops the last ";" of any line where "style" or
# "classDef" is followed by ":" and "#" (its style statements), which would
# garble our entities. Spelling the keywords' first letter as an entity keeps
# them out of its reach; the drawing shows the same text.
_KEYWORDS = {"style": "#115;tyle", "classDef": "#99;lassDef"}
# Mermaid turns entities into "ﬂ°...¶ß" placeholders and decodes those in any
# label, however written: an invisible word joiner keeps the pairs apart.
_PLACEHOLDERS = {"\ufb02\u00b0": "\ufb02\u2060\u00b0", "\u00b6\u00df": "\u00b6\u2060\u00df"}


def escape(text: str) -> str:
    """A label Mermaid parses and shows as ``text``."""
    text = " ".join(text.split()) or " "  # a line break would end the statement; "" is no label
    for pair, apart in _PLACEHOLDERS.items():
        text = text.replace(pair, apart)
    escaped = "".join(_ENTITIES.get(char, char) for char in text)
    for keyword, spelled in _KEYWORDS.items():
        escaped = escaped.replace(keyword, spelled)
    return escaped


def render_mermaid(flow: Flow, *, direction: str = "TD", max_edges: int | None = MAX_EDGES) -> str:
    """The chart; raises `ChartTooLarge` if it has more than ``max_edges`` links
    (``None``: no check, for a viewer configured with a larger ``maxEdges``)."""
    if max_edges is not None and len(flow.edges) > max_edges:
        raise ChartTooLarge(
            f"this workflow's Mermaid chart has {len(flow.edges)} links, and Mermaid draws "
            f"at most {max_edges} (its flowchart.maxEdges setting): no Mermaid viewer would "
            "show it. Render it as BPMN or Graphviz (--format bpmn, dot, svg), or draw "
            "its parts separately"
        )
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
    # Only classes that are used are defined; a node has one: failed over waiting
    # over executed.
    marked = (
        ("executed", EXECUTED_STYLE, flow.executed - flow.waiting - flow.failed),
        ("waiting", WAITING_STYLE, flow.waiting - flow.failed),
        ("failed", FAILED_STYLE, flow.failed),
    )
    for name, style, ids in marked:
        if ids:
            lines.append(f"    classDef {name} {style}")
            ordered = [node.id for node in flow.nodes if node.id in ids]
            lines.append(f"    class {','.join(ordered)} {name}")
    return "\n".join(lines) + "\n"


def _node(node: FlowNode) -> str:
    if node.kind in _BARS:
        return f"{node.id}@{{ shape: fork }}"  # Mermaid 11.3+
    opening, closing = _SHAPES[node.kind]
    return f"{node.id}{opening}{escape(node.label)}{closing}"


def _edge(edge: FlowEdge) -> str:
    arrow = "-.->" if edge.kind in ("error", "interrupt", "undo") else "-->"
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
