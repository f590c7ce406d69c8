"""Version 2 of the shipment workflow: the payment section is gone.

Instances started under version 1 that passed the payment checkpoint resume
here: ``WIO.recover`` consumes their ``PaymentSettled`` event and the workflow
carries on without running the removed steps.
"""

from __future__ import annotations

from shipment import recover_payment, ship

from wio import WIO, Workflow

workflow = WIO.recover(recover_payment) >> ship

# Version 2 of "shipping", served beside version 1. The removed section's events
# stay registered: version 1 journals hold them.
shipping = Workflow(
    workflow, name="shipping", version=2, retired_events=("StockReserved", "CardCharged")
)
