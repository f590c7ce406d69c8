"""Signals: waiting, delivery, responses, redelivery, errors that write nothing, replay."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from benchmarks.flows import Ping, ping, signalled
from tests.conftest import ALL_JOURNALS, ROOT
from tests.harness import review as example
from tests.processes import wio
from wio import WIO, InstanceStatus, Runtime
from wio.codec import EventDecodeError
from wio.interpreter import start
from wio.journal import NewEvent
from wio.runtime import AsyncRuntime, RecordedEvent
from wio.runtime.signal_delivery import redelivered, signal_effect, signal_record
from wio.signals import SignalHandled, SignalKeyReused, SignalRequestError, UnexpectedSignal

Verdict, Document = example.Verdict, example.Document


@pytest.fixture(autouse=True)
def clean() -> None:
    example.notifications.clear()


def waiting(runtime: Any = None, id_: str = "d") -> Any:
    runtime = runtime or Runtime(example.workflow)
    instance = runtime.create(id_, Document("Spec"))
    assert instance.advance() == InstanceStatus.WAITING
    return instance


def test_a_workflow_waits_for_its_signal_and_says_so() -> None:
    instance = waiting()
    assert instance.expected_signals() == (example.review,)
    assert instance.waiting_for() == "waiting for signal 'Review' at /1"
    assert instance.state.status == "in review"
    assert example.notifications == []


def test_delivering_a_signal_runs_its_handler_once_and_responds() -> None:
    instance = waiting()
    response = instance.signal(example.review, Verdict("ada", approve=True))
    assert response == example.Acknowledgement("Spec", accepted=True)
    assert instance.status == InstanceStatus.FINISHED
    assert instance.result == Document("Spec", "approved", "ada")
    (recorded,) = instance.events
    assert recorded.event == SignalHandled(
        "Review", Verdict("ada", True), example.Reviewed("ada", True), response, None
    )
    assert example.notifications == ["ada reviewed Spec"]
    assert instance.progress[-1].kind == "signal" and instance.progress[-1].event_seq == 1


def test_a_request_may_be_json_and_a_bad_one_writes_nothing() -> None:
    instance = waiting()
    with pytest.raises(SignalRequestError) as raised:
        instance.signal(example.review, {"reviewer": "ada", "approve": "yes"})
    assert str(raised.value) == (
        "instance 'd', signal 'Review': the request does not fit Verdict: "
        'expected bool, got "yes" @ request.approve'
    )
    assert instance.events == () and example.notifications == []
    response = instance.signal(example.review, {"reviewer": "bob", "approve": True})
    assert response.accepted and instance.result.reviewer == "bob"


def test_an_unexpected_signal_is_refused_and_writes_nothing() -> None:
    instance = Runtime(example.workflow).create("d", Document("Spec"))
    instance.advance()
    instance.signal(example.review, Verdict("ada", True))
    with pytest.raises(UnexpectedSignal, match=r"not waiting for signal 'Review'.*finished"):
        instance.signal(example.review, Verdict("bob", True))
    assert len(instance.events) == 1


def test_redelivery_returns_the_recorded_response_without_side_effects() -> None:
    instance = waiting()
    first = instance.signal(example.review, Verdict("ada", True), key="msg-1")
    again = instance.signal(example.review, Verdict("ada", True), key="msg-1")
    assert again == first
    # Without a key, the same request once handled is a redelivery too.
    assert instance.signal(example.review, Verdict("ada", True)) == first
    assert example.notifications == ["ada reviewed Spec"]
    assert len(instance.events) == 1


def test_signal_delivery_is_pure_functions_of_the_cursor_and_events() -> None:
    cursor = start(example.workflow.wio, Document("Spec"))
    effect = signal_effect("d", cursor, example.review, Verdict("ada", True))
    assert (effect.node.signal, effect.input, effect.request) == (
        example.review,
        Document("Spec", "in review"),
        Verdict("ada", True),
    )
    record = signal_record(effect, example.Reviewed("ada", True), "k")
    assert record.response == example.Acknowledgement("Spec", accepted=True)
    assert redelivered("d", cursor, [], example.review, Verdict("ada", True), "k") is None
    events = [RecordedEvent(1, record)]
    assert redelivered("d", cursor, events, example.review, Verdict("ada", True), "k") == record
    # A key names one request: sent again with another, it is refused.
    with pytest.raises(SignalKeyReused, match="instance 'd', signal 'Review': key 'k' was used"):
        redelivered("d", cursor, events, example.review, Verdict("bob", True), "k")
    assert example.notifications == []  # nothing here calls a handler
    done = start(WIO.pure(1), None)
    with pytest.raises(UnexpectedSignal, match="instance 'x' is not waiting for signal 'Review'"):
        signal_effect("x", done, example.review, Verdict("ada", True))


def test_a_business_error_from_a_signal_fails_the_instance() -> None:
    instance = waiting()
    response = instance.signal(example.review, Verdict("eve", approve=False))
    assert response == example.Acknowledgement("Spec", accepted=False)
    assert instance.status == InstanceStatus.FAILED
    assert instance.result == example.Rejected("rejected by eve")


def test_a_handler_that_raises_records_nothing() -> None:
    def broken(document: Document, verdict: Verdict) -> example.Reviewed:
        raise ConnectionError("mail server down")

    from wio import WIO

    workflow = WIO.handle_signal(example.review, broken, example.apply_verdict, example.acknowledge, error=example.Rejected)  # fmt: skip
    instance = Runtime(workflow).create("d", Document("Spec"))
    instance.advance()
    with pytest.raises(ConnectionError):
        instance.signal(example.review, Verdict("ada", True))
    assert instance.events == () and instance.status == InstanceStatus.WAITING


def test_replay_applies_signals_without_running_handlers() -> None:
    live = waiting()
    live.signal(example.review, Verdict("ada", True))
    example.notifications.clear()
    replayed = Runtime(example.workflow, strict=True).rebuild(
        "d", Document("Spec"), [e.event for e in live.events]
    )
    assert replayed.state == live.state and replayed.progress == live.progress
    assert example.notifications == []


@ALL_JOURNALS
def test_signals_through_a_journal(open_fresh: Any) -> None:
    journal = open_fresh()
    waiting(Runtime(example.workflow, journal=journal), "d")
    # Another process delivers the signal; a third one sees the result.
    sender = Runtime(example.workflow, journal=open_fresh()).get("d")
    assert sender.signal(example.review, {"reviewer": "ada", "approve": True}).accepted
    (stored,) = journal.read("d")
    assert stored.type == "wio.SignalHandled"
    assert stored.payload["request"] == {"reviewer": "ada", "approve": True, "comment": ""}
    assert stored.payload["event"] == {
        "type": "Reviewed", "version": 1, "payload": {"reviewer": "ada", "approve": True}
    }  # fmt: skip
    assert journal.get_instance("d").lease_owner is None  # the sender let go
    reader = Runtime(example.workflow, journal=open_fresh(), strict=True).get("d")
    assert reader.status == InstanceStatus.FINISHED and reader.result.reviewer == "ada"


@ALL_JOURNALS
def test_a_corrupt_signal_record_is_reported_precisely(open_fresh: Any) -> None:
    journal = open_fresh()
    waiting(Runtime(example.workflow, journal=journal), "d")
    payload = {
        "signal": "Review", "key": None, "request": {"reviewer": 7, "approve": True},
        "event": {"type": "Reviewed", "version": 1, "payload": {"reviewer": "x", "approve": True}},
        "response": {"document": "Spec", "accepted": True},
    }  # fmt: skip
    journal.append("d", 0, [NewEvent("wio.SignalHandled", 1, payload)], datetime.now(UTC))
    with pytest.raises(EventDecodeError) as raised:
        Runtime(example.workflow, journal=open_fresh()).get("d")
    assert "event #1 of type 'wio.SignalHandled'" in str(raised.value)
    assert "expected str, got 7 @ payload.reviewer" in str(raised.value)


def test_signals_on_the_async_runtime() -> None:
    async def main() -> Any:
        instance = await AsyncRuntime(example.workflow).create("d", Document("Spec"))
        assert await instance.advance() == InstanceStatus.WAITING
        response = await instance.signal(example.review, Verdict("ada", True))
        return response, instance.status

    assert asyncio.run(main()) == (example.Acknowledgement("Spec", True), InstanceStatus.FINISHED)


def test_wio_signal_delivers_from_the_command_line(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'j.db'}"
    target = str(ROOT / "tests/harness/review.py:workflow")
    document = '{"title": "Spec"}'
    started = wio("start", target, "--journal", url, "--id", "d", "--input", document, "--advance")
    assert started.returncode == 0 and "waiting" in started.stdout, started.stderr

    def signal(name: str, request: str, *extra: str) -> Any:
        return wio("signal", "d", name, "--journal", url, "--request", request,
                   "--workflows", target, *extra)  # fmt: skip

    verdict = '{"reviewer": "ada", "approve": true}'
    done = signal("Review", verdict, "--key", "k1")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"document": "Spec", "accepted": True}
    assert signal("Review", verdict, "--key", "k1").stdout == done.stdout  # a redelivery
    wrong = signal("Approve", "{}")
    assert wrong.returncode == 1 and "has no signal 'Approve' (it has: Review)" in wrong.stderr
    bad = signal("Review", "{nope")
    assert bad.returncode == 1 and "--request is not JSON" in bad.stderr


@ALL_JOURNALS
def test_senders_take_turns_on_an_instance_that_waits_again(open_fresh: Any) -> None:
    pings = signalled(1)  # the benchmark's workflow: one step, then a wait for pings, forever
    journal = open_fresh()
    Runtime(pings, journal=journal).create("p", 0).advance()
    # Each sender gives the lease back with its event (the instance waits again),
    # so the next sender, in another process, is not refused.
    senders = [Runtime(pings, journal=open_fresh()).get("p") for _ in range(2)]
    for number in (1, 2, 3, 4):
        assert senders[number % 2].signal(ping, Ping(number)) == number
        record = journal.get_instance("p")
        assert (record.status, record.lease_owner, record.last_seq) == ("waiting", None, 1 + number)
    reader = Runtime(pings, journal=open_fresh(), strict=True).get("p")
    assert reader.status == InstanceStatus.WAITING and reader.state == 4
    assert [e.payload["request"]["number"] for e in journal.read("p")[1:]] == [1, 2, 3, 4]
