"""An operator's event: recorded in an instance's journal if a node waits for it.

`wio deliver` decodes the event strictly into the class its type name is
registered under by the instance's workflow version, then records it as
`Instance.deliver` does: only if a node the instance waits at accepts it now
(a `recover` node, a step whose effect is due, a started timer). Otherwise
nothing is written and the error says what the instance waits for.
"""

from __future__ import annotations

from typing import Any

from wio.cancellation import Cancelled
from wio.codec import decode_input
from wio.errors import UnknownEventType, WioError
from wio.journal import Journal
from wio.loading import definition_for
from wio.runtime import Runtime
from wio.versions import Migrated

# Records only wio writes (`wio migrate`, `wio cancel`); an operator never delivers them.
RESERVED = frozenset({Migrated, Cancelled})


def deliver(
    journal: Journal, instance_id: str, event_type: str, data: Any, targets: list[str]
) -> str:
    """Decode ``data`` as ``event_type`` and record it; returns what happened, in words."""
    record = journal.get_instance(instance_id)
    definition = definition_for(record.workflow, record.workflow_version, targets)
    if definition is None:
        raise WioError(
            f"instance {instance_id!r} runs {record.workflow} v{record.workflow_version}, "
            "which none of --workflows defines"
        )
    codec = definition.codec
    cls = codec.event_class(event_type)
    if cls is None or cls in RESERVED:
        known = ", ".join(n for n in codec.event_names() if codec.event_class(n) not in RESERVED)
        raise UnknownEventType(
            f"{definition.name} v{definition.version} has no event type {event_type!r} "
            f"(it has: {known}); nothing was recorded"
        )
    where = f"instance {instance_id!r}, event {event_type}"
    event = decode_input(data, cls, where, "data")
    runtime = Runtime(definition, journal=journal)
    instance = runtime.get(instance_id)
    status = instance.deliver(event)
    return (
        f"instance {instance_id!r}: recorded {event_type} as event #{len(instance.events)}; "
        f"now {status}: {instance.waiting_for()}"
    )
