"""Version 1 of the shipment workflow: the payment section is checkpointed.

When the section completes, its checkpoint event ``PaymentSettled`` captures
its result, so a later version may remove the section (see evolution_v2.py).
"""

from __future__ import annotations

from attrs import evolve
from shipment import (
    PaymentSettled,
    Shipment,
    charge,
    recover_payment,
    reserve,
    ship,
)

from wio import WIO, Workflow


def save_payment(start: Shipment, paid: Shipment) -> PaymentSettled:
    return PaymentSettled(paid.order_id, paid.amount_cents)


reserve_stock = WIO.run(reserve, lambda s, _: evolve(s, reserved=True)).named("Reserve Stock")
charge_card = WIO.run(charge, lambda s, _: evolve(s, paid=True)).named("Charge Card")

payment = (reserve_stock >> charge_card).checkpointed(save_payment, recover_payment)

workflow = payment >> ship

# Deployed as version 1 of "shipping": its instances keep this version until migrated.
shipping = Workflow(workflow, name="shipping", version=1)
