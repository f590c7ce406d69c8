"""A workflow's cleanup flow (`Workflow.on_cancel`): what a cancellation runs before the
instance ends cancelled, journaled and replayed like any flow, on every journal."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from attrs import frozen

from tests.conftest import ALL_JOURNALS, DURABLE_JOURNALS
from tests.processes import effect_counts, effects, harness_env, start_worker, stop, wait_until, wio
from tests.test_operations import racing_worker, wait_for
from wio import WIO, ManualClock, RetryPolicy, Runtime, Workflow, event
from wio.journal import InstanceStatus, Journal, open_journal
from wio.operations import OperationRefused, cancel, retry
from wio.worker import Worker

Open = Callable[[], Journal]
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@event("cleanup.Charged")
@frozen
class Charged:
    amount: int


@event("cleanup.Refunded")
@frozen
class Refunded:
    amount: int


@frozen
class Order:
    amount: int
    charged: int = 0
    refunded: int = 0


class Payments:
    """A stand-in payment service; ``refund_failures`` refunds fail before one succeeds."""

    def __init__(self, refund_failures: int = 0) -> None:
        self.calls: list[str] = []
        self.refund_failures = refund_failures
        self.gate: threading.Event | None = None  # holds the charge in flight until set
        self.entered = threading.Event()

    def charge(self, order: Order) -> Charged:
        self.calls.append(f"charge {order.amount}")
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(30)
        return Charged(order.amount)

    def refund(self, order: Order) -> Refunded:
        self.calls.append(f"refund {order.charged}")
        if self.refund_failures:
            self.refund_failures -= 1
            raise ConnectionError("payment service down")
        return Refunded(order.charged)


def shop(payments: Payments, *, cleanup: bool = True, attempts: int = 3) -> Workflow[Any, Any, Any]:
    flow = WIO.run(payments.charge, lambda o, e: Order(o.amount, charged=e.amount)).named(
        "Charge"
    ) >> WIO.await_for(timedelta(hours=1), name="Cooling-off period")
    refund = WIO.run(
        payments.refund, lambda o, e: Order(o.amount, o.charged, refunded=e.amount)
    ).named("Refund")
    return Workflow(
        flow,
        name="cleanup-shop",
        input_type=Order,
        retry=RetryPolicy(max_attempts=attempts, initial_delay=0.0),
        on_cancel=refund if cleanup else None,
    )


def charged_instance(journal: Journal, workflow: Workflow[Any, Any, Any], clock: Any) -> None:
    instance = Runtime(workflow, journal=journal, clock=clock).create("o-1", Order(30))
    instance.advance()
    assert journal.get_instance("o-1").wakeup_at is not None  # in its cooling-off period


def registered(journal: Journal, workflow: Workflow[Any, Any, Any], clock: Any) -> Worker:
    worker = Worker(journal, [workflow], clock=clock)
    worker.register()  # what tells `cancel` that the workflow has a cleanup flow
    return worker


@ALL_JOURNALS
def test_cancel_runs_the_cleanup_flow_then_ends_cancelled(open_fresh: Open) -> None:
    payments, clock = Payments(), ManualClock(T0)
    journal = open_fresh()
    workflow = shop(payments)
    charged_instance(journal, workflow, clock)
    worker = registered(open_fresh(), workflow, clock)

    cancelling = cancel(journal, "o-1", "customer withdrew", now=T0)
    assert (cancelling.status, cancelling.wakeup_at, cancelling.lease_owner) == (
        "running",  # not final: a worker runs the cleanup
        None,
        None,
    )
    again = cancel(journal, "o-1", "asked twice", now=T0)  # idempotent while cleaning up
    assert again.status == "running"
    assert [e.type for e in journal.read("o-1")] == [
        "cleanup.Charged",
        "wio.TimerStarted",
        "wio.Cancelled",
    ]
    reloaded = Runtime(workflow, journal=open_fresh(), clock=clock).get("o-1")
    assert reloaded.waiting_for().startswith("cleaning up after its cancellation (customer")

    assert worker.run_once() == 1
    stored = journal.read("o-1")
    assert [(e.type, e.node) for e in stored] == [
        ("cleanup.Charged", "/0"),
        ("wio.TimerStarted", "/1"),
        ("wio.Cancelled", None),
        ("cleanup.Refunded", "/-1"),  # under the cleanup flow's path
    ]
    assert stored[2].payload["reason"] == "customer withdrew"
    assert journal.get_instance("o-1").status == "cancelled"
    assert payments.calls == ["charge 30", "refund 30"]

    # Replay rebuilds the same state and runs no side effect again.
    replayed = Runtime(workflow, journal=open_fresh(), clock=clock).get("o-1")
    assert replayed.status == InstanceStatus.CANCELLED
    assert replayed.state == Order(30, charged=30, refunded=30)
    assert replayed.waiting_for() == "nothing: cancelled (customer withdrew)"
    assert worker.run_once() == 0
    assert payments.calls == ["charge 30", "refund 30"]
    with pytest.raises(OperationRefused, match="'o-1': it is cancelled already"):
        cancel(journal, "o-1", "once more")


@ALL_JOURNALS
def test_without_a_cleanup_flow_cancel_ends_the_instance_at_once(open_fresh: Open) -> None:
    payments, clock = Payments(), ManualClock(T0)
    journal = open_fresh()
    workflow = shop(payments, cleanup=False)
    charged_instance(journal, workflow, clock)
    registered(open_fresh(), workflow, clock)
    assert cancel(journal, "o-1", "customer withdrew", now=T0).status == "cancelled"
    assert payments.calls == ["charge 30"]


@ALL_JOURNALS
def test_a_failing_cleanup_step_is_retried_then_the_instance_fails(open_fresh: Open) -> None:
    payments, clock = Payments(refund_failures=1), ManualClock(T0)
    journal = open_fresh()
    workflow = shop(payments)
    charged_instance(journal, workflow, clock)
    worker = registered(open_fresh(), workflow, clock)
    cancel(journal, "o-1", "customer withdrew", now=T0)
    worker.run_once()  # the refund fails once, and is retried per the policy
    assert journal.get_instance("o-1").status == "cancelled"
    assert payments.calls == ["charge 30", "refund 30", "refund 30"]

    gives_up = Payments(refund_failures=5)
    workflow = shop(gives_up, attempts=2)
    other = Runtime(workflow, journal=journal, clock=clock).create("o-2", Order(40))
    other.advance()
    cancel(journal, "o-2", "customer withdrew", now=T0)
    Worker(open_fresh(), [workflow], clock=clock).run_once()
    record = journal.get_instance("o-2")
    assert record.status == "failed"
    assert record.last_error is not None and "payment service down" in record.last_error
    assert [e.type for e in journal.read("o-2")] == [
        "cleanup.Charged",
        "wio.TimerStarted",
        "wio.Cancelled",
    ]
    gives_up.refund_failures = 0  # the payment service is back
    assert retry(journal, "o-2").status == "running"  # runs the cleanup's step again
    Worker(open_fresh(), [workflow], clock=clock).run_once()
    assert journal.get_instance("o-2").status == "cancelled"
    assert [e.type for e in journal.read("o-2")][-1] == "cleanup.Refunded"


@ALL_JOURNALS
def test_a_step_in_flight_at_the_cancel_is_abandoned_and_the_cleanup_runs(
    open_fresh: Open,
) -> None:
    """The charge finishes its side effect while the cancel lands: its event is refused
    (at-least-once), and the cleanup starts on the state at the cancellation, which
    never saw that charge; a cleanup must be safe for such an unrecorded effect."""
    payments = Payments()
    payments.gate = threading.Event()
    journal = open_fresh()
    workflow = shop(payments)
    Runtime(workflow, journal=journal).create("o-1", Order(30))
    with racing_worker(open_fresh(), [workflow]):
        wait_for(payments.entered.is_set, "the charge to be in flight")
        assert cancel(journal, "o-1", "customer withdrew").status == "running"
        payments.gate.set()  # the charge is made, then its event is refused
        wait_for(lambda: journal.get_instance("o-1").status == "cancelled", "the cleanup")
    assert [e.type for e in journal.read("o-1")] == ["wio.Cancelled", "cleanup.Refunded"]
    assert payments.calls == ["charge 30", "refund 0"]


REFUNDS = "tests/harness/crashable_refunds.py:workflow"


@DURABLE_JOURNALS
@pytest.mark.parametrize("crash", ["refund:after", "notify:before"], ids=["mid-refund", "refunded"])
def test_a_worker_killed_mid_cleanup_is_resumed_by_a_fresh_one(
    journal_url: str, tmp_path: Path, crash: str
) -> None:
    """A real `wio worker` runs the cleanup a `wio cancel` started and is SIGKILLed in
    it; a fresh worker replays the cancellation and the cleanup so far, and ends it."""
    log = tmp_path / "effects.log"
    started = wio("start", REFUNDS, "--journal", journal_url, "--id", "R-1",
                  "--input", '{"order_id": "R-1", "amount": 30}', env=harness_env(log))  # fmt: skip
    assert started.returncode == 0, started.stderr
    doomed = start_worker(journal_url, harness_env(log, block=crash), workflows=REFUNDS)
    try:
        with open_journal(journal_url) as journal:
            wait_until(lambda: len(journal.read("R-1")) == 2, "the charge and the timer")
        cancelled = wio("cancel", "R-1", "--journal", journal_url, "--reason", "withdrawn")
        assert cancelled.returncode == 0, cancelled.stderr
        wait_until(Path(f"{log}.blocked").exists, f"the worker to block at {crash}")
    finally:
        doomed.kill()  # SIGKILL: no cleanup, no lease release
        doomed.wait(timeout=30)
    with open_journal(journal_url) as journal:
        assert journal.get_instance("R-1").status == "running"  # cleaning up, not final
        again = wio("cancel", "R-1", "--journal", journal_url, "--reason", "twice")
        assert again.returncode == 0, again.stderr  # idempotent while it cleans up
        fresh = start_worker(journal_url, harness_env(log), workflows=REFUNDS)
        try:
            wait_until(
                lambda: journal.get_instance("R-1").status == "cancelled",
                "the fresh worker to end the cleanup",
            )
        finally:
            assert stop(fresh) == 0
        stored = journal.read("R-1")
    assert [(e.type, e.node) for e in stored] == [
        ("refunds.Charged", "/0"),
        ("wio.TimerStarted", "/1"),
        ("wio.Cancelled", None),
        ("refunds.Refunded", "/-1/0"),
        ("refunds.Notified", "/-1/1"),
    ]
    assert stored[2].payload["reason"] == "withdrawn"  # the second cancel wrote nothing
    assert stored[3].payload["amount"] == 30  # the cleanup started on the state at the cancel
    counts = effect_counts(log)
    assert counts["charge R-1"] == 1
    # Killed mid-refund, the refund ran twice (at-least-once); after its event, once.
    assert counts["refund R-1"] == (2 if crash == "refund:after" else 1)
    assert counts["notify R-1"] == 1
    assert effects(log)[-1][0] == fresh.pid


LINTED_CLEANUP = """
from wio import WIO, Workflow

charge = WIO.pure(1).named("Charge")
refund = WIO.pure(0).named("Refund").compensate_with(WIO.pure(0).named("Undo refund"))
workflow = Workflow(charge, name="linted", on_cancel=refund)
"""


def test_lint_checks_the_cleanup_flow_too(tmp_path: Path) -> None:
    # A problem in the cleanup is named by its path under /-1, after the main flow's.
    from wio.lint import lint
    from wio.paths import format_path

    charge = WIO.pure(1).named("Charge").compensate_with(WIO.pure(0).named("Refund"))
    refund = WIO.pure(0).named("Refund").compensate_with(WIO.pure(0).named("Undo"))
    problems = lint(Workflow(WIO.pure(0) >> charge, name="w", on_cancel=refund))
    assert [(p.code, format_path(p.path)) for p in problems] == [
        ("unused-compensation", "/1"),
        ("unused-compensation", "/-1"),
    ]
    target = tmp_path / "linted.py"
    target.write_text(LINTED_CLEANUP)
    run = wio("lint", f"{target}:workflow")
    assert run.returncode == 1
    assert "/-1: unused-compensation" in run.stdout
