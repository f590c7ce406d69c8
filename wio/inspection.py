"""What `wio inspect` shows of an instance: registry row, events, state and progress."""

from __future__ import annotations

from typing import Any

from wio.codec import encode_value
from wio.interpreter import format_path
from wio.journal import Journal
from wio.loading import definition_for
from wio.runtime import Runtime


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
