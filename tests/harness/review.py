"""A document review that waits for a reviewer's signal (for the signal tests)."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from attrs import evolve, frozen

from wio import WIO, Err, Signal, Workflow


@frozen
class Document:
    title: str
    status: str = "submitted"
    reviewer: str | None = None


@frozen
class Verdict:
    reviewer: str
    approve: bool
    comment: str = ""


@frozen
class Acknowledgement:
    document: str
    accepted: bool


@frozen
class Reviewed:
    reviewer: str
    approve: bool


@frozen
class Rejected:
    reason: str


review = Signal("Review", request=Verdict, response=Acknowledgement)

notifications: list[str] = []


def record_verdict(document: Document, verdict: Verdict) -> Reviewed:
    notifications.append(f"{verdict.reviewer} reviewed {document.title}")
    log = os.environ.get("WIO_REVIEW_LOG")
    if log:
        with Path(log).open("a") as file:
            file.write(f"{verdict.reviewer}\n")
    return Reviewed(verdict.reviewer, verdict.approve)


def apply_verdict(document: Document, event: Reviewed) -> Document | Err[Rejected]:
    if not event.approve:
        return Err(Rejected(f"rejected by {event.reviewer}"))
    return evolve(document, status="approved", reviewer=event.reviewer)


def acknowledge(document: Document, event: Reviewed, verdict: Verdict) -> Acknowledgement:
    return Acknowledgement(document.title, event.approve)


await_review = WIO.handle_signal(
    review, record_verdict, apply_verdict, acknowledge, error=Rejected
).named("Await Review")

workflow = Workflow(
    WIO.pure_from(lambda d: evolve(d, status="in review")).named("Submit") >> await_review,
    name="review",
    input_type=Document,
)


# -- interruptions: a withdrawal, and a deadline ------------------------------------


@frozen
class Withdrawal:
    reason: str


@frozen
class Withdrawn:
    reason: str


withdraw = Signal("Withdraw", request=Withdrawal, response=Acknowledgement)


def record_withdrawal(document: Document, withdrawal: Withdrawal) -> Withdrawn:
    notifications.append(f"{document.title} withdrawn")
    return Withdrawn(withdrawal.reason)


await_withdrawal = WIO.handle_signal(
    withdraw,
    record_withdrawal,
    lambda document, event: evolve(document, status=f"withdrawn: {event.reason}"),
    lambda document, event, request: Acknowledgement(document.title, accepted=False),
).named("Withdrawal")


@frozen
class Escalated:
    to: str


def escalate(document: Document) -> Escalated:
    notifications.append(f"escalated {document.title}")
    return Escalated("the editor")


escalation = WIO.run(escalate, lambda d, e: evolve(d, status=f"escalated to {e.to}")).named(
    "Escalate"
)

guarded = Workflow(
    (
        WIO.pure_from(lambda d: evolve(d, status="in review")).named("Submit")
        >> await_review.interrupted_by(await_withdrawal)
    ).timeout(timedelta(days=3), then=escalation, name="Three Days"),
    name="guarded-review",
    input_type=Document,
)
