"""The bulk and migrate endpoints of `wio serve`: selection, dry run, the confirmation count,
each instance on its own, on SQLite and PostgreSQL, with a worker racing them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from litestar.testing import TestClient

from tests.conftest import DURABLE_JOURNALS, example
from tests.shipping_stages import event_types, start_v1_at_every_stage
from tests.test_operations import Open, Services, failed_instance, racing_worker, shop, wait_for
from tests.test_server import snapshot
from wio import Runtime, Workflow
from wio.journal import InstanceStatus
from wio.server.app import create_app


@DURABLE_JOURNALS
def test_bulk_retry_cancel_and_fork_over_http_with_a_worker_racing(open_fresh: Open) -> None:
    journal = open_fresh()
    services = Services()
    since = datetime.now(UTC).isoformat()
    for instance_id in ("s-1", "s-2", "s-3"):
        failed_instance(journal, services, instance_id)
    idle = Workflow(shop(services).wio, name="idle", input_type=int)  # no worker runs it
    Runtime(idle, journal=journal).create("idle-1", 9)
    services.fixed = True
    with (
        racing_worker(open_fresh(), [shop(services)]),
        TestClient(create_app(journal, [shop(services), idle])) as http,
    ):
        selection = {"status": "failed", "workflow": "shop"}
        before = snapshot(journal)
        listed = http.post("/bulk/retry", json={**selection, "dry_run": True})
        assert listed.status_code == 200, listed.text
        assert (listed.json()["selected"], listed.json()["outcomes"]) == (3, [])
        assert [i["id"] for i in listed.json()["instances"]] == ["s-1", "s-2", "s-3"]
        unconfirmed = http.post("/bulk/retry", json=selection)
        assert unconfirmed.status_code == 400
        assert 'retry selects 3 instance(s); pass "confirm": 3' in unconfirmed.json()["detail"]
        stale = http.post("/bulk/retry", json={**selection, "confirm": 2})
        assert stale.status_code == 409
        assert stale.json()["detail"] == (
            "retry: confirm says 2 instance(s) but 3 are selected now; nothing was written "
            "(count them again with a dry run)"
        )
        unselective = http.post("/bulk/retry", json={"dry_run": True})
        assert unselective.status_code == 400 and "at least one of status" in unselective.text
        coerced = http.post("/bulk/retry", json={"version": "1", "dry_run": True})
        assert coerced.status_code == 400 and "@ request.version" in coerced.text
        assert snapshot(journal) == before  # nothing refused wrote anything

        retried = http.post("/bulk/retry", json={**selection, "confirm": 3})
        assert retried.status_code == 200, retried.text
        assert (retried.json()["done"], retried.json()["refused"]) == (3, 0)
        assert {o["outcome"] for o in retried.json()["outcomes"]} == {"retried"}
        wait_for(lambda: len(journal.list_instances(InstanceStatus.FINISHED)) == 3, "the retried")

        # Each instance succeeds or is refused on its own, with the reason.
        cancelled = http.post("/bulk/cancel", json={"since": since, "confirm": 4, "reason": "x"})
        assert cancelled.status_code == 200, cancelled.text
        outcomes = {o["instance_id"]: o for o in cancelled.json()["outcomes"]}
        assert outcomes["idle-1"]["outcome"] == "cancelled"
        assert outcomes["s-2"] == {
            "instance_id": "s-2",
            "outcome": "refused",
            "detail": "instance 's-2': it is finished already; nothing was written",
        }
        assert (cancelled.json()["done"], cancelled.json()["refused"]) == (1, 3)

        untemplated = http.post(
            "/bulk/fork", json={"status": "finished", "at": 1, "new_id": "copy", "confirm": 3}
        )
        assert untemplated.status_code == 400 and "a template with {id}" in untemplated.text
        fork = {"status": "finished", "at": 1, "new_id": "{id}-b", "confirm": 3}
        forked = http.post("/bulk/fork", json=fork)
        assert forked.status_code == 200 and forked.json()["done"] == 3, forked.text
        wait_for(lambda: len(journal.list_instances(InstanceStatus.FINISHED)) == 6, "the forks")
        # The originals' forks exist (refused); the forks themselves fork on (done).
        again = http.post("/bulk/fork", json={**fork, "confirm": 6})
        assert (again.json()["done"], again.json()["refused"]) == (3, 3)
        assert "cannot fork as 's-1-b': it exists already" in again.text
    for instance_id in ("s-1", "s-2", "s-3"):
        assert event_types(journal, instance_id) == ["Charged", "Shipped"]
        assert event_types(journal, f"{instance_id}-b") == ["Charged", "Shipped"]
    assert event_types(journal, "idle-1") == ["wio.Cancelled"]
    assert services.calls.count("charge") == 3  # forks replay the charge


@DURABLE_JOURNALS
def test_migrate_one_instance_and_in_bulk_over_http(journal_url: str, open_fresh: Open) -> None:
    v1, v2 = example("evolution_v1"), example("evolution_v2")
    start_v1_at_every_stage(journal_url)
    journal = open_fresh()
    with TestClient(create_app(journal, [v1.shipping, v2.shipping])) as http:
        before = snapshot(journal)
        checked = http.post("/instances/past/migrate", json={"to_version": 2, "dry_run": True})
        assert checked.status_code == 200 and checked.json()["outcome"] == "would migrate"
        refused = http.post("/instances/inside/migrate", json={"to_version": 2})
        assert refused.status_code == 409
        assert refused.json()["detail"].startswith(
            "instance 'inside': refused: it would wait at recover node /0 for PaymentSettled"
        )
        skipped = http.post("/instances/finished/migrate", json={"to_version": 2})
        assert skipped.status_code == 409
        assert "skipped: it is finished; only running and waiting instances move" in skipped.text
        unknown = http.post("/instances/past/migrate", json={"to_version": 7})
        assert unknown.status_code == 409
        assert "cannot migrate to shipping v7: this server was not given its code" in unknown.text
        assert http.post("/instances/nope/migrate", json={"to_version": 2}).status_code == 404
        assert snapshot(journal) == before

        selection = {"workflow": "shipping", "to_version": 2, "version": 1}
        dry = http.post("/bulk/migrate", json={**selection, "dry_run": True})
        assert dry.status_code == 200, dry.text
        verdicts = {o["instance_id"]: o["outcome"] for o in dry.json()["outcomes"]}
        assert verdicts == {
            "before": "refused",
            "inside": "refused",
            "past": "would migrate",
            "finished": "skipped",
        }
        assert snapshot(journal) == before
        moved = http.post("/bulk/migrate", json={**selection, "confirm": 4})
        assert moved.status_code == 200, moved.text
        assert (moved.json()["done"], moved.json()["refused"]) == (1, 2)
    assert journal.get_instance("past").workflow_version == 2
    assert event_types(journal, "past")[-1] == "wio.Migrated"
    assert [journal.get_instance(i).workflow_version for i in ("before", "inside")] == [1, 1]


@DURABLE_JOURNALS
def test_bulk_migrate_over_http_with_a_worker_racing(open_fresh: Open) -> None:
    v1, v2, shipment = example("evolution_v1"), example("evolution_v2"), example("shipment")
    journal = open_fresh()
    ids = [f"S-{n}" for n in range(12)]
    with Runtime(v1.shipping, journal=journal) as runtime:
        for instance_id in ids:
            instance = runtime.create(instance_id, shipment.Shipment(instance_id, 100))
            instance.advance(until=lambda i=instance: len(i.events) >= 3)  # past the checkpoint
    migrated: dict[str, int] = {}
    changed = 0
    with (
        racing_worker(open_fresh(), [v1.shipping, v2.shipping]),
        TestClient(create_app(journal, [v1.shipping, v2.shipping])) as http,
    ):
        selection: dict[str, Any] = {"workflow": "shipping", "to_version": 2, "version": 1}
        for _ in range(10_000):
            if all(r.status == InstanceStatus.FINISHED for r in journal.list_instances()):
                break
            listed = http.post("/bulk/migrate", json={**selection, "dry_run": True})
            assert listed.status_code == 200, listed.text
            acted = http.post(
                "/bulk/migrate", json={**selection, "confirm": listed.json()["selected"]}
            )
            if acted.status_code == 409:  # the worker moved some on in between
                assert "are selected now; nothing was written" in acted.text
                changed += 1
                continue
            assert acted.status_code == 200, acted.text
            for outcome in acted.json()["outcomes"]:
                if outcome["outcome"] == "migrated":
                    migrated[outcome["instance_id"]] = migrated.get(outcome["instance_id"], 0) + 1
    for instance_id in ids:
        record = journal.get_instance(instance_id)
        types = event_types(journal, instance_id)
        assert record.status == InstanceStatus.FINISHED
        assert types.count("ParcelShipped") == 1, (instance_id, types)
        assert types.count("wio.Migrated") == migrated.get(instance_id, 0) <= 1
        assert record.workflow_version == (2 if instance_id in migrated else 1)
