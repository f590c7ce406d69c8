"""Variants of the shipment example's versions, for the replay and migration tests."""

from __future__ import annotations

from pathlib import Path

from wio import WIO, Workflow
from wio.loading import load_module

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
shipment = load_module(str(EXAMPLES / "shipment.py"))
v1 = load_module(str(EXAMPLES / "evolution_v1.py"))
v2 = load_module(str(EXAMPLES / "evolution_v2.py"))

# Version 2 without the removed section's event classes: v1 journals do not decode.
forgetful = Workflow(v2.workflow, name="shipping", version=2)


def refuse_reservation(s: object, event: object) -> object:
    raise ValueError("reservations are handled elsewhere now")


# Version 3 keeps the section, but its reservation handler raises on replay.
broken_handler = Workflow(
    (
        WIO.run(shipment.reserve, refuse_reservation).named("Reserve Stock") >> v1.charge_card
    ).checkpointed(v1.save_payment, shipment.recover_payment)
    >> shipment.ship,
    name="shipping",
    version=3,
)

# Version 4 ships before it charges: v1 journals diverge at their second event.
reordered = Workflow(
    v1.reserve_stock >> shipment.ship >> v1.charge_card,
    name="shipping",
    version=4,
)
