"""Operator verbs as operators run them: `wio retry/cancel/fork/signal` processes racing
`wio worker` processes, on real SQLite files and the real PostgreSQL server."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.conftest import DURABLE_JOURNALS
from tests.processes import (
    HARNESS,
    effect_counts,
    harness_env,
    order_input,
    start_worker,
    stop,
    wait_until,
    wio,
)
from wio.journal import open_journal

APPROVAL = "docs/examples/approval.py:workflow"


def start_order(url: str, log: Path, order_id: str, *extra: str) -> None:
    done = wio("start", HARNESS, "--journal", url, "--id", order_id,
               "--input", order_input(order_id), *extra, env=harness_env(log))  # fmt: skip
    assert done.returncode == 0, done.stderr


def fail_orders(url: str, log: Path, *ids: str) -> None:
    """Orders whose inventory step fails until the last attempt: they end failed."""
    for order_id in ids:
        start_order(url, log, order_id)
    failing = start_worker(url, harness_env(log, "inventory:raise"))
    with open_journal(url) as journal:
        try:
            wait_until(
                lambda: all(journal.get_instance(i).status == "failed" for i in ids),
                "the orders to fail",
            )
        finally:
            assert stop(failing) == 0


def types(url: str, instance_id: str) -> list[str]:
    with open_journal(url) as journal:
        return [e.type for e in journal.read(instance_id)]


@DURABLE_JOURNALS
def test_wio_retry_resumes_a_failed_order_with_the_fixed_code_running(
    journal_url: str, tmp_path: Path
) -> None:
    log = tmp_path / "effects.log"
    fail_orders(journal_url, log, "A-1")
    worker = start_worker(journal_url, harness_env(log))  # the fixed code, already running
    try:
        done = wio("retry", "A-1", "--journal", journal_url)
        assert done.returncode == 0, done.stderr
        assert done.stdout == "instance 'A-1': running\n"
        with open_journal(journal_url) as journal:
            wait_until(lambda: journal.get_instance("A-1").status == "finished", "A-1")
            assert journal.get_instance("A-1").attempts == 0
        again = wio("retry", "A-1", "--journal", journal_url)
        assert again.returncode == 1
        assert again.stderr == (
            "wio: error: instance 'A-1': it is finished, not failed: only failed instances "
            "are retried; nothing was written\n"
        )
    finally:
        assert stop(worker) == 0
    assert types(journal_url, "A-1") == ["PaymentCharged", "EmailSent", "InventoryUpdated"]
    counts = effect_counts(log)
    assert (counts["charge A-1"], counts["email a-1@example.com"]) == (1, 1)
    assert counts["inventory A-1"] == 4  # three failed attempts, then the fixed one


@DURABLE_JOURNALS
def test_wio_cancel_stops_an_order_whose_step_is_in_flight(
    journal_url: str, tmp_path: Path
) -> None:
    log = tmp_path / "effects.log"
    start_order(journal_url, log, "A-1")
    worker = start_worker(journal_url, harness_env(log, "email:gate"))
    try:
        wait_until(Path(f"{log}.blocked").exists, "the email step to be in flight")
        done = wio("cancel", "A-1", "--reason", "customer called", "--journal", journal_url)
        assert done.returncode == 0, done.stderr
        assert done.stdout == "instance 'A-1': cancelled\n"
        Path(f"{log}.go").touch()  # the email goes out; its event is refused
        wait_until(lambda: effect_counts(log)["email a-1@example.com"] == 1, "the email")
        start_order(journal_url, log, "B-1")  # the worker keeps serving other instances
        with open_journal(journal_url) as journal:
            wait_until(lambda: journal.get_instance("B-1").status == "finished", "B-1")
            record = journal.get_instance("A-1")
            assert (record.status, record.lease_owner, record.wakeup_at) == (
                "cancelled",
                None,
                None,
            )
            cancelled = journal.read("A-1")[-1]
            assert (cancelled.seq, cancelled.payload["reason"]) == (2, "customer called")
    finally:
        assert stop(worker) == 0
    assert types(journal_url, "A-1") == ["PaymentCharged", "wio.Cancelled"]
    assert effect_counts(log)["inventory A-1"] == 0  # never another step
    listed = wio("instances", "--journal", journal_url, "--status", "cancelled")
    assert "A-1" in listed.stdout and "B-1" not in listed.stdout


@DURABLE_JOURNALS
def test_wio_fork_reruns_from_an_event_under_another_version(
    journal_url: str, tmp_path: Path
) -> None:
    log = tmp_path / "effects.log"
    version_2 = tmp_path / "order_v2.py"
    version_2.write_text(
        "from tests.harness.crashable_order import order\n"
        "from wio import Workflow\n"
        "workflow = Workflow(order.order_workflow, name='order', version=2)\n"
    )
    start_order(journal_url, log, "A-1", "--advance")
    before = types(journal_url, "A-1")
    worker = start_worker(
        journal_url, harness_env(log), "--workflows", HARNESS, f"{version_2}:workflow"
    )
    try:
        with open_journal(journal_url) as journal:
            wait_until(
                lambda: [w.version for w in journal.list_workflows()] == [1, 2], "registration"
            )
            done = wio("fork", "A-1", "--at", "1", "--as", "A-1-again", "--journal", journal_url)
            assert done.returncode == 0, done.stderr
            assert done.stdout == (
                "instance 'A-1-again': forked from 'A-1' at event #1, order v2: running\n"
            )
            wait_until(lambda: journal.get_instance("A-1-again").status == "finished", "fork")
            old = wio("fork", "A-1", "--at", "0", "--as", "A-1-v1", "--version", "1",
                      "--journal", journal_url)  # fmt: skip
            assert "order v1: running" in old.stdout, old.stderr
            wait_until(lambda: journal.get_instance("A-1-v1").status == "finished", "v1 fork")
            bad = wio("fork", "A-1", "--at", "9", "--as", "X", "--journal", journal_url)
            assert bad.returncode == 1
            assert "has events #1 to #3: cannot fork at #9; nothing was written" in bad.stderr
            assert [r.id for r in journal.list_instances()] == ["A-1", "A-1-again", "A-1-v1"]
    finally:
        assert stop(worker) == 0
    assert types(journal_url, "A-1") == before
    assert types(journal_url, "A-1-again") == before
    counts = effect_counts(log)
    assert counts["charge A-1"] == 2  # the original's, and the v1 fork's from scratch
    assert counts["email a-1@example.com"] == 3


@DURABLE_JOURNALS
def test_bulk_verbs_select_confirm_and_report_each_instance(
    journal_url: str, tmp_path: Path
) -> None:
    log = tmp_path / "effects.log"
    fail_orders(journal_url, log, "F-1", "F-2", "F-3")
    start_order(journal_url, log, "OK-1", "--advance")
    url = ("--journal", journal_url)

    listed = wio("retry", "--status", "failed", "--workflow", "order", "--dry-run", *url)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines() == [
        "F-1  order v1  failed",
        "F-2  order v1  failed",
        "F-3  order v1  failed",
        "would retry 3 instance(s); nothing was changed",
    ]
    unconfirmed = wio("retry", "--status", "failed", *url)
    assert unconfirmed.returncode == 1
    assert "retry: 3 instance(s) selected; pass --yes to confirm" in unconfirmed.stderr
    both = wio("retry", "F-1", "--status", "failed", *url)
    assert both.returncode == 1 and "not both" in both.stderr
    with open_journal(journal_url) as journal:
        assert {r.status for r in journal.list_instances() if r.id != "OK-1"} == {"failed"}

    worker = start_worker(journal_url, harness_env(log))
    try:
        retried = wio("retry", "--status", "failed", "--since", "1h", "--yes", *url)
        assert retried.returncode == 0, retried.stderr
        assert retried.stdout.splitlines()[-1] == "retried 3 of 3 instance(s); 0 refused"
        with open_journal(journal_url) as journal:
            wait_until(
                lambda: len(journal.list_instances(status="finished")) == 4,  # type: ignore[arg-type]
                "every order to finish",
            )
    finally:
        assert stop(worker) == 0

    start_order(journal_url, log, "W-1")  # not run: still running
    cancelled = wio("cancel", "--workflow", "order", "--reason", "shop closed", "--yes", *url)
    assert cancelled.returncode == 1  # some were refused
    lines = cancelled.stdout.splitlines()
    assert "W-1: cancelled" in lines
    assert "F-1: refused: instance 'F-1': it is finished already; nothing was written" in lines
    assert lines[-1] == "cancelled 1 of 5 instance(s); 4 refused"
    bad_since = wio("cancel", "--since", "yesterday", *url)
    assert bad_since.returncode == 2 and "expected an ISO 8601 time" in bad_since.stderr


@DURABLE_JOURNALS
def test_a_signal_runs_the_instance_on_to_its_next_wait(journal_url: str) -> None:
    url = ("--journal", journal_url)
    started = wio("start", APPROVAL, "--id", "doc-1", "--advance", *url,
                  "--input", '{"document_id": "doc-1", "author": "ada"}')  # fmt: skip
    assert started.returncode == 0, started.stderr
    submitted = wio("signal", "doc-1", "Submit", "--request", '{"title": "Handbook"}',
                    "--key", "k-1", "--workflows", APPROVAL, *url)  # fmt: skip
    assert submitted.returncode == 0, submitted.stderr
    assert json.loads(submitted.stdout) == {"document_id": "doc-1", "status": "submitted"}
    with open_journal(journal_url) as journal:
        record = journal.get_instance("doc-1")
        # No worker ran: the signal itself started the review's three-day timeout.
        assert record.status == "waiting" and record.wakeup_at is not None
        assert record.lease_owner is None
    reused = wio("signal", "doc-1", "Submit", "--request", '{"title": "Other"}',
                 "--key", "k-1", "--workflows", APPROVAL, *url)  # fmt: skip
    assert reused.returncode == 1
    assert "key 'k-1' was used for another request" in reused.stderr
    reviewed = wio("signal", "doc-1", "Review", "--workflows", APPROVAL, *url,
                   "--request", '{"reviewer": "bob", "approve": true}')  # fmt: skip
    assert reviewed.returncode == 0, reviewed.stderr
    with open_journal(journal_url) as journal:
        assert journal.get_instance("doc-1").status == "finished"  # approved and published


@DURABLE_JOURNALS
def test_wio_migrate_with_a_worker_process_racing_moves_each_instance_whole_or_not(
    journal_url: str,
) -> None:
    from tests.conftest import example
    from tests.shipping_stages import V1, V2, event_types
    from wio import Runtime

    v1, shipment = example("evolution_v1"), example("shipment")
    ids = [f"S-{n}" for n in range(16)]
    with Runtime(v1.shipping, journal=journal_url) as runtime:
        for instance_id in ids:
            instance = runtime.create(instance_id, shipment.Shipment(instance_id, 100))
            instance.advance(until=lambda i=instance: len(i.events) >= 3)  # past the checkpoint
    slow_v1 = "tests/harness/slow_shipping.py:shipping"
    worker = start_worker(journal_url, dict(os.environ), workflows=slow_v1)
    worker_v2 = start_worker(journal_url, dict(os.environ), workflows=V2)
    migrated: dict[str, int] = {}
    try:
        with open_journal(journal_url) as journal:
            for _ in range(100):
                done = wio("migrate", "--journal", journal_url, "--workflow", "shipping",
                           "--to", "2", "--workflows", V1, V2, "--all", "--yes")  # fmt: skip
                assert "Traceback" not in done.stderr and done.returncode in (0, 1), done.stderr
                for line in done.stdout.splitlines():
                    if ": migrated v1 -> v2" in line:
                        moved = line.partition(":")[0]
                        migrated[moved] = migrated.get(moved, 0) + 1
                if all(r.status == "finished" for r in journal.list_instances()):
                    break
            wait_until(
                lambda: all(r.status == "finished" for r in journal.list_instances()),
                "every shipment to finish",
            )
            for instance_id in ids:
                types = event_types(journal, instance_id)
                assert types.count("ParcelShipped") == 1, (instance_id, types)
                assert types.count("wio.Migrated") == migrated.get(instance_id, 0) <= 1
                version = journal.get_instance(instance_id).workflow_version
                assert version == (2 if instance_id in migrated else 1), instance_id
    finally:
        codes = [stop(worker), stop(worker_v2)]  # both stopped, whatever happened
    assert codes == [0, 0]
