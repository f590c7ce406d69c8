"""A shop that refunds on cancellation: its cleanup flow (`Workflow.on_cancel`).

An order is charged, then waits out a cooling-off period before it ships. An
operator's cancel (``wio cancel ID``) at any point runs the cleanup flow:
refund what was charged, then tell the customer.
"""

from __future__ import annotations

from datetime import timedelta

from attrs import frozen

from wio import WIO, Workflow, event


@frozen
class Order:
    order_id: str
    cents: int
    charged: int = 0
    refunded: int = 0


@event("shop.Charged")
@frozen
class Charged:
    cents: int


@event("shop.Shipped")
@frozen
class Shipped:
    tracking: str


@event("shop.Refunded")
@frozen
class Refunded:
    cents: int


@event("shop.Told")
@frozen
class Told:
    message: str


def charge(order: Order) -> Charged:
    return Charged(order.cents)  # the payment service


def ship(order: Order) -> Shipped:
    return Shipped(f"track-{order.order_id}")


def refund(order: Order) -> Refunded:
    return Refunded(order.charged)  # idempotent by order id at the payment service


def tell(order: Order) -> Told:
    return Told(f"{order.order_id}: refunded {order.refunded} cents")


def charged(order: Order, event: Charged) -> Order:
    return Order(order.order_id, order.cents, charged=event.cents)


def refunded(order: Order, event: Refunded) -> Order:
    return Order(order.order_id, order.cents, order.charged, refunded=event.cents)


workflow = Workflow(
    WIO.run(charge, charged).named("Charge")
    >> WIO.await_for(timedelta(days=14), name="Cooling-off period")
    >> WIO.run(ship, lambda order, _: order).named("Ship"),
    name="shop",
    input_type=Order,
    on_cancel=WIO.run(refund, refunded).named("Refund")
    >> WIO.run(tell, lambda order, _: order).named("Tell the customer"),
)
