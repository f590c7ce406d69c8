"""What `wio inspect` shows of an instance: registry row, events, state and progress."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from wio.codec import encode_value
from wio.interpreter import format_path
from wio.journal import InstanceRecord, InstanceStatus, Journal, WorkflowRecord
from wio.loading import definition_for
from wio.runtime import Runtime
from wio.versions import Migrated

MIGRATED = Migrated.__wio_event__.name  # type: ignore[attr-defined]


def inspect_instance(journal: Journal, instance_id: str, targets: list[str]) -> dict[str, Any]:
    """A JSON-ready report; state and progress need the workflow code among ``targets``."""
    record = journal.get_instance(instance_id)
    report: dict[str, Any] = {
        "instance": {
            "id": record.id,
            "workflow": record.workflow,
            "version": record.workflow_version,
            "status": str(record.status),
            "attempts": record.attempts,
            "last_error": record.last_error,
            "wakeup_at": record.wakeup_at.isoformat() if record.wakeup_at else None,
            "lease_owner": record.lease_owner,
            "created_at": record.created_at.isoformat(),
            "updated_at": record.updated_at.isoformat(),
            "input": record.input,
        },
        "events": [
            {
                "seq": e.seq,
                "type": e.type,
                "version": e.version,
                "recorded_at": e.recorded_at.isoformat() if e.recorded_at else None,
                "node": e.node,
                "payload": e.payload,
            }
            for e in journal.read(instance_id)
        ],
    }
    # Child instances (`WIO.run_child`): the parent that started this one, and those
    # it started, with where each stands.
    family = journal.family(instance_id)
    report["instance"]["parent"] = family.parent
    report["children"] = [
        {"id": kid.id, "workflow": kid.workflow, "status": str(kid.status)}
        for kid in map(journal.get_instance, family.children)
    ]
    report["migrations"] = [
        {"seq": e["seq"], **e["payload"]} for e in report["events"] if e["type"] == MIGRATED
    ]
    definition = definition_for(record.workflow, record.workflow_version, targets)
    if definition is None:
        report["note"] = (
            f"state and progress need the code of {record.workflow} v{record.workflow_version}: "
            f"pass --workflows PATH_OR_MODULE:ATTR (given: {', '.join(targets) or 'none'})"
        )
        return report
    runtime = Runtime(definition, journal=journal)
    instance = runtime.get(instance_id)  # replays the events; takes no lease
    report["instance"]["waiting_for"] = instance.waiting_for()
    report["state"] = encode_value(instance.state, object)
    report["progress"] = [
        {
            "path": format_path(step.path),
            "kind": step.kind,
            "name": step.name,
            "ok": step.ok,
            "value": encode_value(step.value, object),
            "event_seq": step.event_seq,
            "section_skipped": step.section_skipped,
        }
        for step in instance.progress
    ]
    report["unmatched_events"] = [
        {"seq": u.seq, "type": u.event_type, "node": u.node, "expected": u.expected}
        for u in instance.unmatched_events
    ]
    return report


def why_not_running(
    record: InstanceRecord,
    registered: Sequence[WorkflowRecord],
    served: Collection[tuple[str, int]],
    now: datetime,
) -> str:
    """Why an unfinished instance is not advancing now, in words (`wio instances`)."""
    if record.status not in (InstanceStatus.RUNNING, InstanceStatus.WAITING):
        return ""
    name, version = record.workflow, record.workflow_version
    if (name, version) not in served:
        same = [w for w in registered if (w.name, w.version) == (name, version)]
        others = sorted(v for n, v in served if n == name)
        serving = f" (served: {', '.join(f'v{v}' for v in others)})" if others else ""
        if same:
            since = same[0].registered_at.isoformat(timespec="seconds")
            return f"no worker has served {name} v{version} since {since}{serving}"
        return f"no worker serves {name} v{version}{serving}"
    if record.lease_owner and record.lease_expires_at and record.lease_expires_at > now:
        return f"being run by {record.lease_owner}"
    if record.wakeup_at is not None and record.wakeup_at > now:
        at = record.wakeup_at.isoformat(timespec="seconds")
        if record.status == InstanceStatus.WAITING:
            return f"waiting for a signal or an operator, or its timeout at {at}"
        return f"retry at {at}" if record.last_error else f"timer until {at}"
    if record.status == InstanceStatus.WAITING:
        return "waiting for a signal or an operator"
    return "due: the next worker poll runs it"
