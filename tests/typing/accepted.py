"""Compositions mypy --strict must accept (checked by tests/test_typing.py)."""

from typing import Never

from attrs import frozen

from wio import WIO, Err


@frozen
class Order:
    amount: int


@frozen
class Receipt:
    text: str


@frozen
class Charged:
    amount: int


@frozen
class Declined:
    reason: str


def check(order: Order) -> Order | Err[Declined]:
    return order if order.amount > 0 else Err(Declined("empty"))


def charge(order: Order) -> Charged:
    return Charged(order.amount)


async def charge_async(order: Order) -> Charged:
    return Charged(order.amount)


def receipt(order: Order, event: Charged) -> Receipt:
    return Receipt(f"paid {event.amount}")


def save(order: Order, r: Receipt) -> Charged:
    return Charged(len(r.text))


def restore(order: Order, event: Charged) -> Receipt:
    return Receipt(str(event.amount))


validate: WIO[Order, Declined, Order] = WIO.pure_from(check, error=Declined)
pay: WIO[Order, Never, Receipt] = WIO.run(charge, receipt)
pay_async: WIO[Order, Never, Receipt] = WIO.run(charge_async, receipt)
flow: WIO[Order, Declined, Receipt] = validate >> pay
checkpointed: WIO[Order, Declined, Receipt] = flow.checkpointed(save, restore)
recovered: WIO[Order, Never, Receipt] = WIO.recover(restore)
handled: WIO[Order, Never, Receipt] = flow.handle_error_with(WIO.pure(Receipt("declined")))
routed: WIO[Order, Never, Receipt] = (
    WIO.fork("Big?", input=Order)
    .branch("Big", lambda o: o.amount > 100, pay)
    .otherwise("Small", pay_async)
)
constant_first: WIO[int, Never, Receipt] = WIO.pure(Order(1)) >> pay
texts: WIO[Order, Declined, str] = flow.map(lambda r: r.text)
