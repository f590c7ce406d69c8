"""An expense claim, the console's demo: checked against the policy, approved by a
manager through a signal, then paid with retries. Tagged by employee and team,
so that the console finds every claim of one person.

The payment service below stands in for a real one: it is down while
``payments_down`` is true, so a claim's payment can fail and be retried.
"""

from __future__ import annotations

from attrs import evolve, frozen

from wio import WIO, RetryPolicy, Signal, Workflow


@frozen
class Claim:
    claim_id: str
    employee: str
    team: str
    amount_cents: int


@frozen
class Expense:
    claim_id: str
    employee: str
    team: str
    amount_cents: int
    status: str = "submitted"  # checked | approved | rejected | paid
    approver: str | None = None
    approved_cents: int = 0
    payment: str | None = None


@frozen
class Decision:
    approver: str
    approved_cents: int
    note: str = ""


@frozen
class Answer:
    claim_id: str
    status: str


approve = Signal("Approve", request=Decision, response=Answer)


@frozen
class PolicyChecked:
    within_policy: bool


@frozen
class Approved:
    approver: str
    approved_cents: int
    note: str


@frozen
class Paid:
    reference: str


payments_down = False
side_effects: list[str] = []


def check_policy(expense: Expense) -> PolicyChecked:
    return PolicyChecked(expense.amount_cents <= 500_000)


def record_decision(expense: Expense, decision: Decision) -> Approved:
    side_effects.append(f"{decision.approver} decided on {expense.claim_id}")
    return Approved(decision.approver, decision.approved_cents, decision.note)


def pay(expense: Expense) -> Paid:
    if payments_down:
        raise ConnectionError("the payment service does not answer")
    side_effects.append(f"paid {expense.approved_cents} to {expense.employee}")
    return Paid(f"PAY-{expense.claim_id}")


def to_expense(claim: Claim) -> Expense:
    return Expense(claim.claim_id, claim.employee, claim.team, claim.amount_cents)


def decided(expense: Expense, event: Approved) -> Expense:
    status = "approved" if event.approved_cents > 0 else "rejected"
    return evolve(
        expense, status=status, approver=event.approver, approved_cents=event.approved_cents
    )


workflow = Workflow(
    WIO.pure_from(to_expense).named("Receive Claim")
    >> WIO.run(check_policy, lambda e, checked: evolve(e, status="checked")).named("Check Policy")
    >> WIO.handle_signal(
        approve,
        record_decision,
        decided,
        lambda e, event, decision: Answer(e.claim_id, "approved"),
    ).named("Manager Approval")
    >> WIO.run(
        pay,
        lambda e, paid: evolve(e, status="paid", payment=paid.reference),
        retry=RetryPolicy(max_attempts=2, initial_delay=1),
    ).named("Pay"),
    name="expenses",
    input_type=Claim,
    tags=lambda state: {"employee": state.employee, "team": state.team},
)
