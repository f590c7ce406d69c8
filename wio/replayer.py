"""Replay stored instances against code, strictly, and say where each one diverges.

This is what `wio replay`, `wio migrate` and `wio.testing.assert_replays` check:
every recorded event decodes with the code's event classes and is accepted by
the node the code expects, in order. Nothing is written, no effect runs, and
no lease is taken.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from wio.definition import Workflow
from wio.interpreter import Cursor, format_path
from wio.interpreter.state import awaited_recoveries
from wio.journal import InstanceRecord, InstanceStatus, Journal, StoredEvent
from wio.runtime.replay import Divergence, Verdict, replay_strictly

__all__ = ["Divergence", "Verdict", "check", "check_instance", "replay_journal"]


def check(
    record: InstanceRecord, stored: Iterable[StoredEvent], workflow: Workflow[Any, Any, Any]
) -> Verdict:
    """Replay one instance's stored events against ``workflow`` in strict mode."""
    return replay_strictly(workflow, record.id, record.input, stored)[0]


def check_instance(
    journal: Journal, instance_id: str, workflow: Workflow[Any, Any, Any]
) -> Verdict:
    """Read one instance and replay it against ``workflow``; reads only."""
    record = journal.get_instance(instance_id)
    return check(record, journal.read(instance_id, times=False), workflow)


READ_BATCH = 500  # instances whose events one query reads


def replay_journal(
    journal: Journal,
    workflows: Iterable[Workflow[Any, Any, Any]],
    *,
    statuses: Iterable[InstanceStatus] = (),
    instance_ids: Iterable[str] = (),
) -> Iterator[Verdict]:
    """A verdict for each stored instance of the given workflows' names.

    Each instance is replayed against the given version it runs; an instance
    whose version is not given is replayed against the newest given version
    of its workflow, which is what a migration to it would check.
    """
    by_name: dict[str, dict[int, Workflow[Any, Any, Any]]] = {}
    for workflow in workflows:
        by_name.setdefault(workflow.name, {})[workflow.version] = workflow
    wanted = set(statuses)
    ids = list(instance_ids)
    if ids:
        records: Iterable[InstanceRecord] = (journal.get_instance(i) for i in ids)
    else:
        records = (
            record for name in sorted(by_name) for record in journal.list_instances(workflow=name)
        )
    batch: list[InstanceRecord] = []
    for record in records:
        if wanted and record.status not in wanted:
            continue
        batch.append(record)
        if len(batch) == READ_BATCH:
            yield from _check_batch(journal, batch, by_name)
            batch = []
    yield from _check_batch(journal, batch, by_name)


def _check_batch(
    journal: Journal,
    records: list[InstanceRecord],
    by_name: dict[str, dict[int, Workflow[Any, Any, Any]]],
) -> Iterator[Verdict]:
    stored = journal.read_many([r.id for r in records]) if records else {}
    for record in records:
        versions = by_name.get(record.workflow)
        if versions is None:
            given = ", ".join(sorted(by_name)) or "none"
            yield Verdict(
                record.id,
                record.workflow,
                record.workflow_version,
                record.last_seq,
                Divergence(
                    0, "none", "/", f"no code of {record.workflow!r} given (given: {given})"
                ),
            )
            continue
        workflow = versions.get(record.workflow_version) or versions[max(versions)]
        yield check(record, stored[record.id], workflow)


def recovery_waits(cursor: Cursor) -> list[str]:
    """Where the instance waits at a `recover` node, in words."""
    return [
        f"{format_path(path)} for {event.__name__}" for path, event in awaited_recoveries(cursor)
    ]
