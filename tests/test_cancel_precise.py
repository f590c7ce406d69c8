"""Cancel's answers: each way an instance can have ended gets its own refusal, a second
cancel changes nothing and reads no journal (the registry row says whether a
cancellation is recorded), and cleanup flows that wait for a signal, hold a checkpoint,
or follow a cancel in the middle of a parallel section, all end cancelled."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from attrs import frozen

from tests.conftest import ALL_JOURNALS, DURABLE_JOURNALS
from tests.processes import wio
from tests.test_cancel_cleanup import Order, Payments, charged_instance, registered, shop
from tests.test_operations import Services, failed_instance, racing_worker, wait_for
from tests.test_operations import shop as services_shop
from wio import WIO, Err, ManualClock, RetryPolicy, Runtime, Workflow, event
from wio.cancellation import Cancelled
from wio.codec import EventCodec
from wio.journal import InstanceStatus, Journal, StatusUpdate, StoredEvent, open_journal
from wio.operations import OperationRefused, cancel, retry
from wio.worker import Worker

Open = Callable[[], Journal]
T0 = datetime(2026, 1, 1, tzinfo=UTC)


class ReadCounting:
    """A real journal that counts the reads of events made through it."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.reads: list[str] = []

    def read(self, instance_id: str, *args: Any, **kwargs: Any) -> list[StoredEvent]:
        self.reads.append(instance_id)
        return self.journal.read(instance_id, *args, **kwargs)

    def read_many(self, instance_ids: Sequence[str]) -> dict[str, list[StoredEvent]]:
        self.reads.extend(instance_ids)
        return self.journal.read_many(instance_ids)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.journal, name)


def row_and_events(journal: Journal, instance_id: str) -> tuple[Any, list[Any]]:
    record = journal.get_instance(instance_id)
    return record, [(e.seq, e.type, e.payload) for e in journal.read(instance_id)]


# -- cancelling what has ended ----------------------------------------------------------


@frozen
class TooLate:
    reason: str


@ALL_JOURNALS
def test_cancel_answers_each_way_an_instance_ended_precisely(open_fresh: Open) -> None:
    """As Temporal and DBOS do, an instance that has ended is not cancelled, and the
    refusal says how it ended; one that failed at a step (awaiting a retry) is."""
    journal = open_fresh()
    services = Services()
    services.fixed = True
    Runtime(services_shop(services), journal=journal).create("done", 5).advance()
    business = Workflow(
        WIO.pure_from(lambda n: Err(TooLate(f"order {n} came too late")), error=TooLate),
        name="late",
        input_type=int,
    )
    Runtime(business, journal=journal).create("late", 3).advance()
    assert journal.get_instance("late").status == "failed"
    failed_instance(journal, Services(), "gave-up")

    refusals = {
        "done": "instance 'done': it is finished already; nothing was written",
        "late": "instance 'late': it ended with a business error the workflow raised, which "
        "is its final result: there is nothing to cancel; nothing was written",
    }
    for instance_id, refusal in refusals.items():
        before = row_and_events(journal, instance_id)
        with pytest.raises(OperationRefused) as refused:
            cancel(journal, instance_id, "too late")
        assert str(refused.value) == refusal
        assert row_and_events(journal, instance_id) == before

    cancelled = cancel(journal, "gave-up", "nobody will fix it", now=T0)
    assert (cancelled.status, cancelled.cancelled_at) == ("cancelled", T0)
    before = row_and_events(journal, "gave-up")
    with pytest.raises(OperationRefused) as refused:
        cancel(journal, "gave-up", "again", now=T0 + timedelta(hours=1))
    assert str(refused.value) == (
        "instance 'gave-up': it is cancelled already; nothing was written"
    )
    assert row_and_events(journal, "gave-up") == before


@ALL_JOURNALS
def test_cancel_refuses_an_instance_whose_cleanup_failed_and_retry_runs_it(
    open_fresh: Open,
) -> None:
    payments, clock = Payments(refund_failures=5), ManualClock(T0)
    journal = open_fresh()
    workflow = shop(payments, attempts=1)
    charged_instance(journal, workflow, clock)
    worker = registered(open_fresh(), workflow, clock)
    cancel(journal, "o-1", "customer withdrew", now=T0)
    worker.run_once()
    before = row_and_events(journal, "o-1")
    assert before[0].status == "failed" and before[0].cancelled_at == T0
    with pytest.raises(OperationRefused) as refused:
        cancel(journal, "o-1", "again")
    assert str(refused.value) == (
        "instance 'o-1': it was cancelled at 2026-01-01T00:00:00+00:00 and failed in its "
        "cleanup (step 'Refund' at /-1: ConnectionError: payment service down); retry it "
        "to run the cleanup again; "
        "nothing was written"
    )
    assert row_and_events(journal, "o-1") == before
    payments.refund_failures = 0
    retry(journal, "o-1")
    worker.run_once()
    assert journal.get_instance("o-1").status == "cancelled"


# -- a second cancel is one row's read -------------------------------------------------


@ALL_JOURNALS
def test_cancel_reads_the_registry_row_never_the_journal(open_fresh: Open) -> None:
    payments, clock = Payments(), ManualClock(T0)
    journal = open_fresh()
    workflow = shop(payments)
    charged_instance(journal, workflow, clock)
    registered(open_fresh(), workflow, clock)
    counting = ReadCounting(open_fresh())
    first = cancel(cast(Journal, counting), "o-1", "customer withdrew", now=T0)
    assert (first.status, first.cancelled_at) == ("running", T0)  # its cleanup is due
    before = row_and_events(journal, "o-1")
    later = T0 + timedelta(minutes=5)
    second = cancel(cast(Journal, counting), "o-1", "asked twice", now=later)
    assert second == first  # the first cancellation stands, and its time
    assert counting.reads == []
    assert row_and_events(journal, "o-1") == before


def test_a_second_cancel_needs_no_readable_history(tmp_path: Path) -> None:
    """Events that no longer decode (or a million of them) do not stop a cancel: it reads
    the registry row alone."""
    url = f"sqlite:///{tmp_path / 'journal.db'}"
    payments, clock = Payments(), ManualClock(T0)
    with open_journal(url) as journal:
        workflow = shop(payments)
        charged_instance(journal, workflow, clock)
        registered(journal, workflow, clock)
        assert cancel(journal, "o-1", "customer withdrew", now=T0).status == "running"
    with sqlite3.connect(tmp_path / "journal.db") as db:
        db.execute("UPDATE events SET payload = '{not json' WHERE instance_id = 'o-1'")
    with open_journal(url) as journal:
        with pytest.raises(Exception, match="o-1"):
            journal.read("o-1")
        again = cancel(journal, "o-1", "asked twice")
        assert (again.status, again.cancelled_at) == ("running", T0)


@ALL_JOURNALS
def test_racing_cancels_record_one_cancellation_and_one_cleanup(open_fresh: Open) -> None:
    payments = Payments()
    payments.gate = threading.Event()
    journal = open_fresh()
    workflow = shop(payments)
    Runtime(workflow, journal=journal).create("o-1", Order(30))
    answers: list[str] = []
    with racing_worker(open_fresh(), [workflow]):
        wait_for(payments.entered.is_set, "the charge to be in flight")

        def cancel_it(reason: str) -> None:
            answers.append(str(cancel(open_fresh(), "o-1", reason).status))

        racers = [threading.Thread(target=cancel_it, args=(f"r{n}",)) for n in range(4)]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join()
        payments.gate.set()
        wait_for(lambda: journal.get_instance("o-1").status == "cancelled", "the cleanup")
    assert answers == ["running"] * 4
    assert [e.type for e in journal.read("o-1")] == ["wio.Cancelled", "cleanup.Refunded"]
    assert payments.calls == ["charge 30", "refund 0"]


@DURABLE_JOURNALS
def test_migration_10_backfills_the_cancellations_recorded_before_it(
    journal_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wio.journal import postgres, sqlite

    module: Any = sqlite if journal_url.startswith("sqlite") else postgres
    full = list(module.MIGRATIONS)
    monkeypatch.setattr(module, "MIGRATIONS", [m for m in full if m[0] < 10])
    cancellation = EventCodec([Cancelled]).encode(Cancelled("old", T0))
    with open_journal(journal_url) as journal:  # as the code before migration 10 wrote
        from wio.journal import InstanceRecord, NewEvent

        for instance_id in ("plain", "cleaning", "cancelled"):
            journal.create_instance(
                InstanceRecord(instance_id, "w", 1, InstanceStatus.RUNNING, 0, T0, T0),
                [NewEvent("Step", 1, {})],
            )
        for instance_id, status in (
            ("cleaning", InstanceStatus.RUNNING),
            ("cancelled", InstanceStatus.CANCELLED),
        ):
            journal.append(instance_id, 1, [cancellation], T0 + timedelta(seconds=7),
                           StatusUpdate(status))  # fmt: skip
    monkeypatch.setattr(module, "MIGRATIONS", full)
    with open_journal(journal_url, upgrade=False) as journal:
        assert journal.upgrade() == [10]
        at = {r.id: r.cancelled_at for r in journal.list_instances()}
        assert at == {
            "plain": None,
            "cleaning": T0 + timedelta(seconds=7),
            "cancelled": T0 + timedelta(seconds=7),
        }
        journal.register_workflow("w", 1, {"on_cancel": {}}, T0)
        assert cancel(journal, "cleaning", "again").last_seq == 2  # nothing written
        assert cancel(journal, "plain", "new").cancelled_at is not None


# -- cleanup flows that wait, checkpoint, or follow a parallel section -------------------

APPROVED = "tests/harness/approved_refunds.py:workflow"


@DURABLE_JOURNALS
def test_a_cleanup_waiting_for_a_signal_takes_it_from_wio_signal(journal_url: str) -> None:
    from tests.harness import approved_refunds as shop_module

    url = ("--journal", journal_url)
    started = wio("start", APPROVED, "--id", "A-1", "--advance", *url,
                  "--input", '{"order_id": "A-1", "amount": 30}')  # fmt: skip
    assert started.returncode == 0, started.stderr
    with open_journal(journal_url) as journal:
        worker = Worker(journal, [shop_module.workflow])
        worker.register()
        cancelled = wio("cancel", "A-1", "--reason", "withdrawn", *url)
        assert cancelled.returncode == 0, cancelled.stderr
        worker.run_once()
        record = journal.get_instance("A-1")
        assert record.status == "waiting"  # for the refund's approval, in its cleanup
        early = wio("signal", "A-1", "Nonsense", "--request", "{}", "--workflows", APPROVED, *url)
        assert early.returncode == 1 and "has no signal 'Nonsense'" in early.stderr
        approved = wio("signal", "A-1", "ApproveRefund", "--request", '{"officer": "grace"}',
                       "--workflows", APPROVED, *url)  # fmt: skip
        assert approved.returncode == 0, approved.stderr
        assert '"status": "refund approved"' in approved.stdout
        assert journal.get_instance("A-1").status == "cancelled"  # the signal ran it on
        assert [(e.type, e.node) for e in journal.read("A-1")] == [
            ("approved_refunds.Charged", "/0"),
            ("wio.TimerStarted", "/1"),
            ("wio.Cancelled", None),
            ("wio.SignalHandled", "/-1/0"),
            ("approved_refunds.Refunded", "/-1/1"),
        ]
        late = wio("signal", "A-1", "ApproveRefund", "--request", '{"officer": "bob"}',
                   "--workflows", APPROVED, *url)  # fmt: skip
        assert late.returncode == 1
        assert "'A-1' was cancelled (withdrawn); it takes no signal" in late.stderr


@ALL_JOURNALS
def test_the_http_api_delivers_a_cleanups_signal(open_fresh: Open) -> None:
    from litestar.testing import TestClient

    from tests.harness import approved_refunds as shop_module
    from wio.server.app import create_app

    journal = open_fresh()
    workflow = shop_module.workflow
    Runtime(workflow, journal=journal).create("A-2", shop_module.Order("A-2", 40)).advance()
    worker = Worker(open_fresh(), [workflow])
    worker.register()
    with TestClient(create_app(journal, [workflow])) as http:
        route = "/workflows/approved-refunds/instances/A-2/signals/ApproveRefund"
        early = http.post(route, json={"officer": "grace"})
        assert early.status_code == 409  # not cancelled: the workflow waits for no approval
        assert "is not waiting for signal 'ApproveRefund'" in early.json()["detail"]
        assert http.post("/instances/A-2/cancel", json={"reason": "withdrawn"}).status_code < 300
        worker.run_once()
        approved = http.post(route, json={"officer": "grace"})
        assert approved.status_code == 200, approved.text
        assert approved.json() == {"order_id": "A-2", "status": "refund approved"}
    assert journal.get_instance("A-2").status == "cancelled"
    assert journal.read("A-2")[-1].payload == {"amount": 40}


@event("checkpointed_cleanup.Refunded")
@frozen
class Refunded:
    amount: int


@event("checkpointed_cleanup.Released")
@frozen
class Released:
    item: str


@event("checkpointed_cleanup.Settled")
@frozen
class Settled:
    refunded: int


@event("checkpointed_cleanup.Notified")
@frozen
class Notified:
    text: str


@frozen
class Basket:
    amount: int
    refunded: int = 0
    notified: str = ""


class Desk:
    def __init__(self, *, refund_works: bool = True, notify_failures: int = 0) -> None:
        self.calls: list[str] = []
        self.refund_works = refund_works
        self.notify_failures = notify_failures

    def refund(self, basket: Basket) -> Refunded:
        self.calls.append("refund")
        if not self.refund_works:
            raise AssertionError("a checkpointed refund ran again")
        return Refunded(basket.amount)

    def release(self, basket: Basket) -> Released:
        self.calls.append("release")
        if not self.refund_works:
            raise AssertionError("a checkpointed release ran again")
        return Released("lamp")

    def notify(self, basket: Basket) -> Notified:
        self.calls.append("notify")
        if self.notify_failures:
            self.notify_failures -= 1
            raise ConnectionError("mail down")
        return Notified(f"refunded {basket.refunded}")


def checkpointed_shop(desk: Desk) -> Workflow[Any, Any, Any]:
    settle = (
        WIO.run(desk.refund, lambda b, e: Basket(b.amount, refunded=e.amount)).named("Refund")
        >> WIO.run(desk.release, lambda b, e: b).named("Release")
    ).checkpointed(
        lambda b, out: Settled(out.refunded),
        lambda b, e: Basket(b.amount, e.refunded),
        event=Settled,
    )
    notify = WIO.run(desk.notify, lambda b, e: Basket(b.amount, b.refunded, e.text)).named("Notify")
    return Workflow(
        WIO.await_for(timedelta(days=1), name="Wait a day"),
        name="checkpointed-cleanup",
        input_type=Basket,
        retry=RetryPolicy(max_attempts=5, initial_delay=60.0),
        on_cancel=settle >> notify,
    )


@ALL_JOURNALS
def test_a_checkpointed_cleanup_survives_a_worker_restart(open_fresh: Open) -> None:
    """The cleanup's checkpointed section is recorded, then its next step fails; a fresh
    worker, whose code would fail inside the section, replays it from the checkpoint."""
    clock = ManualClock(T0)
    journal = open_fresh()
    first = Desk(notify_failures=1)
    Runtime(checkpointed_shop(first), journal=journal, clock=clock).create(
        "b-1", Basket(30)
    ).advance()
    Worker(open_fresh(), [checkpointed_shop(first)], clock=clock).register()
    cancel(journal, "b-1", "withdrawn", now=T0)
    Worker(open_fresh(), [checkpointed_shop(first)], clock=clock).run_once()
    assert first.calls == ["refund", "release", "notify"]  # the notice failed once
    assert journal.get_instance("b-1").status == "running"  # its retry is due in a minute

    clock.advance(120)
    restarted = Desk(refund_works=False)  # a fresh process, with changed code
    assert Worker(open_fresh(), [checkpointed_shop(restarted)], clock=clock).run_once() == 1
    assert restarted.calls == ["notify"]
    assert journal.get_instance("b-1").status == "cancelled"
    assert [(e.type, e.node) for e in journal.read("b-1")] == [
        ("wio.TimerStarted", "/"),
        ("wio.Cancelled", None),
        ("checkpointed_cleanup.Refunded", "/-1/0/0/0"),
        ("checkpointed_cleanup.Released", "/-1/0/0/1"),
        ("checkpointed_cleanup.Settled", "/-1/0"),
        ("checkpointed_cleanup.Notified", "/-1/1"),
    ]
    replayed = Runtime(checkpointed_shop(restarted), journal=open_fresh(), clock=clock).get("b-1")
    assert replayed.state == Basket(30, 30, "refunded 30")


@event("each_cleanup.Packed")
@frozen
class Packed:
    item: str


@event("each_cleanup.Unpacked")
@frozen
class Unpacked:
    items: int


class Warehouse:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.lock = threading.Lock()
        self.gate = threading.Event()
        self.entered = threading.Event()

    def pack(self, item: str) -> Packed:
        with self.lock:
            self.calls.append(f"pack {item}")
        if item != "lamp":
            self.entered.set()
            self.gate.wait(30)
        return Packed(item)

    def close(self, items: tuple[str, ...]) -> Packed:
        with self.lock:
            self.calls.append("close box")
        return Packed("box")

    def unpack(self, items: tuple[str, ...]) -> Unpacked:
        with self.lock:
            self.calls.append(f"unpack {len(items)}")
        return Unpacked(len(items))


def packing(warehouse: Warehouse) -> Workflow[Any, Any, Any]:
    body = WIO.run(warehouse.pack, lambda item, e: e.item).named("Pack")
    section = WIO.for_each(lambda items: items, body, combine=lambda items, packed: items)
    return Workflow(
        section >> WIO.run(warehouse.close, lambda i, e: i).named("Close box"),
        name="each-cleanup",
        input_type=tuple[str, ...],
        on_cancel=WIO.run(warehouse.unpack, lambda i, e: i).named("Unpack"),
    )


@ALL_JOURNALS
def test_a_cancel_in_the_middle_of_a_for_each_section_runs_the_cleanup_once(
    open_fresh: Open,
) -> None:
    """One element is packed and recorded, two are in flight when the cancel lands:
    their events are refused, no element or later step runs again, and the cleanup
    runs once, on the state at the cancellation (the section's input)."""
    warehouse = Warehouse()
    journal = open_fresh()
    workflow = packing(warehouse)
    Runtime(workflow, journal=journal).create("p-1", ("lamp", "desk", "chair"))
    with racing_worker(open_fresh(), [workflow]):
        wait_for(warehouse.entered.is_set, "an element in flight")
        wait_for(lambda: journal.get_instance("p-1").last_seq >= 1, "the lamp to be packed")
        assert cancel(journal, "p-1", "out of stock").status == "running"
        warehouse.gate.set()
        wait_for(lambda: journal.get_instance("p-1").status == "cancelled", "the cleanup")
    stored = journal.read("p-1")
    types = [e.type for e in stored]
    assert types[-2:] == ["wio.Cancelled", "each_cleanup.Unpacked"]
    assert types.count("wio.InElement") == len(types) - 2 >= 1  # packed elements, in envelopes
    assert stored[-1].payload == {"items": 3}
    assert warehouse.calls.count("unpack 3") == 1
    assert "close box" not in warehouse.calls


@event("parallel_cleanup.Reserved")
@frozen
class Reserved:
    seats: int


@event("parallel_cleanup.Released")
@frozen
class SeatsReleased:
    seats: int


def reserve(seats: int) -> Reserved:
    return Reserved(seats)


def release(seats: int) -> SeatsReleased:
    return SeatsReleased(seats)


@ALL_JOURNALS
def test_a_cancel_in_a_parallel_section_starts_the_cleanup_on_the_state_before_it(
    open_fresh: Open,
) -> None:
    """One flow has recorded its reservation and the other waits a day when the cancel
    lands: the cleanup starts on the section's input, never on one flow's value."""
    clock = ManualClock(T0)
    journal = open_fresh()
    both = (
        WIO.parallel("Book", input=int)
        .flow("Reserve", WIO.run(reserve, lambda n, e: e.seats * 100).named("Reserve"))
        .flow("Wait", WIO.await_for(timedelta(days=1), name="A day"))
    )
    workflow = Workflow(
        both,
        name="parallel-cleanup",
        input_type=int,
        on_cancel=WIO.run(release, lambda n, e: e.seats).named("Release"),
    )
    Runtime(workflow, journal=journal, clock=clock).create("t-1", 2).advance()
    assert journal.get_instance("t-1").last_seq == 2  # reserved, and the day started
    worker = registered(open_fresh(), workflow, clock)
    cancel(journal, "t-1", "the show is off", now=T0)
    assert worker.run_once() == 1
    assert journal.get_instance("t-1").status == "cancelled"
    assert journal.read("t-1")[-1].payload == {"seats": 2}  # the input, not 200
