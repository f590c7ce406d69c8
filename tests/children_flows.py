"""Workflows with child instances, shared by the tests of `WIO.run_child`."""

from __future__ import annotations

import os
from pathlib import Path

from attrs import frozen

from wio import WIO, Err, Workflow


@frozen
class Paid:
    recipient: str
    cents: int


@frozen
class Refused:
    recipient: str


@frozen
class PayoutRejected:
    reason: str


def pay(recipient: str) -> Paid:
    marker = os.environ.get("WIO_CHILDREN_MARKERS")
    if marker:  # a kill-and-resume test counts the side effects
        with (Path(marker) / f"pay-{recipient}").open("a") as log:
            log.write("paid\n")
    return Paid(recipient, 100 * len(recipient))


def settled(recipient: str, event: Paid) -> int | Err[PayoutRejected]:
    if recipient == "mallory":
        return Err(PayoutRejected(f"{recipient} is blocked"))
    return event.cents


payout = Workflow(
    WIO.run(pay, settled, error=PayoutRejected).named("Pay"), name="payout", input_type=str
)

batch = Workflow(
    WIO.for_each(
        lambda recipients: recipients,
        WIO.run_child(payout, id_of=lambda recipient: f"payout-{recipient}", result_type=int),
        name="Each recipient",
    ).map(lambda paid: sum(paid.values())),
    name="batch",
    input_type=list[str],
)
