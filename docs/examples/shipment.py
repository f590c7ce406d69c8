"""The shipment domain shared by both versions of the shipment workflow.

State, events and services outlive any one version of a workflow: old
journals hold these events, so they stay when a section is removed.
"""

from __future__ import annotations

from attrs import evolve, frozen

from wio import WIO


@frozen
class Shipment:
    order_id: str
    amount_cents: int
    reserved: bool = False
    paid: bool = False
    tracking: str | None = None


@frozen
class StockReserved:
    order_id: str


@frozen
class CardCharged:
    order_id: str
    amount_cents: int


@frozen
class PaymentSettled:
    """The checkpoint event: everything later versions need from the payment section."""

    order_id: str
    amount_cents: int


@frozen
class ParcelShipped:
    tracking: str


side_effects: list[str] = []


def reserve(s: Shipment) -> StockReserved:
    side_effects.append(f"reserve {s.order_id}")
    return StockReserved(s.order_id)


def charge(s: Shipment) -> CardCharged:
    side_effects.append(f"charge {s.order_id}")
    return CardCharged(s.order_id, s.amount_cents)


def ship_parcel(s: Shipment) -> ParcelShipped:
    side_effects.append(f"ship {s.order_id}")
    return ParcelShipped(tracking=f"TRK-{s.order_id}")


def recover_payment(start: Shipment, event: PaymentSettled) -> Shipment:
    """Rebuild the state after the payment section from its checkpoint event."""
    return evolve(start, reserved=True, paid=True)


ship = WIO.run(ship_parcel, lambda s, e: evolve(s, tracking=e.tracking)).named("Ship")
