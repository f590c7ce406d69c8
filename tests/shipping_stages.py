"""Version 1 shipments at every stage of the shipment example, on a real journal.

Stages: ``before`` the payment section (created, nothing run), ``inside`` it
(stock reserved, not paid), ``past`` its checkpoint (PaymentSettled recorded,
not shipped) and ``finished``. Each is a v1 process that stopped there.
"""

from __future__ import annotations

from typing import Any

import attrs

from tests.conftest import example
from wio import Runtime
from wio.journal import Journal, StoredEvent, open_journal

V1 = "docs/examples/evolution_v1.py:shipping"
V2 = "docs/examples/evolution_v2.py:shipping"
STAGES = {"before": 0, "inside": 1, "past": 3, "finished": 4}


def start_v1_at_every_stage(url: str, prefix: str = "") -> dict[str, str]:
    """Create one v1 instance per stage; returns stage -> instance id."""
    v1, shipment = example("evolution_v1"), example("shipment")
    ids = {}
    with Runtime(v1.shipping, journal=url) as runtime:
        for stage, events in STAGES.items():
            instance_id = f"{prefix}{stage}"
            instance = runtime.create(instance_id, shipment.Shipment(instance_id, 1_000))
            if events:
                instance.advance(until=lambda i=instance, n=events: len(i.events) >= n)
            assert len(instance.events) == events
            ids[stage] = instance_id
    return ids


def rows(url: str) -> dict[str, Any]:
    """Every row the journal holds, for comparing before and after a read-only command."""
    journal = open_journal(url, upgrade=False)
    try:
        return {
            record.id: (record, journal.read(record.id)) for record in journal.list_instances()
        } | {"workflows": journal.list_workflows()}
    finally:
        journal.close()


def rows_but_lease_epochs(url: str) -> dict[str, Any]:
    """`rows` with every lease epoch at 0: a command that leases an instance to look
    at it (`wio migrate`, `wio deliver`) moves its epoch even when it refuses, so
    that no worker that held it before appends to it; nothing else may change."""
    return {
        key: (attrs.evolve(row[0], lease_epoch=0), row[1]) if isinstance(row, tuple) else row
        for key, row in rows(url).items()
    }


def event_types(journal: Journal, instance_id: str) -> list[str]:
    return [e.type for e in journal.read(instance_id)]


def migrated_events(journal: Journal, instance_id: str) -> list[StoredEvent]:
    return [e for e in journal.read(instance_id) if e.type == "wio.Migrated"]
