"""Compositions mypy --strict must reject (checked by tests/test_typing.py).

Each line marked `# E` must get an error; no other line may.
"""

from typing import Never

from attrs import frozen

from wio import WIO


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
