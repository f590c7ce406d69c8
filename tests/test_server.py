"""The HTTP API (`wio serve`): every endpoint on real journals, the operator verbs with a
worker racing them, the bearer token, and a schemathesis fuzz of the generated OpenAPI."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from litestar.testing import TestClient

from tests.conftest import DURABLE_JOURNALS, ROOT, example
from tests.processes import wio
from wio import Workflow
from wio.errors import InvalidSetting
from wio.journal import Journal, open_journal
from wio.loading import load_definition
from wio.server.app import create_app
from wio.server.command import check_binding
from wio.worker import Worker

ORDER = load_definition(str(ROOT / "docs/examples/order.py:order_workflow"))
Open = Callable[[], Journal]


def order_input(order_id: str, amount: Any = 4200, items: Any = ("lamp",)) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "customer_email": f"{order_id}@example.com",
        "amount_cents": amount,
        "items": list(items) if isinstance(items, tuple) else items,
    }


def client(journal: Journal, **options: Any) -> TestClient[Any]:
    approval = example("approval")
    return TestClient(create_app(journal, [ORDER, approval.workflow], **options))


@DURABLE_JOURNALS
def test_start_query_and_list_instances(open_fresh: Open) -> None:
    journal = open_fresh()
    with client(journal) as http:
        started = http.post(
            "/workflows/order_workflow/instances",
            json={"id": "A-1", "input": order_input("A-1"), "advance": True},
        )
        assert started.status_code == 201, started.text
        assert (started.json()["status"], started.json()["events"]) == ("finished", 3)
        # The id is the idempotency key: the same start again is the same instance.
        again = http.post(
            "/workflows/order_workflow/instances", json={"id": "A-1", "input": order_input("A-1")}
        )
        assert again.status_code == 200 and again.json()["events"] == 3
        other = http.post(
            "/workflows/order_workflow/instances", json={"id": "A-1", "input": order_input("B")}
        )
        assert other.status_code == 409
        assert "exists already, with another workflow or input" in other.json()["detail"]

        for n in range(5):
            http.post(
                "/workflows/order_workflow/instances",
                json={"id": f"P-{n}", "input": order_input(f"P-{n}")},
            )
        first = http.get("/instances", params={"status": "running", "limit": 2}).json()
        assert [i["id"] for i in first["instances"]] == ["P-0", "P-1"]
        second = http.get(
            "/instances", params={"status": "running", "limit": 2, "after": first["next_after"]}
        ).json()
        assert [i["id"] for i in second["instances"]] == ["P-2", "P-3"]
        assert http.get("/instances", params={"workflow": "nothing"}).json()["instances"] == []
        assert http.get("/instances", params={"after": "nothing"}).status_code == 404
        assert http.get("/instances", params={"limit": 0}).status_code == 400

        events = http.get("/instances/A-1/events").json()
        assert [e["type"] for e in events] == ["PaymentCharged", "EmailSent", "InventoryUpdated"]
        state = http.get("/instances/A-1/state").json()
        assert state["state"]["status"] == "fulfilled" and state["status"] == "finished"
        assert [s["name"] for s in state["progress"]][:2] == ["Validate Order", "Charge Payment"]
        missing = http.get("/instances/nope")
        assert missing.status_code == 404
        assert missing.json()["detail"] == "no instance 'nope' in the journal"

        drawn = http.get("/instances/A-1/render", params={"format": "mermaid"})
        assert drawn.status_code == 200 and drawn.text.startswith("flowchart")
        bpmn = http.get("/workflows/order_workflow/render", params={"format": "bpmn"})
        assert bpmn.status_code == 200 and "<bpmn:definitions" in bpmn.text
        assert http.get("/workflows/order_workflow/render?format=pdf").status_code == 400


@DURABLE_JOURNALS
def test_bad_requests_name_their_field_and_write_nothing(open_fresh: Open) -> None:
    journal = open_fresh()
    with client(journal) as http:
        cases = [
            (order_input("X", amount="5"), 'expected int, got "5" @ input.amount_cents'),
            (order_input("X", items="lamp"), "@ input.items"),
            ({"order_id": "X"}, "required field `customer_email`"),
        ]
        for data, message in cases:
            answer = http.post(
                "/workflows/order_workflow/instances", json={"id": "X", "input": data}
            )
            assert answer.status_code == 400, answer.text
            assert message in answer.json()["detail"]
        blank = http.post(
            "/workflows/order_workflow/instances", json={"id": " ", "input": order_input("X")}
        )
        assert blank.status_code == 400 and "non-blank" in blank.json()["detail"]
        assert http.post("/workflows/order_workflow/instances", content=b"{").status_code == 400
    assert journal.list_instances() == []


@DURABLE_JOURNALS
def test_signals_run_on_and_answer_with_their_response(open_fresh: Open) -> None:
    journal = open_fresh()
    with client(journal) as http:
        http.post(
            "/workflows/approval/instances",
            json={
                "id": "doc-1",
                "input": {"document_id": "doc-1", "author": "ada"},
                "advance": True,
            },
        )
        url = "/workflows/approval/instances/doc-1/signals"
        submitted = http.post(f"{url}/Submit", params={"key": "k"}, json={"title": "Handbook"})
        assert submitted.status_code == 200, submitted.text
        assert submitted.json() == {"document_id": "doc-1", "status": "submitted"}
        state = http.get("/instances/doc-1/state").json()
        assert state["expected_signals"] == ["Review"] and state["status"] == "waiting"
        reused = http.post(f"{url}/Submit", params={"key": "k"}, json={"title": "Other"})
        assert reused.status_code == 409 and "key 'k' was used" in reused.json()["detail"]
        early = http.post(f"{url}/Submit", json={"title": "Again"})
        assert early.status_code == 409 and "not waiting for signal" in early.json()["detail"]
        wrong = http.post(f"{url}/Review", json={"reviewer": "bob", "approve": "yes"})
        assert wrong.status_code == 400 and "approve" in wrong.json()["detail"]
        order = http.post("/workflows/order_workflow/instances/doc-1/signals/Submit", json={})
        assert order.status_code == 404  # the order workflow has no signals
        events = len(journal.read("doc-1"))
        approved = http.post(f"{url}/Review", json={"reviewer": "bob", "approve": True})
        assert approved.status_code == 200
        assert len(journal.read("doc-1")) > events


@pytest.fixture
def racing(open_fresh: Open) -> Iterator[Callable[[list[Any]], None]]:
    """Starts a worker thread on the journal; stopped at the end of the test."""
    started: list[tuple[Worker, threading.Thread]] = []

    def start(workflows: list[Any]) -> None:
        worker = Worker(open_fresh(), workflows, lease_ttl=5, poll_interval=0.02)
        thread = threading.Thread(target=worker.run_until_stopped)
        thread.start()
        started.append((worker, thread))

    yield start
    for worker, thread in started:
        worker.stop()
        thread.join(30)


def wait_for(condition: Callable[[], Any]) -> None:
    pause = threading.Event()
    for _ in range(3000):
        if condition():
            return
        pause.wait(0.01)
    raise AssertionError("timed out")


@DURABLE_JOURNALS
def test_retry_cancel_and_fork_over_http_with_a_worker_racing(
    open_fresh: Open, racing: Callable[[list[Any]], None]
) -> None:
    from tests.test_operations import Services, failed_instance, shop

    journal = open_fresh()
    services = Services()
    failed_instance(journal, services, "s-1")
    failed_instance(journal, services, "s-2")
    services.fixed = True
    racing([shop(services)])
    with TestClient(create_app(journal, [shop(services)])) as http:
        retried = http.post("/instances/s-1/retry")
        assert retried.status_code == 200 and retried.json()["attempts"] == 0
        wait_for(lambda: journal.get_instance("s-1").status == "finished")
        refused = http.post("/instances/s-1/retry")
        assert refused.status_code == 409 and "it is finished, not failed" in refused.text

        cancelled = http.post("/instances/s-2/cancel", json={"reason": "obsolete"})
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        forked = http.post("/instances/s-2/fork", json={"at": 1, "new_id": "s-2b"})
        assert forked.status_code == 201, forked.text
        wait_for(lambda: journal.get_instance("s-2b").status == "finished")
        bad_fork = http.post("/instances/s-2/fork", json={"at": -1, "new_id": "x"})
        assert bad_fork.status_code == 400
        refused = http.post(
            "/instances/s-2b/deliver", json={"type": "Shipped", "payload": {"parcel": "p"}}
        )
        assert refused.status_code == 409 and "cannot accept Shipped now" in refused.text
        undecodable = http.post(
            "/instances/s-2b/deliver", json={"type": "Shipped", "payload": {"parcel": 5}}
        )
        assert undecodable.status_code == 400
        assert "expected str, got 5 @ payload.parcel" in undecodable.text
        assert bad_fork.status_code == 400
        assert http.post("/instances/zz/cancel", json={}).status_code == 404
    assert [e.type for e in journal.read("s-1")] == ["Charged", "Shipped"]
    assert [e.type for e in journal.read("s-2")] == ["Charged", "wio.Cancelled"]
    assert [e.type for e in journal.read("s-2b")] == ["Charged", "Shipped"]


def test_a_token_guards_every_endpoint_but_health(tmp_path: Path) -> None:
    with (
        open_journal(f"sqlite:///{tmp_path / 'j.db'}") as journal,
        client(journal, token="s3cret") as http,
    ):
        assert http.get("/health").status_code == 200
        denied = http.get("/instances")
        assert denied.status_code == 401 and "bearer token" in denied.json()["detail"]
        wrong = http.get("/instances", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        allowed = http.get("/instances", headers={"Authorization": "Bearer s3cret"})
        assert allowed.status_code == 200


def test_only_loopback_is_served_without_a_token() -> None:
    check_binding("127.0.0.1", None)
    check_binding("::1", None)
    check_binding("localhost", None)
    check_binding("0.0.0.0", "token")
    with pytest.raises(InvalidSetting, match=r"--host 0\.0\.0\.0: serving beyond this machine"):
        check_binding("0.0.0.0", None)
    with pytest.raises(InvalidSetting, match="the token is blank"):
        check_binding("127.0.0.1", " ")
    refused = wio(
        "serve", "--host", "0.0.0.0", "--workflows", "docs/examples/order.py:order_workflow"
    )
    assert refused.returncode == 1 and "needs a bearer token" in refused.stderr


# -- fuzzing ----------------------------------------------------------------------------


@pytest.fixture
def fuzzed(tmp_path: Path) -> Iterator[tuple[Any, Journal]]:
    journal = open_journal(f"sqlite:///{tmp_path / 'fuzz.db'}")
    approval = example("approval")
    app = create_app(journal, [ORDER, approval.workflow])
    with TestClient(app) as http:  # seed instances for the fuzzed ids to find
        http.post(
            "/workflows/order_workflow/instances",
            json={"id": "A-1", "input": order_input("A-1"), "advance": True},
        )
        http.post(
            "/workflows/approval/instances",
            json={"id": "doc-1", "input": {"document_id": "doc-1", "author": "ada"}},
        )
    yield app, journal
    journal.close()


def snapshot(journal: Journal) -> list[Any]:
    return [
        (r.id, r.status, r.last_seq, r.attempts, r.last_error, r.wakeup_at)
        for r in journal.list_instances()
    ]


def test_the_api_never_fails_with_a_500_and_bad_requests_write_nothing(
    fuzzed: tuple[Any, Journal],
) -> None:
    """Schemathesis generates requests from the OpenAPI document, valid and not, for every
    operation: none may fail with a 500, and none that is refused may write anything."""
    app, journal = fuzzed
    api = schemathesis.openapi.from_asgi("/schema/openapi.json", app)
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= 15
    seen: dict[int, int] = {}
    for operation in operations:

        @hypothesis.given(case=operation.as_strategy())
        @hypothesis.settings(
            max_examples=15,
            deadline=None,
            suppress_health_check=list(hypothesis.HealthCheck),
            derandomize=True,
            database=None,
        )
        def call(case: Any) -> None:
            before = snapshot(journal)
            response = case.call()
            seen[response.status_code] = seen.get(response.status_code, 0) + 1
            where = (case.method, case.formatted_path, response.text)
            assert response.status_code < 500, where
            assert "Traceback" not in response.text
            if response.status_code >= 400:
                assert snapshot(journal) == before, where

        call()
    assert any(400 <= status < 500 for status in seen) and 200 in seen


def test_the_openapi_document_in_the_docs_is_what_wio_serve_generates() -> None:
    targets = ["docs/examples/order.py:order_workflow", "docs/examples/approval.py:workflow"]
    done = wio("serve", "--workflows", *targets, "--openapi")
    assert done.returncode == 0, done.stderr
    committed = (ROOT / "docs" / "openapi.json").read_text()
    assert done.stdout == committed, (
        "docs/openapi.json is stale: regenerate it with "
        f"wio serve --workflows {' '.join(targets)} --openapi > docs/openapi.json"
    )
    schemas = json.loads(committed)["components"]["schemas"]
    order = schemas["Order"]
    assert order["required"] == ["amount_cents", "customer_email", "items", "order_id"]
    assert order["properties"]["items"]["type"] == "array"


def test_an_operator_delivers_the_event_a_recovery_waits_for(tmp_path: Path) -> None:
    checkpointing = example("checkpointing")
    recovery = Workflow(checkpointing.recovery, name="recovery", input_type=int)
    with (
        open_journal(f"sqlite:///{tmp_path / 'j.db'}") as journal,
        TestClient(create_app(journal, [recovery])) as http,
    ):
        started = http.post(
            "/workflows/recovery/instances", json={"id": "r-1", "input": 0, "advance": True}
        )
        assert started.json()["status"] == "waiting"
        wrong = http.post("/instances/r-1/deliver", json={"type": "MyEvent", "payload": {}})
        assert (
            wrong.status_code == 400
            and "required field missing @ payload.counter" in wrong.json()["detail"]
        )
        done = http.post(
            "/instances/r-1/deliver", json={"type": "MyEvent", "payload": {"counter": 3}}
        )
        assert done.status_code == 200, done.text
        assert done.json()["status"] == "finished"
        assert [e.type for e in journal.read("r-1")] == ["MyEvent"]


def test_wio_serve_runs_the_api_in_its_own_process(tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys
    import urllib.error
    import urllib.request

    from tests.processes import wait_until

    with socket.socket() as probe:  # a free port for the server
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"sqlite:///{tmp_path / 'j.db'}"
    open_journal(url).close()
    server = subprocess.Popen(
        [sys.executable, "-m", "wio.cli", "serve", "--journal", url, "--port", str(port),
         "--workflows", "docs/examples/order.py:order_workflow", "--token", "s3cret"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"

    def get(path: str, token: str | None = None) -> tuple[int, bytes]:
        request = urllib.request.Request(base + path)
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()
        except OSError:
            return 0, b""

    try:
        wait_until(lambda: get("/health")[0] == 200, "wio serve to answer")
        assert get("/instances")[0] == 401
        status, body = get("/instances", "s3cret")
        assert status == 200 and json.loads(body) == {"instances": [], "next_after": None}
        status, metrics = get("/metrics", "s3cret")
        assert status == 200 and b"wio_steps_total" in metrics
        assert get("/schema/openapi.json", "s3cret")[0] == 200
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    assert server.returncode == 0, output
    assert "Traceback" not in output
