"""Checkpoint shielding: a checkpoint in the journal completes its section unrun.

On replay, before the interpreter enters a checkpointed section (or a
`recover` node, a section a later version removed), it looks ahead in the
journal for the checkpoint event of this entry into it. If there is one, the
section completes at once with ``recover_state(input, event)``: none of its
logic runs (pure steps, fork conditions, handlers, loop conditions), however
its code changed since, and its own earlier events are skipped undecoded.

Each record names the node that recorded it (its model path), so the look-ahead
decides without decoding. Between the entry and the checkpoint event, a record
belongs to the section if it was recorded inside it; a record of a parallel
flow running beside the section is passed over; any other record shows that
this entry was left without a checkpoint (a business error, an interruption,
or a foreign event), so the section is not shielded and replays normally,
where that record is attributed or reported.

Records without a node (written before journals kept it, or events given to
`Runtime.recover` without one) are attributed by their parallel flow, if any,
and by type, only where the type says it unambiguously: the checkpoint event
if only this checkpoint records its type, an event of the section if only
nodes inside it record that type (or the type is retired). Any other record
without a node ends the look-ahead: the section then replays normally.

The interpreter stays pure: the runtime hands it the records, already read,
and a function that decodes one; only the checkpoint event itself is decoded.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any, NamedTuple

from wio.algebra import WIO, Checkpoint, FlatMap, HandleSignal, Node, Recover, recorded_events
from wio.codec import SIGNAL_HANDLED, event_name
from wio.paths import CONTINUATION, Path, child, descend, format_path, walk_static
from wio.paths import within_formatted as under


class JournalRecord(NamedTuple):
    """A recorded event as replay sees it before decoding."""

    seq: int
    event_type: str  # the stored type of the event inside any parallel flow envelopes
    node: str | None  # the model path of the node that recorded it, if known
    stored: Any  # what the runtime's ``decode`` turns into the event
    flow: str | None = None  # without a node: the innermost parallel flow it was recorded in


class Ahead(NamedTuple):
    """The journal ahead of replay, for the look-ahead of checkpoint shielding."""

    records: Sequence[JournalRecord]
    position: int  # the index of the first record replay has not reached
    covered: AbstractSet[int]  # seqs of the records earlier shields covered
    decode: Callable[[Any], Any]  # a record's ``stored`` to its event
    retired: AbstractSet[str] = frozenset()
    # For records without a node: each event type, and the nodes that may record it;
    # and the flat_map continuations, which may record any type.
    recorders: Mapping[str, frozenset[str]] = {}
    dynamic: frozenset[str] = frozenset()
    # (parallel section, flow) model paths of the flows the cursor runs in, outermost first
    flows: tuple[tuple[str, str], ...] = ()

    def within(self, parallel: Path, index: int) -> Ahead:
        """The journal as a flow of the parallel section at ``parallel`` sees it."""
        flow = (format_path(parallel), format_path(child(parallel, index)))
        return self._replace(flows=(*self.flows, flow))


class Cover(NamedTuple):
    """A checkpoint event that completes a section: its record, its position, and
    the seqs of the section's own earlier events it covers."""

    position: int
    record: JournalRecord
    covered: tuple[int, ...]


Shielded = Checkpoint[Any, Any, Any] | Recover[Any, Any, Any]


def find_cover(ahead: Ahead, node: Shielded, path: Path) -> Cover | None:
    """The checkpoint event in the journal that completes this entry into the
    section at ``path``, if any (see the module's docstring for the rules)."""
    target = format_path(path)
    wanted = event_name(node.event_type)
    covered: list[int] = []
    records, skip = ahead.records, ahead.covered
    for index in range(ahead.position, len(records)):
        record = records[index]
        if skip and record.seq in skip:
            continue
        where = record.node
        if where is not None and where != target and under(where, target):  # the usual case
            covered.append(record.seq)
        elif where is None:
            flow = record.flow
            if flow is not None and not (under(flow, target) or under(target, flow)):
                if _concurrent(flow, ahead.flows):
                    continue  # another flow's event
                return None
            recorded_by = ahead.recorders.get(record.event_type, frozenset()) | ahead.dynamic
            if record.event_type == wanted and recorded_by == {target}:
                return Cover(index, record, tuple(covered))
            own = recorded_by and all(r != target and under(r, target) for r in recorded_by)
            if not own and record.event_type not in ahead.retired:
                return None
            covered.append(record.seq)
        elif where == target:
            # The node itself recorded it: the checkpoint event, unless the type changed.
            if record.event_type != wanted:
                return None
            return Cover(index, record, tuple(covered))
        elif not _concurrent(where, ahead.flows):
            return None
    return None


def _concurrent(node: str, flows: tuple[tuple[str, str], ...]) -> bool:
    """Whether ``node`` is in another flow of a parallel section the cursor runs in."""
    return any(under(node, parallel) and not under(node, flow) for parallel, flow in flows)


# The answer of `shields` by workflow identity: a process builds a runtime per
# rebuild, and walking a 100k-node definition each time cost as much as a quarter
# of replaying its events. Keyed by id, with a weak reference to tell a reused id.
_shielding: dict[int, tuple[weakref.ref[WIO[Any, Any, Any]], bool]] = {}


def shields(workflow: WIO[Any, Any, Any]) -> bool:
    """Whether replaying ``workflow`` may shield a section: it has a checkpoint or a
    recovery, or a flat_map whose continuation might have one."""
    known = _shielding.get(id(workflow))
    if known is not None and known[0]() is workflow:
        return known[1]
    answer = any(isinstance(node, Checkpoint | Recover | FlatMap) for node in walk_static(workflow))
    key = id(workflow)
    _shielding[key] = (weakref.ref(workflow, lambda _: _shielding.pop(key, None)), answer)
    return answer


def section_event_types(node: Shielded) -> frozenset[str]:
    """The stored types of the events the nodes inside a section record."""
    if isinstance(node, Recover):
        return frozenset()
    return frozenset(name for child in walk_static(node.base) for name in recorded_types(child))


def recorded_types(node: Node) -> tuple[str, ...]:
    """The stored types of the events ``node`` itself records."""
    if isinstance(node, HandleSignal):
        return (SIGNAL_HANDLED,)  # one record holds the handler's event
    return tuple(event_name(cls) for cls in recorded_events(node))


def recorders(workflow: WIO[Any, Any, Any]) -> tuple[dict[str, frozenset[str]], frozenset[str]]:
    """Each event type the static tree records, with the model paths of its recorders;
    and the paths of the flat_map continuations, unknown until they run."""
    found: dict[str, set[str]] = {}
    dynamic: set[str] = set()
    for node, path in descend(workflow):
        for name in recorded_types(node):
            found.setdefault(name, set()).add(format_path(path))
        if isinstance(node, FlatMap):
            dynamic.add(format_path(child(path, CONTINUATION)))
    return {name: frozenset(paths) for name, paths in found.items()}, frozenset(dynamic)
