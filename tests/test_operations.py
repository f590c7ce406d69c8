"""Operator actions in Python: retry, cancel, fork and bulk selection, on every journal,
with a worker racing them."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from attrs import frozen

from tests.conftest import ALL_JOURNALS, DURABLE_JOURNALS, example
from wio import (
    WIO,
    InstanceCancelled,
    ManualClock,
    RetryPolicy,
    Runtime,
    Workflow,
    event,
)
from wio.codec import InputError
from wio.journal import InstanceStatus, Journal
from wio.operations import (
    BulkSelectionChanged,
    OperationRefused,
    Selection,
    bulk,
    cancel,
    each,
    fork,
    retry,
    select,
)
from wio.worker import Worker

Open = Callable[[], Journal]


@frozen
class Charged:
    amount: int


@frozen
class Shipped:
    parcel: str


class Services:
    """Stand-in services: the shipper is down until ``fixed``; ``gate`` holds a shipment."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.fixed = False
        self.gate: threading.Event | None = None
        self.entered = threading.Event()

    def charge(self, amount: int) -> Charged:
        self.calls.append("charge")
        return Charged(amount)

    def ship(self, amount: int) -> Shipped:
        self.calls.append("ship")
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(30)
        if not self.fixed:
            raise ConnectionError("shipper down")
        return Shipped(f"parcel-{amount}")


def shop(services: Services, version: int = 1) -> Workflow[int, Any]:
    flow = WIO.run(services.charge, lambda n, e: e.amount).named("Charge") >> WIO.run(
        services.ship, lambda n, e: e.parcel
    ).named("Ship")
    return Workflow(
        flow,
        name="shop",
        version=version,
        input_type=int,
        retry=RetryPolicy(max_attempts=2, initial_delay=0.01),
    )


def failed_instance(journal: Journal, services: Services, instance_id: str = "s-1") -> None:
    runtime = Runtime(shop(services), journal=journal)
    instance = runtime.create(instance_id, 5)
    instance.advance()
    instance.advance()  # the second and last attempt
    assert journal.get_instance(instance_id).status == InstanceStatus.FAILED


@contextmanager
def racing_worker(journal: Journal, workflows: list[Workflow[Any, Any, Any]]) -> Iterator[Worker]:
    """A worker running in a thread for the duration of the block, as in production."""
    worker = Worker(journal, workflows, lease_ttl=5, poll_interval=0.02)
    thread = threading.Thread(target=worker.run_until_stopped)
    thread.start()
    try:
        yield worker
    finally:
        worker.stop()
        thread.join(30)
        assert not thread.is_alive()


def wait_for(condition: Callable[[], Any], what: str) -> None:
    done = threading.Event()
    for _ in range(3000):
        if condition():
            return
        done.wait(0.01)
    raise AssertionError(f"gave up waiting for {what}")


# -- retry --------------------------------------------------------------------------


@ALL_JOURNALS
def test_retry_resumes_a_failed_instance_at_the_failed_step_after_a_code_fix(
    open_fresh: Open,
) -> None:
    journal = open_fresh()
    services = Services()
    failed_instance(journal, services)
    record = journal.get_instance("s-1")
    assert record.attempts == 2 and "ConnectionError: shipper down" in (record.last_error or "")

    services.fixed = True  # the code fix
    with racing_worker(open_fresh(), [shop(services)]):
        retried = retry(journal, "s-1")
        assert (retried.status, retried.attempts, retried.last_error) == ("running", 0, None)
        wait_for(lambda: journal.get_instance("s-1").status == "finished", "s-1 to finish")
    assert [e.type for e in journal.read("s-1")] == ["Charged", "Shipped"]
    assert services.calls == ["charge", "ship", "ship", "ship"]  # charged once
    assert journal.get_instance("s-1").attempts == 0


@ALL_JOURNALS
def test_retry_refuses_what_is_not_a_failed_step(open_fresh: Open, order: Any) -> None:
    journal = open_fresh()
    runtime = Runtime(Workflow(order.order_workflow, name="order"), journal=journal)
    runtime.create("done", order.Order("done", "a@example.com", 10, ("pen",))).advance()
    with pytest.raises(OperationRefused, match="'done': it is finished, not failed"):
        retry(journal, "done")
    with pytest.raises(OperationRefused, match="'nope': no such instance"):
        retry(journal, "nope")
    # A business error that escaped the workflow is its final result, not a failed step.
    invalid = runtime.create("invalid", order.Order("invalid", "a@example.com", 10, ()))
    assert invalid.status == InstanceStatus.FAILED
    with pytest.raises(OperationRefused, match="'invalid': it ended with a business error"):
        retry(journal, "invalid")
    assert journal.get_instance("invalid").status == "failed"


@DURABLE_JOURNALS
def test_retry_after_an_upcaster_fix_replays_the_fixed_event(open_fresh: Open) -> None:
    journal = open_fresh()
    services = Services()
    services.fixed = True
    Runtime(shop(services), journal=journal).create("s-1", 5)
    # An event recorded by an older version of the code, in a shape this code cannot read.
    journal.append("s-1", 0, [shop(services).codec.encode(Charged(5))], datetime.now(UTC))
    replace_payloads(journal, "s-1", {"cents": 500})
    Worker(open_fresh(), [shop(services)]).run_once()
    record = journal.get_instance("s-1")
    assert record.status == "failed" and "payload.amount" in (record.last_error or "")

    @event("Charged", version=2, upcast={1: lambda old: {"amount": old["cents"] // 100}})
    @frozen
    class ChargedV2:
        amount: int

    fixed = Workflow(
        WIO.run(lambda n: ChargedV2(n), lambda n, e: e.amount, event=ChargedV2).named("Charge")
        >> WIO.run(services.ship, lambda n, e: e.parcel).named("Ship"),
        name="shop",
        input_type=int,
    )
    retry(journal, "s-1")
    assert Worker(open_fresh(), [fixed]).run_once() == 1
    assert journal.get_instance("s-1").status == "finished"
    assert services.calls == ["ship"]  # the charge was replayed, not run again


def replace_payloads(journal: Journal, instance_id: str, payload: Any) -> None:
    """Rewrite one stored payload, as an old code version would have written it."""
    import json
    import sqlite3

    import psycopg

    url = journal.url
    if url.startswith("sqlite"):
        db = sqlite3.connect(url.removeprefix("sqlite:///"))
        db.execute(
            "UPDATE events SET payload = ? WHERE instance_id = ?",
            (json.dumps(payload), instance_id),
        )
        db.commit()
        db.close()
    else:
        postgres: Any = journal
        with psycopg.connect(postgres.conninfo, autocommit=True) as conn:
            conn.execute(
                f'UPDATE "{postgres.schema}".events SET payload = %s::jsonb WHERE instance_id = %s',
                (json.dumps(payload), instance_id),
            )


# -- cancel -------------------------------------------------------------------------

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@ALL_JOURNALS
def test_cancel_drops_timers_and_signal_waits_and_nothing_runs_again(
    open_fresh: Open,
) -> None:
    approval = example("approval")
    approval.side_effects.clear()
    clock = ManualClock(T0)
    journal = open_fresh()
    runtime = Runtime(approval.workflow, journal=journal, clock=clock)
    instance = runtime.create("doc-1", approval.Request("doc-1", "ada"))
    instance.advance()
    instance.signal(approval.submit, {"title": "Handbook"})
    waiting = journal.get_instance("doc-1")
    assert waiting.status == "waiting" and waiting.wakeup_at is not None  # the review timeout

    cancelled = cancel(journal, "doc-1", "withdrawn by the author", now=T0)
    assert (cancelled.status, cancelled.wakeup_at, cancelled.lease_owner) == (
        "cancelled",
        None,
        None,
    )
    stored = journal.read("doc-1")
    assert stored[-1].type == "wio.Cancelled"
    assert stored[-1].payload["reason"] == "withdrawn by the author"

    clock.advance(4 * 86_400)  # the review's timeout would have escalated by now
    assert Worker(open_fresh(), [approval.workflow], clock=clock).run_once() == 0
    reloaded = Runtime(approval.workflow, journal=open_fresh(), clock=clock).get("doc-1")
    assert reloaded.status == InstanceStatus.CANCELLED
    assert reloaded.waiting_for() == "nothing: cancelled (withdrawn by the author)"
    assert reloaded.advance() == InstanceStatus.CANCELLED
    with pytest.raises(
        InstanceCancelled, match=r"'doc-1' was cancelled \(withdrawn by the author\)"
    ):
        reloaded.signal(approval.review, {"reviewer": "bob", "approve": True})
    assert journal.read("doc-1") == stored
    assert approval.side_effects == ["filed doc-1"]

    with pytest.raises(OperationRefused, match="it is cancelled already"):
        cancel(journal, "doc-1", "again")


@ALL_JOURNALS
@pytest.mark.parametrize("step_succeeds", [True, False], ids=["succeeds", "raises"])
def test_a_step_in_flight_when_the_cancel_lands_is_not_recorded(
    open_fresh: Open, step_succeeds: bool
) -> None:
    journal = open_fresh()
    services = Services()
    services.fixed = step_succeeds  # raising, it must not write its retry over the cancel
    services.gate = threading.Event()
    runtime = Runtime(shop(services), journal=journal)
    runtime.create("s-1", 5)
    runtime.create("s-2", 7)
    with racing_worker(open_fresh(), [shop(services)]):
        wait_for(services.entered.is_set, "a shipment to be in flight")
        # A worker advances both at once: cancel either one that is charged.
        in_flight = min(r.id for r in journal.list_instances() if r.last_seq == 1)
        cancel(journal, in_flight, "customer changed their mind")
        services.gate.set()  # the shipment finishes its side effect, then tries to record it
        other = "s-2" if in_flight == "s-1" else "s-1"
        wait_for(
            lambda: journal.get_instance(other).status in ("finished", "failed"),
            "the other order",
        )
    assert [e.type for e in journal.read(in_flight)] == ["Charged", "wio.Cancelled"]
    assert journal.get_instance(in_flight).status == "cancelled"
    if step_succeeds:
        assert [e.type for e in journal.read(other)] == ["Charged", "Shipped"]


@ALL_JOURNALS
def test_cancel_refuses_finished_instances(open_fresh: Open) -> None:
    journal = open_fresh()
    services = Services()
    services.fixed = True
    Runtime(shop(services), journal=journal).create("s-1", 5).advance()
    with pytest.raises(OperationRefused, match="'s-1': it is finished already; nothing was"):
        cancel(journal, "s-1", "too late")
    failed_instance(journal, Services(), "s-2")
    assert cancel(journal, "s-2", "given up").status == "cancelled"  # a failed one may be


# -- fork ---------------------------------------------------------------------------


@ALL_JOURNALS
def test_fork_copies_a_prefix_and_runs_it_under_the_newest_version(open_fresh: Open) -> None:
    journal = open_fresh()
    services = Services()
    failed_instance(journal, services)
    journal.register_workflow("shop", 1, {}, T0)
    journal.register_workflow("shop", 2, {}, T0)
    services.fixed = True
    before = journal.read("s-1")

    forked = fork(journal, "s-1", 1, "s-1-fixed")
    assert (forked.workflow, forked.workflow_version, forked.status) == ("shop", 2, "running")
    assert [e.type for e in journal.read("s-1-fixed")] == ["Charged"]
    with racing_worker(open_fresh(), [shop(services), shop(services, version=2)]):
        wait_for(lambda: journal.get_instance("s-1-fixed").status == "finished", "the fork")
    assert [e.type for e in journal.read("s-1-fixed")] == ["Charged", "Shipped"]
    assert services.calls.count("charge") == 1  # the fork replayed the charge
    assert journal.read("s-1") == before and journal.get_instance("s-1").status == "failed"

    named = fork(journal, "s-1", 0, "s-1-v1", version=1)
    assert (named.workflow_version, named.last_seq) == (1, 0)


@ALL_JOURNALS
def test_fork_refuses_bad_requests_and_writes_nothing(open_fresh: Open) -> None:
    journal = open_fresh()
    failed_instance(journal, Services())
    with pytest.raises(OperationRefused, match="has events #1 to #1: cannot fork at #2"):
        fork(journal, "s-1", 2, "x")
    with pytest.raises(OperationRefused, match="cannot fork as 's-1': it exists already"):
        fork(journal, "s-1", 1, "s-1")
    with pytest.raises(OperationRefused, match="no worker registered version 9 of 'shop'"):
        fork(journal, "s-1", 1, "x", version=9)
    with pytest.raises(OperationRefused, match="the fork's id '' is blank"):
        fork(journal, "s-1", 1, "")
    cancel(journal, "s-1", "stop")
    with pytest.raises(OperationRefused, match="event #2 is its cancellation"):
        fork(journal, "s-1", 2, "x")
    assert [r.id for r in journal.list_instances()] == ["s-1"]


# -- bulk ---------------------------------------------------------------------------


@ALL_JOURNALS
def test_bulk_actions_select_by_status_workflow_version_and_time(open_fresh: Open) -> None:
    journal = open_fresh()
    services = Services()
    for n in range(3):
        failed_instance(journal, services, f"s-{n}")
    Runtime(shop(services, version=2), journal=journal).create("v2", 1)
    cancel(journal, "s-2", "not this one")
    failed = select(journal, status=InstanceStatus.FAILED, workflow="shop", version=1)
    assert [r.id for r in failed] == ["s-0", "s-1"]
    assert [r.id for r in select(journal, version=2)] == ["v2"]
    future = datetime.now(UTC) + timedelta(days=1)
    assert select(journal, since=future) == []

    outcomes = each(select(journal, workflow="shop"), lambda r: retry(journal, r.id))
    assert [(o.instance_id, o.done) for o in outcomes] == [
        ("s-0", True),
        ("s-1", True),
        ("s-2", False),
        ("v2", False),
    ]
    assert "it is cancelled, not failed" in outcomes[2].detail
    assert "it is running, not failed" in outcomes[3].detail


@ALL_JOURNALS
def test_bulk_checks_the_selection_and_its_count_then_acts_on_each_with_a_worker_racing(
    open_fresh: Open,
) -> None:
    journal = open_fresh()
    services = Services()
    for n in range(6):
        failed_instance(journal, services, f"s-{n}")
    with pytest.raises(InputError, match="cancel: select instances with at least one of"):
        bulk(journal, "cancel", Selection(), lambda r: cancel(journal, r.id, "all"))
    failed = Selection(status=InstanceStatus.FAILED, workflow="shop")
    selected = failed.records(journal, "retry")  # the dry run: what would be retried
    assert len(selected) == 6
    with pytest.raises(BulkSelectionChanged, match="confirm says 5 instance"):
        bulk(journal, "retry", failed, lambda r: retry(journal, r.id), confirm=5)
    assert {r.status for r in journal.list_instances()} == {InstanceStatus.FAILED}

    services.fixed = True
    with racing_worker(open_fresh(), [shop(services)]):
        retried = bulk(journal, "retry", failed, lambda r: retry(journal, r.id), confirm=6)
        assert [o.done for o in retried] == [True] * 6
        # The worker finishes them as the cancels land: each is cancelled or refused
        # as finished, on its own, never both and never lost.
        cancelled = bulk(
            journal, "cancel", Selection(workflow="shop"), lambda r: cancel(journal, r.id, "x")
        )
        wait_for(
            lambda: (
                {r.status for r in journal.list_instances()}
                <= {InstanceStatus.FINISHED, InstanceStatus.CANCELLED}
            ),
            "every instance to end",
        )
    for outcome in cancelled:
        record = journal.get_instance(outcome.instance_id)
        types = [e.type for e in journal.read(outcome.instance_id)]
        if outcome.done:
            assert record.status == "cancelled" and types.count("wio.Cancelled") == 1
            assert record.cancelled_at is not None
        else:
            assert "it is finished already" in outcome.detail
            assert record.status == "finished" and types == ["Charged", "Shipped"]


# -- signals run on ------------------------------------------------------------------


@ALL_JOURNALS
def test_a_signal_runs_the_instance_on_to_its_next_wait(open_fresh: Open) -> None:
    import asyncio

    from wio import AsyncRuntime

    approval = example("approval")
    journal = open_fresh()
    runtime = Runtime(approval.workflow, journal=journal, clock=ManualClock(T0))
    instance = runtime.create("doc-1", approval.Request("doc-1", "ada"))
    instance.advance()
    instance.signal(approval.submit, {"title": "Handbook"})
    assert instance.status == InstanceStatus.WAITING
    assert [type(e.event).__name__ for e in instance.events] == ["SignalHandled", "TimerStarted"]
    assert "waiting for signal 'Review'" in instance.waiting_for()

    async def asynchronously() -> list[str]:
        async_runtime = AsyncRuntime(approval.workflow, clock=ManualClock(T0))
        other = await async_runtime.create("doc-2", approval.Request("doc-2", "bob"))
        await other.advance()
        await other.signal(approval.submit, {"title": "Guide"})
        held = await async_runtime.create("doc-3", approval.Request("doc-3", "eve"))
        await held.advance()
        await held.signal(approval.submit, {"title": "Notes"}, advance=False)
        return [type(e.event).__name__ for e in (*other.events, *held.events)]

    assert asyncio.run(asynchronously()) == ["SignalHandled", "TimerStarted", "SignalHandled"]
