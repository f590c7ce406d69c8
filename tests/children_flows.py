"""Workflows with child instances, shared by the tests of `WIO.run_child`: a batch
pays each recipient in a child instance of the payout workflow."""

from __future__ import annotations

from attrs import frozen

from wio import WIO, Err, Workflow
from wio.retry import RetryPolicy

side_effects: list[str] = []  # the payments made; a harness swaps in a file log


@frozen
class Paid:
    recipient: str
    cents: int


@frozen
class PayoutRejected:
    reason: str


def pay(recipient: str) -> Paid:
    side_effects.append(f"pay {recipient}")
    return Paid(recipient, 100 * len(recipient))


def settled(recipient: str, event: Paid) -> int | Err[PayoutRejected]:
    if recipient == "mallory":
        return Err(PayoutRejected(f"{recipient} is blocked"))
    return event.cents


FAST_RETRY = RetryPolicy(max_attempts=3, initial_delay=0.05, multiplier=2)

payout = Workflow(
    WIO.run(pay, settled, error=PayoutRejected).named("Pay"),
    name="payout",
    input_type=str,
    retry=FAST_RETRY,
)

batch = Workflow(
    WIO.for_each(
        lambda recipients: recipients,
        WIO.run_child(payout, id_of=lambda recipient: f"payout-{recipient}", result_type=int),
        name="Each recipient",
    ).map(lambda paid: sum(paid.values())),
    name="batch",
    input_type=list[str],
    retry=FAST_RETRY,
)
