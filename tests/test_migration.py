"""`wio migrate` and `wio.migration.migrate`: instances move to a new version only
after replaying strictly against it; refusals say where and change nothing."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import DURABLE_JOURNALS, ROOT, example
from tests.processes import wio
from tests.shipping_stages import (
    V1,
    V2,
    event_types,
    migrated_events,
    rows,
    rows_but_lease_epochs,
    start_v1_at_every_stage,
)
from wio import Runtime
from wio.errors import WrongWorkflow
from wio.journal import InstanceStatus, Journal, NewEvent, open_journal
from wio.loading import load_definition
from wio.migration import Outcome, migrate
from wio.testing import assert_replays
from wio.worker import Worker

INSIDE_REFUSED = (  # its reservation would be held for the recovery event, as `before` waits
    "inside: refused v1 -> v2: it would wait at recover node /0 for PaymentSettled, which "
    "only an operator's `wio deliver` can provide; nothing changed (allow it with "
    "--allow-recovery-wait)"
)
BEFORE_REFUSED = (
    "before: refused v1 -> v2: it would wait at recover node /0 for PaymentSettled, which "
    "only an operator's `wio deliver` can provide; nothing changed (allow it with "
    "--allow-recovery-wait)"
)


def migrate_cli(url: str, *args: str) -> Any:
    return wio(
        "migrate", "--journal", url, "--workflow", "shipping", "--to", "2",
        "--workflows", V1, V2, *args,
    )  # fmt: skip


@DURABLE_JOURNALS
def test_migrate_all_moves_what_replays_and_refuses_the_rest_unchanged(journal_url: str) -> None:
    start_v1_at_every_stage(journal_url)
    before = rows_but_lease_epochs(journal_url)
    done = migrate_cli(journal_url, "--all", "--yes")
    assert done.returncode == 1, done.stderr  # something was refused
    assert done.stdout.splitlines() == [
        BEFORE_REFUSED,
        INSIDE_REFUSED,
        "past: migrated v1 -> v2: now waiting for event ParcelShipped of step 'Ship' at /1",
        "shipping to v2: 1 migrated, 2 refused",
    ]
    after = rows_but_lease_epochs(journal_url)
    for unchanged in ("before", "inside", "finished", "workflows"):
        assert after[unchanged] == before[unchanged], unchanged
    record, events = after["past"]
    assert (record.workflow_version, record.status, record.lease_owner) == (
        2,
        InstanceStatus.RUNNING,
        None,
    )
    assert events[:-1] == before["past"][1]  # the v1 events stay as they were
    assert (events[-1].seq, events[-1].type) == (4, "wio.Migrated")
    assert {k: events[-1].payload[k] for k in ("from_version", "to_version")} == {
        "from_version": 1,
        "to_version": 2,
    }
    # inspect shows when, from which version and to which.
    shown = wio("inspect", "past", "--journal", journal_url, "--workflows", V2)
    assert shown.returncode == 0, shown.stderr
    assert f"  migrated: v1 -> v2 at {events[-1].payload['migrated_at']}" in shown.stdout
    # Each instance finishes in a fresh process on the version it now runs.
    worker = wio("worker", "--journal", journal_url, "--workflows", V1, V2, "--once")
    assert worker.returncode == 0, worker.stderr
    journal = open_journal(journal_url)
    try:
        for instance_id in ("before", "inside", "past", "finished"):
            record = journal.get_instance(instance_id)
            assert record.status == InstanceStatus.FINISHED, instance_id
            assert event_types(journal, instance_id).count("ParcelShipped") == 1
        assert event_types(journal, "past") == [
            "StockReserved", "CardCharged", "PaymentSettled", "wio.Migrated", "ParcelShipped",
        ]  # fmt: skip
        assert [journal.get_instance(i).workflow_version for i in ("before", "inside")] == [1, 1]
    finally:
        journal.close()
    v2 = load_definition(str(ROOT / V2))
    assert_replays(journal_url, v2, instance_ids=["past"])  # the Migrated event replays


@DURABLE_JOURNALS
def test_a_dry_run_says_what_would_move_and_changes_nothing(journal_url: str) -> None:
    start_v1_at_every_stage(journal_url)
    before = rows(journal_url)
    done = migrate_cli(journal_url, "--all", "--dry-run")
    assert done.returncode == 1
    assert done.stdout.splitlines()[2:] == [
        "past: would migrate v1 -> v2: then waiting for event ParcelShipped of step 'Ship' at /1",
        "shipping to v2: 1 would migrate, 2 refused",
    ]
    assert rows(journal_url) == before


@DURABLE_JOURNALS
def test_named_instances_finished_unknown_or_at_another_version_are_not_moved(
    journal_url: str,
) -> None:
    start_v1_at_every_stage(journal_url)
    before = rows(journal_url)
    done = migrate_cli(journal_url, "--instance", "finished", "ghost")
    assert done.stdout.splitlines() == [
        "finished: skipped v1 -> v2: it is finished; only running and waiting instances move",
        "ghost: refused: no such instance",
        "shipping to v2: 1 refused, 1 skipped",
    ]
    assert done.returncode == 1
    other = migrate_cli(journal_url, "--instance", "past", "--from", "3")
    assert (other.returncode, other.stdout.splitlines()) == (
        0,
        [
            "past: skipped v1 -> v2: it runs version 1, not 3 (--from)",
            "shipping to v2: 0 refused, 1 skipped",
        ],
    )
    assert rows(journal_url) == before
    unknown = wio(
        "migrate", "--journal", journal_url, "--workflow", "shipping", "--to", "7",
        "--workflows", V1, V2, "--all",
    )  # fmt: skip
    assert (unknown.returncode, unknown.stderr.strip()) == (
        1,
        "wio: error: workflow 'shipping' has no version 7 here (given: v1, v2)",
    )
    neither = wio("migrate", "--journal", journal_url, "--workflow", "shipping", "--to", "2",
                  "--workflows", V2)  # fmt: skip
    assert (neither.returncode, neither.stderr.strip()) == (
        1,
        "wio: error: migrate: give --instance ID ..., --all, or select instances with "
        "--status, --version or --since",
    )


@pytest.mark.parametrize(
    ("stage", "v1_events"),
    [("before", []), ("inside", ["StockReserved"])],  # inside: v2 retired StockReserved
)
@DURABLE_JOURNALS
def test_an_instance_moved_to_wait_at_recover_gets_an_operator_delivery_and_finishes(
    journal_url: str, stage: str, v1_events: list[str]
) -> None:
    start_v1_at_every_stage(journal_url)
    done = migrate_cli(journal_url, "--instance", stage, "--allow-recovery-wait")
    assert done.returncode == 0, done.stdout
    assert done.stdout.splitlines()[0] == (
        f"{stage}: migrated v1 -> v2: now waiting for recovery event PaymentSettled at /0"
    )
    with open_journal(journal_url) as journal:
        record = journal.get_instance(stage)
    assert (record.status, record.wakeup_at) == (InstanceStatus.WAITING, None)
    # Waiting for an operator: a worker runs nothing of it and `--once` returns.
    idle = wio("worker", "--journal", journal_url, "--workflows", V1, V2, "--once")
    assert (idle.returncode, idle.stdout.strip()) == (0, "ran 2 instance(s)")  # the v1 others
    payment = json.dumps({"order_id": stage, "amount_cents": 1_000})
    delivered = wio(
        "deliver", stage, "--journal", journal_url, "--event", "PaymentSettled",
        "--data", payment, "--workflows", V1, V2,
    )  # fmt: skip
    assert delivered.returncode == 0, delivered.stderr
    assert delivered.stdout.strip() == (
        f"instance '{stage}': recorded PaymentSettled as event #{len(v1_events) + 2}; now "
        "running: waiting for event ParcelShipped of step 'Ship' at /1"
    )
    worker = wio("worker", "--journal", journal_url, "--workflows", V1, V2, "--once")
    assert (worker.returncode, worker.stdout.strip()) == (0, "ran 1 instance(s)")
    journal = open_journal(journal_url)
    try:
        assert journal.get_instance(stage).status == InstanceStatus.FINISHED
        assert event_types(journal, stage) == [
            *v1_events, "wio.Migrated", "PaymentSettled", "ParcelShipped",
        ]  # fmt: skip
    finally:
        journal.close()
    # Strictly, its v1 events are covered by the delivered recovery event.
    assert_replays(journal_url, load_definition(str(ROOT / V2)), instance_ids=[stage])


@DURABLE_JOURNALS
def test_an_instance_leased_by_a_worker_is_refused_and_left_alone(journal_url: str) -> None:
    start_v1_at_every_stage(journal_url)
    journal = open_journal(journal_url)
    try:
        now = journal.get_instance("past").updated_at
        journal.acquire_lease("past", "busy-worker", now, timedelta(hours=1))
        before = rows(journal_url)
        v2 = load_definition(str(ROOT / V2))
        [result] = migrate(journal, v2, instance_ids=["past"])
        assert result.outcome == Outcome.REFUSED
        assert result.reason == (
            "it is being advanced by 'busy-worker'; nothing changed, try again"
        )
        assert rows(journal_url) == before
    finally:
        journal.close()


class GrowingJournal:
    """A real journal on which another writer appends right after each read."""

    def __init__(self, journal: Journal, other: Journal) -> None:
        self._journal, self._other = journal, other

    def read(self, instance_id: str, after_seq: int = 0, *, times: bool = True) -> Any:
        events = self._journal.read(instance_id, after_seq, times=times)
        last = self._other.get_instance(instance_id).last_seq
        payload = {"tracking": "TRK-stale-writer"}
        self._other.append(instance_id, last, [NewEvent("ParcelShipped", 1, payload)], _now())
        return events

    def __getattr__(self, name: str) -> Any:
        return getattr(self._journal, name)


def _now() -> datetime:
    return datetime.now(UTC)


@DURABLE_JOURNALS
def test_a_journal_that_grows_during_the_check_refuses_the_move(journal_url: str) -> None:
    start_v1_at_every_stage(journal_url)
    journal, other = open_journal(journal_url), open_journal(journal_url)
    try:
        v2 = load_definition(str(ROOT / V2))
        growing = GrowingJournal(journal, other)
        [result] = migrate(growing, v2, instance_ids=["past"])  # type: ignore[arg-type]
        assert (result.outcome, result.reason) == (
            Outcome.REFUSED,
            "its journal grew while it was checked; nothing changed, try again",
        )
        record = journal.get_instance("past")
        assert (record.workflow_version, record.lease_owner) == (1, None)
        assert migrated_events(journal, "past") == []
    finally:
        journal.close()
        other.close()


@DURABLE_JOURNALS
def test_migrating_while_a_worker_runs_moves_each_instance_whole_or_not_at_all(
    journal_url: str,
) -> None:
    v1, shipment = example("evolution_v1"), example("shipment")
    v2 = example("evolution_v2")

    class SlowShipping(list[str]):
        def append(self, effect: str) -> None:
            if effect.startswith("ship"):
                time.sleep(0.01)  # a step in flight while the migration looks
            super().append(effect)

    # Every instance is past its checkpoint, shipping to do: the worker ships some on
    # v1 while the migration moves others to v2 (and is refused those it leases).
    ids = [f"S-{n}" for n in range(40)]
    with Runtime(v1.shipping, journal=journal_url) as runtime:
        for instance_id in ids:
            instance = runtime.create(instance_id, shipment.Shipment(instance_id, 100))
            instance.advance(until=lambda i=instance: len(i.events) >= 3)
    shipment.side_effects = SlowShipping()
    worker_journal, journal = open_journal(journal_url), open_journal(journal_url)
    worker = Worker(worker_journal, [v1.shipping, v2.shipping], poll_interval=0.01, batch_size=2)
    thread = threading.Thread(target=worker.run_until_stopped)
    thread.start()
    outcomes: dict[str, list[Outcome]] = {i: [] for i in ids}
    try:
        while not journal.list_instances(InstanceStatus.FINISHED):
            time.sleep(0.005)  # the worker is under way: now race it
        for _ in range(60):
            for result in migrate(journal, v2.shipping, instance_ids=ids):
                outcomes[result.instance_id].append(result.outcome)
            if all(r.status == InstanceStatus.FINISHED for r in journal.list_instances()):
                break
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(
            r.status == InstanceStatus.FINISHED for r in journal.list_instances()
        ):
            time.sleep(0.05)
    finally:
        worker.stop()
        thread.join(60)
        shipment.side_effects = []
    moved = [i for i in ids if Outcome.MIGRATED in outcomes[i]]
    for instance_id in ids:
        record = journal.get_instance(instance_id)
        types = event_types(journal, instance_id)
        assert record.status == InstanceStatus.FINISHED, instance_id
        assert types.count("ParcelShipped") == 1, (instance_id, types)
        assert types.count("wio.Migrated") == outcomes[instance_id].count(Outcome.MIGRATED) <= 1
        if instance_id in moved:  # moved whole: replays on v2, finished there
            assert record.workflow_version == 2
            assert types.index("wio.Migrated") >= 3  # only past the checkpoint
        else:
            assert record.workflow_version == 1
    assert_replays(journal_url, v2.shipping, instance_ids=moved)
    assert_replays(journal_url, v1.shipping, instance_ids=[i for i in ids if i not in moved])
    journal.close()
    worker_journal.close()


@DURABLE_JOURNALS
def test_a_copy_held_in_memory_by_the_old_version_never_advances_a_moved_instance(
    journal_url: str,
) -> None:
    v1, shipment = example("evolution_v1"), example("shipment")
    v2 = example("evolution_v2")
    journal = open_journal(journal_url)
    try:
        old = Runtime(v1.shipping, journal=journal)
        instance = old.create("held", shipment.Shipment("held", 100))
        instance.advance(until=lambda: len(instance.events) >= 3)  # kept in memory, lease freed
        [moved] = migrate(journal, v2.shipping, instance_ids=["held"])
        assert moved.outcome == Outcome.MIGRATED
        with pytest.raises(WrongWorkflow, match="runs workflow 'shipping' version 2, not"):
            instance.advance()
        record = journal.get_instance("held")
        assert (record.last_seq, record.lease_owner) == (4, None)  # nothing more written
    finally:
        journal.close()


@DURABLE_JOURNALS
def test_bulk_migrate_selects_confirms_and_reports_each_instance(journal_url: str) -> None:
    """`wio migrate` selects as `retry`, `cancel` and `fork` do (--status, --version,
    --since), lists with --dry-run, and acts only when confirmed with the count."""
    start_v1_at_every_stage(journal_url)
    before = rows(journal_url)
    listed = migrate_cli(journal_url, "--version", "1", "--dry-run")
    assert listed.returncode == 1, listed.stderr  # two would be refused
    assert listed.stdout.splitlines() == [
        BEFORE_REFUSED,
        INSIDE_REFUSED,
        "past: would migrate v1 -> v2: then waiting for event ParcelShipped of step 'Ship' at /1",
        "finished: skipped v1 -> v2: it is finished; only running and waiting instances move",
        "shipping to v2: 1 would migrate, 2 refused, 1 skipped",
    ]
    unconfirmed = migrate_cli(journal_url, "--version", "1")
    assert (unconfirmed.returncode, unconfirmed.stderr.strip()) == (
        1,
        "wio: error: migrate: 4 instance(s) selected; pass --yes to confirm, --confirm 4 "
        "to act only if they are still 4, or --dry-run to list them",
    )
    stale = migrate_cli(journal_url, "--from", "1", "--confirm", "3")
    assert (stale.returncode, stale.stderr.strip()) == (
        1,
        "wio: error: migrate: confirm says 3 instance(s) but 4 are selected now; nothing was "
        "written (count them again with a dry run)",
    )
    mixed = migrate_cli(journal_url, "--instance", "past", "--status", "running")
    assert mixed.returncode == 1 and "not both" in mixed.stderr
    none = migrate_cli(journal_url, "--status", "cancelled", "--yes")
    assert (none.returncode, none.stdout) == (0, "shipping to v2: no instance selected\n")
    assert rows(journal_url) == before

    moved = migrate_cli(journal_url, "--status", "running", "--since", "1h", "--confirm", "3")
    assert moved.returncode == 1  # the two that would wait at a recover node are refused
    assert moved.stdout.splitlines()[-1] == "shipping to v2: 1 migrated, 2 refused"
    assert "past: migrated v1 -> v2" in moved.stdout
    with open_journal(journal_url) as journal:
        assert {r.id: r.workflow_version for r in journal.list_instances()} == {
            "before": 1,
            "inside": 1,
            "past": 2,
            "finished": 1,
        }
