"""A shop whose cleanup flow (`Workflow.on_cancel`) refunds the charge and tells the
customer, instrumented as `tests.harness.crashable_order` is: ``refund:after`` hangs
once the refund is made, before its event is recorded; ``notify:before`` hangs after
the refund's event is durable, before the customer is told."""

from __future__ import annotations

import os
from datetime import timedelta

from attrs import frozen

from tests.harness.crashable_order import FileEffects
from wio import WIO, Workflow, event
from wio.retry import RetryPolicy

side_effects = FileEffects(os.environ["WIO_EFFECTS_LOG"], os.environ.get("WIO_BLOCK", ""))


@event("refunds.Charged")
@frozen
class Charged:
    amount: int


@event("refunds.Refunded")
@frozen
class Refunded:
    amount: int


@event("refunds.Notified")
@frozen
class Notified:
    message: str


@frozen
class Order:
    order_id: str
    amount: int
    charged: int = 0
    refunded: int = 0


def charge(order: Order) -> Charged:
    side_effects.append(f"charge {order.order_id}")
    return Charged(order.amount)


def refund(order: Order) -> Refunded:
    side_effects.append(f"refund {order.order_id}")
    return Refunded(order.charged)


def notify(order: Order) -> Notified:
    side_effects.append(f"notify {order.order_id}")
    return Notified(f"{order.order_id}: refunded {order.refunded}")


shop = WIO.run(charge, lambda o, e: Order(o.order_id, o.amount, charged=e.amount)).named(
    "Charge"
) >> WIO.await_for(timedelta(hours=1), name="Cooling-off period")
cleanup = WIO.run(
    refund, lambda o, e: Order(o.order_id, o.amount, o.charged, refunded=e.amount)
).named("Refund") >> WIO.run(notify, lambda o, e: o).named("Notify")

workflow = Workflow(
    shop,
    name="refunds",
    input_type=Order,
    retry=RetryPolicy(max_attempts=3, initial_delay=0.05),
    on_cancel=cleanup,
)
