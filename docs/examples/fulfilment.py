"""An order fulfilment with a parallel section: the card is charged, the stock
reserved and a courier booked at the same time, and the order ships when all
three are done.

The courier is booked by signal from the dispatch desk; if none is assigned
within two days the house courier is used. A declined card fails the whole
section (the other flows stop where they are) and the order is cancelled.

The services below stand in for real ones and remember what they did.
"""

from __future__ import annotations

from datetime import timedelta

from attrs import frozen

from wio import WIO, Err, Signal, Workflow


@frozen
class Order:
    order_id: str
    amount_cents: int
    sku: str


@frozen
class Shipment:
    order_id: str
    payment: str
    reservation: str
    courier: str


@frozen
class PaymentDeclined:
    reason: str


# -- signals ------------------------------------------------------------------------


@frozen
class Assignment:
    courier: str


@frozen
class Booking:
    order_id: str
    courier: str


assign_courier = Signal("Assign Courier", request=Assignment, response=Booking)

# -- events -------------------------------------------------------------------------


@frozen
class Charged:
    payment_id: str | None  # None: declined
    reason: str = ""


@frozen
class Reserved:
    reservation_id: str


@frozen
class CourierBooked:
    courier: str


@frozen
class Shipped:
    tracking: str


@frozen
class Cancelled:
    reason: str


# -- stand-ins for real services --------------------------------------------------------

side_effects: list[str] = []
declined_cards: set[str] = set()  # orders whose card the bank declines


def charge_card(order: Order) -> Charged:
    side_effects.append(f"charged {order.order_id}")
    if order.order_id in declined_cards:
        return Charged(None, "insufficient funds")
    return Charged(f"pay-{order.order_id}")


def reserve_stock(order: Order) -> Reserved:
    side_effects.append(f"reserved {order.sku} for {order.order_id}")
    return Reserved(f"res-{order.order_id}")


def book_courier(order: Order, assignment: Assignment) -> CourierBooked:
    side_effects.append(f"booked {assignment.courier} for {order.order_id}")
    return CourierBooked(assignment.courier)


def book_house_courier(order: Order) -> CourierBooked:
    side_effects.append(f"booked the house courier for {order.order_id}")
    return CourierBooked("house courier")


def ship(shipment: Shipment) -> Shipped:
    side_effects.append(f"shipped {shipment.order_id} with {shipment.courier}")
    return Shipped(f"track-{shipment.order_id}")


def cancel(failed: tuple[object, PaymentDeclined]) -> Cancelled:
    side_effects.append(f"cancelled: {failed[1].reason}")
    return Cancelled(failed[1].reason)


# -- the workflow ------------------------------------------------------------------------


def payment_result(order: Order, event: Charged) -> str | Err[PaymentDeclined]:
    if event.payment_id is None:
        return Err(PaymentDeclined(event.reason))
    return event.payment_id


payment = WIO.run(charge_card, payment_result, error=PaymentDeclined).named("Charge Card")
stock = WIO.run(reserve_stock, lambda order, event: event.reservation_id).named("Reserve Stock")
courier = (
    WIO.handle_signal(
        assign_courier,
        book_courier,
        lambda order, event: event.courier,
        lambda order, event, assignment: Booking(order.order_id, event.courier),
    )
    .named("Courier Assigned")
    .timeout(
        timedelta(days=2),
        name="Two Days",
        then=WIO.run(book_house_courier, lambda order, event: event.courier).named(
            "Book House Courier"
        ),
    )
)


def to_shipment(order: Order, results: tuple[str, str, str]) -> Shipment:
    payment_id, reservation_id, courier_name = results
    return Shipment(order.order_id, payment_id, reservation_id, courier_name)


fulfil = (
    WIO.parallel("Fulfil", input=Order)
    .flow("Payment", payment)
    .flow("Stock", stock)
    .flow("Courier", courier)
    .combine(to_shipment)
)

shipping = WIO.run(ship, lambda shipment, event: event.tracking).named("Ship")
cancelling = WIO.run(cancel, lambda failed, event: f"cancelled: {event.reason}").named("Cancel")

workflow = Workflow(
    (fulfil >> shipping).handle_error_with(cancelling, error=PaymentDeclined),
    name="fulfilment",
    input_type=Order,
)
