"""A batch of payouts: one child instance per recipient, awaited together.

`WIO.run_child` starts the payout workflow as a separate instance for each
recipient (inside `WIO.for_each`, so they run at the same time), each with its
own id, input and history, which any worker serving "payout" runs. The batch
waits, durably, for each child's end: a child's result completes its wait, and
a child that refuses a recipient fails the batch with that business error.

The "bank" below stands in for a real one and remembers what it did.
"""

from __future__ import annotations

from attrs import frozen

from wio import WIO, Err, Workflow


@frozen
class Payment:
    recipient: str
    cents: int


@frozen
class Transferred:
    reference: str


@frozen
class Blocked:
    recipient: str


transfers: list[str] = []
blocked_recipients: set[str] = set()


def transfer(payment: Payment) -> Transferred:
    transfers.append(f"{payment.recipient}: {payment.cents}")
    return Transferred(f"tx-{payment.recipient}")


def transferred(payment: Payment, event: Transferred) -> str | Err[Blocked]:
    if payment.recipient in blocked_recipients:
        return Err(Blocked(payment.recipient))
    return event.reference


payout = Workflow(
    WIO.run(transfer, transferred, error=Blocked).named("Transfer"),
    name="payout",
)


@frozen
class Batch:
    batch_id: str
    payments: tuple[Payment, ...]


pay_each: WIO[Batch, Blocked, list[str]] = WIO.for_each(
    lambda batch: batch.payments,
    WIO.run_child(
        payout,
        id_of=lambda payment: f"payout-{payment.recipient}",  # one child per recipient
        result_type=str,
        name="Pay Recipient",
    ),
    key=lambda payment: payment.recipient,
    combine=lambda batch, references: sorted(references.values()),
    name="Payments",
)

workflow = Workflow(pay_each, name="payouts", input_type=Batch)
