"""The order process: validate the order, charge the payment, send an email,
update the inventory. A declined payment is a business error, handled by
cancelling the order instead of shipping it.

The "services" below stand in for real ones and remember what they did, so
tests and the demo can show which side effects ran.
"""

from __future__ import annotations

from attrs import evolve, frozen

from wio import WIO, Err


@frozen
class Order:
    order_id: str
    customer_email: str
    amount_cents: int
    items: tuple[str, ...]


@frozen
class OrderState:
    order: Order
    status: str  # received | validated | paid | confirmed | fulfilled | cancelled
    payment_id: str | None = None


# -- business errors -----------------------------------------------------------


@frozen
class InvalidOrder:
    reason: str


@frozen
class PaymentDeclined:
    reason: str


# -- events: each records what one side effect did ---------------------------------


@frozen
class PaymentCharged:
    payment_id: str
    declined_reason: str | None = None


@frozen
class EmailSent:
    to: str
    subject: str


@frozen
class InventoryUpdated:
    items: tuple[str, ...]


@frozen
class OrderCancelled:
    reason: str


# -- stand-ins for real services ------------------------------------------------

CARD_LIMIT_CENTS = 100_000
side_effects: list[str] = []


def charge_card(state: OrderState) -> PaymentCharged:
    order = state.order
    side_effects.append(f"charge {order.order_id} {order.amount_cents}")
    if order.amount_cents > CARD_LIMIT_CENTS:
        return PaymentCharged(payment_id="", declined_reason="over the card limit")
    return PaymentCharged(payment_id=f"pay-{order.order_id}")


def email_customer(state: OrderState) -> EmailSent:
    side_effects.append(f"email {state.order.customer_email}")
    return EmailSent(
        to=state.order.customer_email, subject=f"Order {state.order.order_id} confirmed"
    )


def reserve_stock(state: OrderState) -> InventoryUpdated:
    side_effects.append(f"inventory {','.join(state.order.items)}")
    return InventoryUpdated(items=state.order.items)


def order_state(last_state: object) -> OrderState:
    """An error handler's last state, which every step of the handled section makes
    an OrderState (the type checker only knows it is some value)."""
    assert isinstance(last_state, OrderState), last_state
    return last_state


def notify_cancellation(args: tuple[object, PaymentDeclined]) -> OrderCancelled:
    state, declined = args
    side_effects.append(f"cancel {order_state(state).order.order_id}")
    return OrderCancelled(reason=declined.reason)


# -- the workflow ------------------------------------------------------------------


def check_order(order: Order) -> OrderState | Err[InvalidOrder]:
    if not order.items:
        return Err(InvalidOrder("the order has no items"))
    if order.amount_cents <= 0:
        return Err(InvalidOrder("the amount must be positive"))
    return OrderState(order=order, status="validated")


def record_payment(state: OrderState, event: PaymentCharged) -> OrderState | Err[PaymentDeclined]:
    if event.declined_reason is not None:
        return Err(PaymentDeclined(event.declined_reason))
    return evolve(state, status="paid", payment_id=event.payment_id)


validate_order = WIO.pure_from(check_order, error=InvalidOrder).named("Validate Order")

charge_payment = WIO.run(charge_card, record_payment, error=PaymentDeclined).named("Charge Payment")

send_email = WIO.run(email_customer, lambda state, _: evolve(state, status="confirmed")).named(
    "Send Email"
)

update_inventory = WIO.run(reserve_stock, lambda state, _: evolve(state, status="fulfilled")).named(
    "Update Inventory"
)

cancel_order = WIO.run(
    notify_cancellation, lambda args, _: evolve(order_state(args[0]), status="cancelled")
).named("Cancel Order")

order_workflow = (
    validate_order
    >> (charge_payment >> send_email >> update_inventory).handle_error_with(
        cancel_order, error=PaymentDeclined
    )
).auto_named()
