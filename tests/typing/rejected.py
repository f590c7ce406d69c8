"""Compositions mypy --strict must reject (checked by tests/test_typing.py).

Each line marked `# E` must get an error; no other line may.
"""

from typing import Never

from attrs import frozen

from wio import WIO, Err, Runtime


@frozen
class Order:
    amount: int


@frozen
class Receipt:
    text: str


def receipt_text(r: Receipt) -> str:
    return r.text


def amount(o: Order) -> int:
    return o.amount


to_amount: WIO[Order, Never, int] = WIO.pure_from(amount)
needs_receipt: WIO[Receipt, Never, str] = WIO.pure_from(receipt_text)

wrong = to_amount >> needs_receipt  # E
also_wrong: WIO[Order, Never, str] = WIO.pure(Receipt("x")) >> to_amount  # E

in_sequence = WIO.sequence(to_amount, needs_receipt)  # E
in_longer_sequence = WIO.sequence(to_amount, WIO.pure_from(str), to_amount)  # E


@frozen
class Declined:
    reason: str


def check(o: Order) -> Order | Err[Declined]:
    return o


def receipt_of(pair: tuple[Order, Declined]) -> Receipt:
    return Receipt(pair[1].reason)


validated: WIO[Order, Declined, Order] = WIO.pure_from(check, error=Declined)
# The last state is some value, not necessarily the section's input or output.
assumes_state = validated.handle_error_with(WIO.pure_from(receipt_of))  # E
uses_state = validated.handle_error_with(WIO.pure_from(lambda f: f[0].amount))  # E
errs_without_handler = WIO.run(lambda o: Receipt("x"), event=Receipt, error=Declined)  # E

not_narrowed = Runtime(validated).create("o", Order(1)).result.amount  # E
wrong_handler = WIO.run(amount, lambda o, n: n.text)  # E
