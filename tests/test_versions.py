"""Versions side by side: a worker serves several versions of a workflow, each
instance runs on its own, new ones start on the newest, and an instance whose
version no worker serves is left untouched, with the reason shown."""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime

import pytest

from tests.conftest import DURABLE_JOURNALS, example
from tests.processes import wait_until, wio
from tests.shipping_stages import V1, V2, event_types, rows, start_v1_at_every_stage
from wio import Runtime
from wio.errors import DefinitionError, WrongWorkflow
from wio.journal import InstanceStatus, open_journal
from wio.worker import Worker


def shipment_input(order_id: str) -> str:
    return json.dumps({"order_id": order_id, "amount_cents": 500})


@DURABLE_JOURNALS
def test_one_worker_runs_each_instance_on_the_version_it_started_on(journal_url: str) -> None:
    new = wio("start", V1, V2, "--journal", journal_url, "--id", "new", "--input",
              shipment_input("new"))  # fmt: skip
    assert (new.returncode, new.stdout.strip()) == (0, "instance 'new' of 'shipping': waiting")
    old = wio("start", V1, V2, "--version", "1", "--journal", journal_url, "--id", "old",
              "--input", shipment_input("old"))  # fmt: skip
    assert (old.returncode, old.stdout.strip()) == (0, "instance 'old' of 'shipping': running")
    worker = wio("worker", "--journal", journal_url, "--workflows", V1, V2, "--once")
    assert (worker.returncode, worker.stdout.strip()) == (0, "ran 1 instance(s)"), worker.stderr
    journal = open_journal(journal_url)
    try:
        assert event_types(journal, "old") == [
            "StockReserved", "CardCharged", "PaymentSettled", "ParcelShipped",
        ]  # fmt: skip
        assert journal.get_instance("old").workflow_version == 1
        waiting = journal.get_instance("new")
        assert (waiting.workflow_version, waiting.status, waiting.last_seq) == (
            2,
            InstanceStatus.WAITING,
            0,
        )
    finally:
        journal.close()
    listed = wio("instances", "--journal", journal_url).stdout.splitlines()
    assert listed[0].split() == [
        "ID", "WORKFLOW", "STATUS", "EVENTS", "UPDATED", "REASON", "LAST", "ERROR",
    ]  # fmt: skip
    assert listed[1].split()[:5] == ["new", "shipping", "v2", "waiting", "0"]
    assert listed[1].endswith("waiting for a signal or an operator")
    assert listed[2].split()[:5] == ["old", "shipping", "v1", "finished", "4"]


@DURABLE_JOURNALS
def test_start_refuses_an_unknown_version_and_an_unnamed_choice(journal_url: str) -> None:
    seven = wio("start", V1, V2, "--version", "7", "--journal", journal_url, "--id", "x",
                "--input", shipment_input("x"))  # fmt: skip
    assert (seven.returncode, seven.stderr.strip()) == (
        1,
        "wio: error: workflow 'shipping' has no version 7 here (given: v1, v2)",
    )
    order = "docs/examples/order.py:order_workflow"
    mixed = wio("start", V1, order, "--journal", journal_url, "--id", "x", "--input", "{}")
    assert (mixed.returncode, mixed.stderr.strip()) == (
        1,
        "wio: error: name the workflow: several are given (order_workflow, shipping)",
    )
    twice = wio("start", V1, V1, "--journal", journal_url, "--id", "x", "--input", "{}")
    assert (twice.returncode, twice.stderr.strip()) == (
        1,
        "wio: error: workflow 'shipping' version 1 is given twice",
    )
    assert open_journal(journal_url).list_instances() == []


@DURABLE_JOURNALS
def test_an_instance_of_a_version_no_worker_serves_is_untouched_and_listed_with_why(
    journal_url: str,
) -> None:
    start_v1_at_every_stage(journal_url)
    before = rows(journal_url)
    worker = wio("worker", "--journal", journal_url, "--workflows", V2, "--once")
    assert (worker.returncode, worker.stdout.strip()) == (0, "ran 0 instance(s)")
    warnings = [line for line in worker.stderr.splitlines() if "WARNING" in line]
    assert len(warnings) == 3  # before, inside and past; once each
    assert (
        "instance 'past' runs shipping v1, which no worker serves (this one serves v2): it "
        "stays untouched until a worker serves that version or `wio migrate` moves it"
    ) in warnings[2]
    after = rows(journal_url)
    for instance_id in ("before", "inside", "past", "finished"):
        assert after[instance_id] == before[instance_id]
    listed = wio("instances", "--journal", journal_url).stdout.splitlines()
    assert listed[3].split()[:4] == ["past", "shipping", "v1", "running"]
    assert "no worker serves shipping v1 (served: v2)" in listed[3]
    assert "no worker" not in listed[4]  # finished: nothing to serve
    # A version whose workers stopped registering it long ago does not count as served.
    journal = open_journal(journal_url)
    try:
        journal.register_workflow("shipping", 1, {}, datetime(2026, 1, 1, tzinfo=UTC))
    finally:
        journal.close()
    stale = wio("instances", "--journal", journal_url).stdout.splitlines()[3]
    assert "no worker has served shipping v1 since 2026-01-01T00:00:00+00:00 (served: v2)" in stale


@DURABLE_JOURNALS
def test_a_worker_warns_once_per_unserved_instance_however_often_it_looks(
    journal_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    start_v1_at_every_stage(journal_url)
    journal = open_journal(journal_url)
    try:
        worker = Worker(journal, [example("evolution_v2").shipping])
        with caplog.at_level(logging.WARNING, logger="wio.worker"):
            for _ in range(3):
                assert sorted(worker.report_unserved()) == ["before", "inside", "past"]
                worker.run_once()
        warned = [r.getMessage() for r in caplog.records if "no worker serves" in r.getMessage()]
        assert [m.split("'")[1] for m in warned] == ["before", "inside", "past"]
    finally:
        journal.close()


def test_a_worker_refuses_the_same_version_twice() -> None:
    v1 = example("evolution_v1").shipping
    with pytest.raises(DefinitionError, match="'shipping' version 1 is given twice"):
        Worker(open_journal("memory://"), [v1, v1])


@DURABLE_JOURNALS
def test_a_running_worker_registers_its_versions_again_with_its_heartbeat(
    journal_url: str,
) -> None:
    journal = open_journal(journal_url)
    worker = Worker(journal, [example("evolution_v2").shipping], lease_ttl=0.3)
    thread = threading.Thread(target=worker.run_until_stopped)
    thread.start()
    try:
        first = wait_until(journal.list_workflows, "the worker's registration")
        assert [(w.name, w.version) for w in first] == [("shipping", 2)]
        later = wait_until(
            lambda: [
                w for w in journal.list_workflows() if w.registered_at > first[0].registered_at
            ],
            "a registration renewed by the heartbeat",
        )
        assert [(w.name, w.version) for w in later] == [("shipping", 2)]
    finally:
        worker.stop()
        thread.join(30)
        journal.close()


@DURABLE_JOURNALS
def test_loading_an_instance_with_another_versions_code_says_how_to_run_it(
    journal_url: str,
) -> None:
    start_v1_at_every_stage(journal_url)
    with (
        Runtime(example("evolution_v2").shipping, journal=journal_url) as v2,
        pytest.raises(WrongWorkflow) as wrong,
    ):
        v2.get("past")
    assert str(wrong.value) == (
        "instance 'past' runs workflow 'shipping' version 1, not 'shipping' version 2: load "
        "it with version 1's code (a worker serves several versions side by side), or move "
        "it with `wio migrate`"
    )
