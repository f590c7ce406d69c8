"""Compositions mypy --strict must accept (checked by tests/test_typing.py)."""

from typing import Never, assert_type

from attrs import frozen

from wio import WIO, AsyncRuntime, Err, Runtime, Workflow


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

# A run step without a handler passes its input on.
passed_on: WIO[Order, Never, Order] = WIO.run(charge)
passed_on_async: WIO[Order, Never, Order] = WIO.run(charge_async)

# A lambda handler's output type survives assignment to an unannotated variable,
# also when computed from its parameters, and also after a coroutine effect.
step = WIO.run(charge, lambda order, event: Receipt(f"paid {event.amount}"))
assert_type(step, WIO[Order, Never, Receipt])
amount = WIO.run(charge, lambda order, event: event.amount + order.amount)
assert_type(amount, WIO[Order, Never, int])
amount_async = WIO.run(charge_async, lambda order, event: event.amount)
assert_type(amount_async, WIO[Order, Never, int])
checked = WIO.run(
    charge,
    lambda order, event: event.amount if event.amount else Err(Declined("0")),
    error=Declined,
)
assert_type(checked, WIO[Order, Declined, int])
chained = pay >> WIO.pure_from(lambda r: r.text)  # `>>` gives the lambda its input type
assert_type(chained, WIO[Order, Never, str])

# An error handler sees the error typed, and the workflow's output stays typed.
explained = flow.handle_error_with(WIO.pure_from(lambda failed: Receipt(failed[1].reason)))
assert_type(explained, WIO[Order, Never, Receipt])
last_state = flow.handle_error_with(WIO.pure_from(lambda failed: failed[0]))
assert_type(last_state, WIO[Order, Never, object])  # the last state is some value


# WIO.sequence checks and types up to six steps.
def text_of(r: Receipt) -> str:
    return r.text


three = WIO.sequence(validate, pay, WIO.pure_from(text_of))
assert_type(three, WIO[Order, Declined, str])
six = WIO.sequence(validate, validate, validate, validate, validate, pay)
assert_type(six, WIO[Order, Declined, Receipt])

# An instance's result is typed from its workflow: the output, the business error, or None.
instance = Runtime(flow).create("o-1", Order(1))
assert_type(instance.result, Receipt | Declined | None)
assert_type(instance.state, object)  # the latest value any node produced
defined = Workflow(flow, name="orders")
assert_type(Runtime(defined).create("o-2", Order(2)).result, Receipt | Declined | None)


async def created_async() -> None:
    created = await AsyncRuntime(flow).create("o-3", Order(3))
    assert_type(created.result, Receipt | Declined | None)
