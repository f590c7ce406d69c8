"""What `wio inspect` shows of an instance: registry row, events, state and progress."""

from __future__ import annotations

from typing import Any

from journal import Journal
from wio.codec import encode_value
from wio.interpreter import format_path
from wio.loading import load_definition
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
                "payload": e.payload,
            }
            for e in journal.read(instance_id)
        ],
    }
    definitions = [load_definition(target) for target in targets]
    wanted = (record.workflow, record.workflow_version)
    matching = [d for d in definitions if (d.name, d.version) == wanted]
    if not matching:
        given = ", ".join(f"{d.name} v{d.version}" for d in definitions) or "none"
        report["note"] = (
            f"state and progress need the code of {record.workflow} v{record.workflow_version}: "
            f"pass --workflows PATH_OR_MODULE:ATTR (given: {given})"
        )
        return report
    runtime = Runtime(matching[0], journal=journal)
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
        }
        for step in instance.progress
    ]
    report["unmatched_events"] = [
        {"seq": u.seq, "type": u.event_type, "expected": u.expected}
        for u in instance.unmatched_events
    ]
    return report
