"""A parallel section with a `recover` node in one flow (for `wio deliver`'s tests)."""

from __future__ import annotations

from attrs import frozen

from wio import WIO, Workflow


@frozen
class Settled:
    amount_cents: int


@frozen
class Packed:
    parcels: int


def pack(order_id: str) -> Packed:
    return Packed(1)


def settled(order_id: str, event: Settled) -> int:
    return event.amount_cents


settle = (
    WIO.parallel("Settle and Pack")
    .flow("Payment", WIO.recover(settled))
    .flow("Packing", WIO.run(pack, lambda order_id, event: event.parcels).named("Pack"))
)

workflow = Workflow(settle, name="settle", input_type=str)
