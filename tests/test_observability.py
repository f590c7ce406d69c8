"""Metrics, traces and logs: the Prometheus endpoint of workers and `wio serve`, spans in
OpenTelemetry's in-memory exporter, and the worker's log lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import DURABLE_JOURNALS, ROOT, example
from tests.processes import wio
from tests.test_operations import Services, shop
from wio import ManualClock, Runtime
from wio.journal import open_journal
from wio.loading import load_definition
from wio.metrics import exposition
from wio.server.app import create_app
from wio.worker import Worker, serve_health

ORDER = "docs/examples/order.py:order_workflow"

# The global tracer provider can be set once per process: this module's exporter.
SPANS = InMemorySpanExporter()
_provider = TracerProvider()
_provider.add_span_processor(SimpleSpanProcessor(SPANS))
trace.set_tracer_provider(_provider)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_the_worker_serves_prometheus_metrics_on_its_health_port(tmp_path: Path) -> None:
    journal = open_journal(f"sqlite:///{tmp_path / 'j.db'}")
    services = Services()
    runtime = Runtime(shop(services), journal=journal)
    runtime.create("s-1", 5)
    runtime.create("s-2", 6)
    clock = ManualClock(datetime.now(UTC))  # retries are due only when the test says so
    worker = Worker(journal, [shop(services)], clock=clock)
    server = serve_health(worker, 0, host="127.0.0.2")  # a configurable host
    host, port = server.server_address[:2]
    assert host == "127.0.0.2"

    def scrape() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        with urllib.request.urlopen(f"http://{host}:{port}/metrics") as response:
            assert response.headers["Content-Type"].startswith("text/plain")
            return samples(response.read().decode())

    try:
        before = scrape()
        assert worker.run_once() == 2  # both charged; both shipments fail a first time
        services.fixed = True
        clock.advance(60)
        assert worker.run_once() == 2  # retried, and recorded
        after = scrape()
    finally:
        server.shutdown()
        journal.close()

    def grew(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert grew("wio_steps_total", outcome="recorded") == 4  # two charges, two shipments
    assert grew("wio_steps_total", outcome="failed") == 2
    assert grew("wio_steps_retried_total") == 2
    assert grew("wio_event_append_seconds_count") == 4
    assert grew("wio_replay_seconds_count") >= 2
    assert grew("wio_claim_seconds_count") >= 3
    assert after[("wio_instances", (("status", "finished"),))] == 2
    assert ("wio_instances", (("status", "running"),)) not in after


def test_wio_serve_exposes_the_same_metrics(tmp_path: Path) -> None:
    journal = open_journal(f"sqlite:///{tmp_path / 'j.db'}")
    order = load_definition(str(ROOT / ORDER))
    app = create_app(journal, [order], metrics=lambda: exposition(journal))
    with TestClient(app) as http:
        http.post(
            "/workflows/order_workflow/instances",
            json={
                "id": "A-1",
                "advance": True,
                "input": {"order_id": "A-1", "customer_email": "a@x", "amount_cents": 5,
                          "items": ["pen"]},
            },
        )  # fmt: skip
        scraped = http.get("/metrics")
    journal.close()
    assert scraped.status_code == 200
    assert samples(scraped.text)[("wio_instances", (("status", "finished"),))] == 1


def test_runs_and_steps_are_traced_with_their_instance_workflow_and_path(
    tmp_path: Path,
) -> None:
    SPANS.clear()
    services = Services()
    with open_journal(f"sqlite:///{tmp_path / 'j.db'}") as journal:
        instance = Runtime(shop(services), journal=journal).create("s-1", 5)
        instance.advance()  # the charge is recorded, the shipment fails
    spans = SPANS.get_finished_spans()
    by_name = {span.name: span for span in spans}
    run, steps = by_name["wio.run"], [s for s in spans if s.name == "wio.step"]
    assert dict(run.attributes or {}) == {
        "wio.instance_id": "s-1",
        "wio.workflow": "shop",
        "wio.workflow_version": 1,
    }
    assert [(s.attributes or {}).get("wio.path") for s in steps] == ["/0", "/1"]
    assert [(s.attributes or {}).get("wio.step") for s in steps] == ["Charge", "Ship"]
    assert all(s.parent is not None and s.parent.span_id == run.context.span_id for s in steps)
    assert steps[0].status.status_code == StatusCode.UNSET
    assert steps[1].status.status_code == StatusCode.ERROR
    assert "ConnectionError: shipper down" in (steps[1].status.description or "")


def test_a_start_request_carries_its_trace_into_the_steps(tmp_path: Path) -> None:
    SPANS.clear()
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    journal = open_journal(f"sqlite:///{tmp_path / 'j.db'}")
    services = Services()
    services.fixed = True
    with TestClient(create_app(journal, [shop(services)])) as http:
        started = http.post(
            "/workflows/shop/instances",
            json={"id": "s-1", "input": 5, "advance": True},
            headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"},
        )
    journal.close()
    assert started.status_code == 201, started.text
    spans = [s for s in SPANS.get_finished_spans() if s.name.startswith("wio.")]
    assert len(spans) == 3  # the run and its two steps
    assert {format(s.context.trace_id, "032x") for s in spans} == {trace_id}


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_the_worker_logs_what_it_does_at_info(log_format: str, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'j.db'}"
    order_input = {"order_id": "A-1", "customer_email": "a@x", "amount_cents": 5,
                   "items": ["pen"]}  # fmt: skip
    started = wio(
        "start", ORDER, "--journal", url, "--id", "A-1", "--input", json.dumps(order_input)
    )
    assert started.returncode == 0, started.stderr
    done = wio(
        "worker", "--journal", url, "--workflows", ORDER, "--once", "--log-format", log_format
    )
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    if log_format == "json":
        records: list[dict[str, Any]] = [json.loads(line) for line in lines]
        assert {r["level"] for r in records} == {"INFO"}
        messages = [(r["logger"], r["message"]) for r in records]
    else:
        messages = [(line.split()[3].rstrip(":"), line.split(": ", 1)[1]) for line in lines]
    assert ("wio.worker", "claimed 1 instance(s): A-1") in messages
    assert (
        "wio.steps",
        "instance 'A-1': step 'Charge Payment' at /1/0/0 recorded event #1 PaymentCharged",
    ) in messages
    assert ("wio.worker", "instance 'A-1': finished after event #3") in messages

    quiet = wio("worker", "--journal", url, "--workflows", ORDER, "--once",
                env={**os.environ, "WIO_LOG_LEVEL": "warning"})  # fmt: skip
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_the_steps_of_parallel_flows_get_a_span_each() -> None:
    import asyncio

    from wio import AsyncRuntime, Workflow

    SPANS.clear()
    fulfilment = example("fulfilment")
    fulfilment.side_effects.clear()
    workflow = Workflow(fulfilment.workflow.wio, name="fulfilment")

    async def run() -> None:
        runtime = AsyncRuntime(workflow)
        instance = await runtime.create("o-1", fulfilment.Order("o-1", 1200, "pen"))
        await instance.advance()

    asyncio.run(run())
    steps = [s for s in SPANS.get_finished_spans() if s.name == "wio.step"]
    names = {(s.attributes or {}).get("wio.step") for s in steps}
    assert {"Charge Card", "Reserve Stock"} <= names, names
    assert all((s.attributes or {}).get("wio.workflow") == "fulfilment" for s in steps)


@DURABLE_JOURNALS
def test_a_worker_process_continues_the_trace_that_started_the_instance(
    journal_url: str, tmp_path: Path
) -> None:
    """The trace of a start request (a traceparent header) or of a caller's span is stored
    with the instance; a worker in another process runs its steps in that trace."""
    SPANS.clear()
    trace_id, request_span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    definition = load_definition(str(ROOT / ORDER))
    with open_journal(journal_url) as journal:
        with TestClient(create_app(journal, [definition])) as http:
            started = http.post(
                "/workflows/order_workflow/instances",
                json={"id": "by-request", "input": order_input("by-request")},
                headers={"traceparent": f"00-{trace_id}-{request_span}-01"},
            )
            assert started.status_code == 201, started.text
        runtime = Runtime(definition, journal=journal)
        with trace.get_tracer("caller").start_as_current_span("place order") as caller:
            runtime.create("by-caller", decode_order("by-caller"))
        runtime.create("untraced", decode_order("untraced"))
        assert journal.get_instance("untraced").trace_context is None
    spans_file = tmp_path / "spans.jsonl"
    worker = subprocess.run(
        [sys.executable, "tests/harness/traced_worker.py", "worker", "--journal", journal_url,
         "--workflows", ORDER, "--once"],
        cwd=ROOT, env={**os.environ, "WIO_SPANS": str(spans_file)},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert worker.returncode == 0, worker.stderr
    spans = [json.loads(line) for line in spans_file.read_text().splitlines()]
    (worker_pid,) = {span["pid"] for span in spans}
    assert worker_pid != os.getpid()  # made by the worker process, exported there
    runs = {s["attributes"]["wio.instance_id"]: s for s in spans if s["name"] == "wio.run"}
    caller_context = caller.get_span_context()
    assert (runs["by-request"]["trace_id"], runs["by-request"]["parent_id"]) == (
        trace_id,
        request_span,
    )
    assert (runs["by-caller"]["trace_id"], runs["by-caller"]["parent_id"]) == (
        format(caller_context.trace_id, "032x"),
        format(caller_context.span_id, "016x"),
    )
    assert runs["untraced"]["parent_id"] is None  # a trace of its own
    assert len({run["trace_id"] for run in runs.values()}) == 3
    for instance_id, run in runs.items():
        steps = [
            s
            for s in spans
            if s["name"] == "wio.step" and s["attributes"]["wio.instance_id"] == instance_id
        ]
        assert steps, instance_id
        assert {(s["trace_id"], s["parent_id"]) for s in steps} == {
            (run["trace_id"], run["span_id"])
        }


def order_input(order_id: str) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "customer_email": f"{order_id}@example.com",
        "amount_cents": 4200,
        "items": ["lamp"],
    }


def decode_order(order_id: str) -> Any:
    from wio.codec import decode_input

    definition = load_definition(str(ROOT / ORDER))
    return decode_input(order_input(order_id), definition.input_type, "test")
