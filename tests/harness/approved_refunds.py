"""A shop whose cleanup flow (`Workflow.on_cancel`) waits for a finance officer's
approval, a signal, before it refunds: the signal reaches the cleanup with `wio signal`
like any other, and the instance ends cancelled after the refund."""

from __future__ import annotations

from datetime import timedelta

from attrs import evolve, frozen

from wio import WIO, Signal, Workflow, event


@event("approved_refunds.Charged")
@frozen
class Charged:
    amount: int


@event("approved_refunds.RefundApproved")
@frozen
class RefundApproved:
    officer: str


@event("approved_refunds.Refunded")
@frozen
class Refunded:
    amount: int


@frozen
class Order:
    order_id: str
    amount: int
    charged: int = 0
    approved_by: str = ""
    refunded: int = 0


@frozen
class Approval:
    officer: str


@frozen
class Receipt:
    order_id: str
    status: str


approve_refund = Signal("ApproveRefund", request=Approval, response=Receipt)


def charge(order: Order) -> Charged:
    return Charged(order.amount)


def approve(order: Order, request: Approval) -> RefundApproved:
    return RefundApproved(request.officer)


def refund(order: Order) -> Refunded:
    return Refunded(order.charged)


charged = WIO.run(charge, lambda o, e: evolve(o, charged=e.amount)).named("Charge")
approval = WIO.handle_signal(
    approve_refund,
    approve,
    lambda o, e: evolve(o, approved_by=e.officer),
    lambda o, e, request: Receipt(o.order_id, "refund approved"),
).named("Approve refund")
refunded = WIO.run(refund, lambda o, e: evolve(o, refunded=e.amount)).named("Refund")

workflow = Workflow(
    charged >> WIO.await_for(timedelta(days=14), name="Cooling-off period"),
    name="approved-refunds",
    input_type=Order,
    on_cancel=approval >> refunded,
)
