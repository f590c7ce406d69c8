"""`wio deliver`: an operator records an event the instance waits for; anything
that does not fit is refused with the reason, and nothing is written."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import DURABLE_JOURNALS
from tests.processes import wio
from tests.shipping_stages import (
    V1,
    V2,
    event_types,
    rows,
    rows_but_lease_epochs,
    start_v1_at_every_stage,
)
from wio.journal import InstanceStatus, open_journal

PAYMENT = json.dumps({"order_id": "new", "amount_cents": 500})


def deliver(url: str, instance_id: str, event: str, data: str, *targets: str) -> tuple[int, str]:
    done = wio(
        "deliver", instance_id, "--journal", url, "--event", event, "--data", data,
        "--workflows", *(targets or (V1, V2)),
    )  # fmt: skip
    return done.returncode, (done.stdout + done.stderr).strip()


@DURABLE_JOURNALS
def test_an_operator_delivers_the_recovery_event_and_the_instance_finishes(
    journal_url: str,
) -> None:
    started = wio("start", V2, "--journal", journal_url, "--id", "new", "--input", PAYMENT)
    assert started.stdout.strip() == "instance 'new' of 'shipping': waiting"
    assert deliver(journal_url, "new", "PaymentSettled", PAYMENT) == (
        0,
        "instance 'new': recorded PaymentSettled as event #1; now running: "
        "waiting for event ParcelShipped of step 'Ship' at /1",
    )
    worker = wio("worker", "--journal", journal_url, "--workflows", V1, V2, "--once")
    assert worker.stdout.strip() == "ran 1 instance(s)", worker.stderr
    journal = open_journal(journal_url)
    try:
        assert journal.get_instance("new").status == InstanceStatus.FINISHED
        assert event_types(journal, "new") == ["PaymentSettled", "ParcelShipped"]
    finally:
        journal.close()


@DURABLE_JOURNALS
def test_an_operator_completes_a_step_whose_effect_is_due(journal_url: str) -> None:
    start_v1_at_every_stage(journal_url)
    stock = json.dumps({"order_id": "before"})
    assert deliver(journal_url, "before", "StockReserved", stock) == (
        0,
        "instance 'before': recorded StockReserved as event #1; now running: "
        "waiting for event CardCharged of step 'Charge Card' at /0/0/1",
    )


REFUSALS = [
    (
        "new", "Refund", PAYMENT,
        "wio: error: shipping v2 has no event type 'Refund' (it has: "
        "ParcelShipped, PaymentSettled); nothing was recorded",
    ),
    (
        "new", "wio.Migrated", json.dumps({"from_version": 1, "to_version": 2,
                                            "migrated_at": "2026-01-01T00:00:00+00:00"}),
        "wio: error: shipping v2 has no event type 'wio.Migrated' (it has: "
        "ParcelShipped, PaymentSettled); nothing was recorded",
    ),
    (
        "new", "PaymentSettled", json.dumps({"order_id": 5, "amount": 1}),
        "wio: error: instance 'new', event PaymentSettled: the data does not fit "
        "PaymentSettled: expected str, got 5 @ data.order_id; required field missing @ "
        "data.amount_cents; extra fields found (amount) @ data",
    ),
    ("new", "PaymentSettled", "{oops", "wio: error: --data is not JSON: ..."),
    (
        "new", "ParcelShipped", json.dumps({"tracking": "T"}),
        "wio: error: instance 'new' cannot accept ParcelShipped now; it is waiting for "
        "recovery event PaymentSettled at /0; nothing was recorded",
    ),
    ("ghost", "PaymentSettled", PAYMENT, "wio: error: no instance 'ghost' in the journal"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("instance_id", "event", "data", "error"), REFUSALS, ids=lambda v: str(v)[:20]
)
@DURABLE_JOURNALS
def test_a_delivery_that_does_not_fit_is_refused_and_writes_nothing(
    journal_url: str, instance_id: str, event: str, data: str, error: str
) -> None:
    wio("start", V2, "--journal", journal_url, "--id", "new", "--input", PAYMENT)
    before = rows_but_lease_epochs(journal_url)
    code, output = deliver(journal_url, instance_id, event, data)
    assert code == 1
    if error.endswith("..."):
        assert output.startswith(error[:-3]), output
    else:
        assert output == error
    assert "Traceback" not in output
    assert rows_but_lease_epochs(journal_url) == before


@DURABLE_JOURNALS
def test_a_delivery_needs_the_code_of_the_instances_version_and_a_free_lease(
    journal_url: str,
) -> None:
    wio("start", V2, "--journal", journal_url, "--id", "new", "--input", PAYMENT)
    assert deliver(journal_url, "new", "PaymentSettled", PAYMENT, V1) == (
        1,
        "wio: error: instance 'new' runs shipping v2, which none of --workflows defines",
    )
    journal = open_journal(journal_url)
    try:
        journal.acquire_lease("new", "busy-worker", datetime.now(UTC), timedelta(hours=1))
        before = rows(journal_url)
        assert deliver(journal_url, "new", "PaymentSettled", PAYMENT) == (
            1,
            "wio: error: instance 'new' is being advanced by 'busy-worker'",
        )
        assert rows(journal_url) == before
    finally:
        journal.close()


@DURABLE_JOURNALS
def test_a_recover_node_in_a_parallel_flow_takes_its_event_in_that_flow(
    journal_url: str,
) -> None:
    target = "tests/harness/parallel_recovery.py:workflow"
    started = wio("start", target, "--journal", journal_url, "--id", "p", "--input", '"p"')
    assert started.returncode == 0, started.stderr
    worker = wio("worker", "--journal", journal_url, "--workflows", target, "--once")
    assert worker.stdout.strip() == "ran 1 instance(s)", worker.stderr  # packs, then waits
    assert deliver(journal_url, "p", "Settled", '{"amount_cents": 7}', target) == (
        0,
        "instance 'p': recorded Settled as event #2; now finished: finished",
    )
    journal = open_journal(journal_url)
    try:
        stored = journal.read("p")
        assert [(e.type, e.payload["flow"]) for e in stored] == [
            ("wio.InFlow", "/1"),
            ("wio.InFlow", "/0"),
        ]
        assert stored[1].payload["event"]["payload"] == {"amount_cents": 7}
    finally:
        journal.close()
