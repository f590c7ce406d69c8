"""The test that matters most: a worker killed with SIGKILL, and a fresh one resuming.

A real `wio worker` process runs the order example (validate-order,
charge-payment, send-email, update-inventory) against a real SQLite file or
the real PostgreSQL server, and is killed either after charge-payment's event
is durable, with send-email not started, or while send-email's side effect
is in flight. A fresh worker with the same journal URL and workflows must
replay the completed steps, run the interrupted one again, and finish, with
each event in the journal exactly once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.conftest import DURABLE_JOURNALS
from tests.processes import (
    HARNESS,
    effect_counts,
    effects,
    harness_env,
    order_input,
    start_worker,
    stop,
    wait_until,
    wio,
)
from wio.journal import StoredEvent, open_journal


class KilledAndResumed(NamedTuple):
    before: list[StoredEvent]  # the journal when the worker was killed
    lease_owner: str | None  # who held the lease then
    stored: list[StoredEvent]  # the journal once a fresh worker finished the instance
    doomed_pid: int
    fresh_pid: int


def kill_and_resume(
    journal_url: str, log: Path, workflows: str, instance_id: str, input: str, block: str
) -> KilledAndResumed:
    """Start an instance, SIGKILL the worker blocked at ``block`` (``effect:before``
    or ``effect:after`` its side effect), and let a fresh worker finish it."""
    started = wio("start", workflows, "--journal", journal_url, "--id", instance_id,
                  "--input", input, env=harness_env(log))  # fmt: skip
    assert started.returncode == 0, started.stderr
    doomed = start_worker(journal_url, harness_env(log, block=block), workflows=workflows)
    try:
        wait_until(Path(f"{log}.blocked").exists, f"the worker to block at {block}")
    finally:
        doomed.kill()  # SIGKILL: no cleanup, no lease release
        doomed.wait(timeout=30)
    with open_journal(journal_url) as journal:
        before = journal.read(instance_id)
        lease_owner = journal.get_instance(instance_id).lease_owner
        fresh = start_worker(journal_url, harness_env(log), workflows=workflows)
        try:
            wait_until(
                lambda: journal.get_instance(instance_id).status == "finished",
                f"the fresh worker to finish {instance_id} once the dead one's lease expires",
            )
        finally:
            assert stop(fresh) == 0
        stored = journal.read(instance_id)
    return KilledAndResumed(before, lease_owner, stored, doomed.pid, fresh.pid)


@DURABLE_JOURNALS
@pytest.mark.parametrize("crash", ["before", "after"], ids=["after-step-2", "mid-step-3"])
def test_a_killed_worker_is_resumed_by_a_fresh_one(
    journal_url: str, tmp_path: Path, crash: str
) -> None:
    log = tmp_path / "effects.log"
    run = kill_and_resume(journal_url, log, HARNESS, "A-1", order_input("A-1"), f"email:{crash}")
    assert [e.type for e in run.before] == ["PaymentCharged"]  # step 2's event is durable
    assert run.lease_owner is not None  # the dead worker's
    stored = run.stored

    # The journal holds each event exactly once, in order.
    assert [(e.seq, e.type) for e in stored] == [
        (1, "PaymentCharged"), (2, "EmailSent"), (3, "InventoryUpdated"),
    ]  # fmt: skip
    counts = effect_counts(log)
    assert counts["charge A-1"] == 1  # completed: replayed, not run again
    # Interrupted: run again. Killed mid-flight, the email went out twice (at-least-once).
    assert counts["email a-1@example.com"] == (1 if crash == "before" else 2)
    assert counts["inventory A-1"] == 1
    assert effects(log)[0][0] == run.doomed_pid and effects(log)[-1][0] == run.fresh_pid

    shown = wio("inspect", "A-1", "--journal", journal_url, "--workflows", HARNESS, "--json",
                env=harness_env(log))  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert '"status": "fulfilled"' in shown.stdout  # the handlers rebuilt the state


PACKING = "tests/harness/crashable_packing.py:workflow"


@DURABLE_JOURNALS
@pytest.mark.parametrize("crash", ["before", "after"], ids=["before-pack", "mid-pack"])
def test_a_for_each_section_killed_mid_way_is_resumed_by_a_fresh_worker(
    journal_url: str, tmp_path: Path, crash: str
) -> None:
    """Two order lines packed at once: the worker dies while packing the first one.
    The fresh worker routes the journaled events back to their lines by key."""
    log = tmp_path / "effects.log"
    lines = [{"sku": "pen", "quantity": 2}, {"sku": "ink", "quantity": 1}]
    order = json.dumps({"order_id": "P-1", "lines": lines})
    before, _, stored, _, _ = kill_and_resume(
        journal_url, log, PACKING, "P-1", order, f"pack:{crash}"
    )
    assert before and {e.type for e in before} == {"wio.InElement"}
    assert all(e.payload["section"] == "/0" for e in before)

    routed = [(e.payload["key"], e.payload["event"]["type"]) for e in stored]
    assert sorted(routed) == [("ink", "Packed"), ("ink", "Picked"), ("pen", "Packed"),
                              ("pen", "Picked")]  # fmt: skip
    assert routed[: len(before)] == [(e.payload["key"], e.payload["event"]["type"]) for e in before]
    counts = effect_counts(log)
    assert counts["pick pen"] == 1 and counts["pick ink"] == 1  # replayed, not run again
    blocked = next(effect for _, effect in effects(log) if effect.startswith("pack"))
    assert counts[blocked] == (1 if crash == "before" else 2)  # at-least-once when mid-flight
    other = "pack ink" if blocked == "pack pen" else "pack pen"
    assert counts[other] == 1
    shown = wio("inspect", "P-1", "--journal", journal_url, "--workflows", PACKING, "--json",
                env=harness_env(log))  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert "P-1: parcel-pen-2, parcel-ink-1" in shown.stdout


ONBOARDING = "tests/harness/crashable_onboarding.py:workflow"


@DURABLE_JOURNALS
def test_a_workflow_killed_after_its_embedded_workflows_is_resumed_by_a_fresh_worker(
    journal_url: str, tmp_path: Path
) -> None:
    """The same KYC definition embedded twice; the worker dies once both ran."""
    log = tmp_path / "effects.log"
    people = {"applicant": {"name": "Ann", "passport": "P1"},
              "guarantor": {"name": "Bob", "passport": "P2"}}  # fmt: skip
    run = kill_and_resume(journal_url, log, ONBOARDING, "K-1", json.dumps(people), "open:before")
    assert [e.type for e in run.before] == ["IdentityChecked", "IdentityChecked"]
    stored = run.stored

    assert [(e.seq, e.type) for e in stored] == [
        (1, "IdentityChecked"), (2, "IdentityChecked"), (3, "AccountOpened"),
    ]  # fmt: skip
    counts = effect_counts(log)
    assert (counts["check Ann"], counts["check Bob"], counts["open Ann"]) == (1, 1, 1)


BOOKING = "tests/harness/crashable_booking.py:workflow"


@DURABLE_JOURNALS
@pytest.mark.parametrize("crash", ["before", "after"], ids=["before-cancel", "mid-cancel"])
def test_a_booking_killed_in_the_middle_of_its_compensation_finishes_it(
    journal_url: str, tmp_path: Path, crash: str
) -> None:
    """The car fails, the hotel is being cancelled when the worker dies: a fresh
    worker cancels the hotel (again, if it already had: at-least-once) and then
    the flight, once each step's event is in the journal."""
    log = tmp_path / "effects.log"
    trip = json.dumps({"trip_id": "B-1", "city": "Rome"})
    run = kill_and_resume(journal_url, log, BOOKING, "B-1", trip, f"cancel:{crash}")
    assert [e.type for e in run.before] == ["Booked", "Booked", "CarAnswer"]
    stored = run.stored

    assert [(e.seq, e.type) for e in stored] == [
        (1, "Booked"), (2, "Booked"), (3, "CarAnswer"), (4, "Cancelled"), (5, "Cancelled"),
    ]  # fmt: skip
    assert [e.payload["reference"] for e in stored[3:]] == ["hotel-B-1", "flight-B-1"]
    counts = effect_counts(log)
    assert counts["book flight"] == counts["book hotel"] == counts["book car"] == 1
    assert counts["cancel hotel-B-1"] == (1 if crash == "before" else 2)  # at-least-once
    assert counts["cancel flight-B-1"] == 1
    cancels = [effect for _, effect in effects(log) if effect.startswith("cancel")]
    assert cancels[-1] == "cancel flight-B-1"  # the hotel first, then the flight
    shown = wio("inspect", "B-1", "--journal", journal_url, "--workflows", BOOKING, "--json",
                env=harness_env(log))  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert "failed: no car in Rome" in shown.stdout
