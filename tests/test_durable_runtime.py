"""The durable runtime on every journal: resume, leases, retries, the codec and its errors."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Never

import pytest
from attrs import frozen

from tests.conftest import ALL_JOURNALS, DURABLE_JOURNALS
from tests.nodes import Effects, Ev, Saved, restore, save
from wio import WIO, InstanceAlreadyExists, InstanceNotFound, InstanceStatus, Runtime
from wio.clock import ManualClock
from wio.codec import EventCodec, EventDecodeError, InputError, event
from wio.definition import Workflow
from wio.journal import Journal, LeaseHeld, NewEvent, StoredEvent, open_journal
from wio.retry import RetryPolicy
from wio.runtime import AsyncRuntime

Open = Callable[[], Journal]


def counting(journal: Journal) -> tuple[Journal, dict[str, int]]:
    """The same journal, counting the calls made to it."""
    calls: dict[str, int] = {}

    class Counting:
        def __getattr__(self, name: str) -> Any:
            attribute = getattr(journal, name)
            if not callable(attribute):
                return attribute

            def counted(*args: Any, **kwargs: Any) -> Any:
                calls[name] = calls.get(name, 0) + 1
                return attribute(*args, **kwargs)

            return counted

    return Counting(), calls  # type: ignore[return-value]


def three_steps(effects: Effects) -> Workflow[int, Never, int]:
    wf = effects.step("A", 1) >> effects.step("B", 10) >> effects.step("C", 100)
    return Workflow(wf, name="three", input_type=int)


@ALL_JOURNALS
def test_a_step_is_one_append_and_the_journal_is_not_reread(open_fresh: Open) -> None:
    journal, calls = counting(open_fresh())
    runtime = Runtime(three_steps(Effects()), journal=journal)
    instance = runtime.create("i", 0)
    calls.clear()
    assert instance.advance() == InstanceStatus.FINISHED
    assert calls.get("append") == 3
    assert calls.get("read", 0) == 0
    # One lease for the run; the final status and the lease's release ride on the last append.
    assert calls == {"acquire_lease": 1, "append": 3}
    assert journal.get_instance("i").lease_owner is None


@DURABLE_JOURNALS
def test_a_fresh_runtime_resumes_without_rerunning_completed_steps(open_fresh: Open) -> None:
    effects = Effects()
    first = Runtime(three_steps(effects), journal=open_fresh())
    instance = first.create("i", 5)
    assert instance.step() and instance.step()  # A and B, then the process "dies"
    first.journal.release_lease("i", first.owner)  # type: ignore[union-attr]

    effects.calls.clear()
    second = Runtime(three_steps(effects), journal=open_fresh(), strict=True)
    resumed = second.get("i")
    assert resumed.state == 16 and effects.calls == []
    assert resumed.advance() == InstanceStatus.FINISHED
    assert resumed.result == 116
    assert effects.calls == ["C"]
    stored = second.journal.read("i")  # type: ignore[union-attr]
    assert [(e.seq, e.type, e.payload) for e in stored] == [
        (1, "Ev", {"value": 6}),
        (2, "Ev", {"value": 16}),
        (3, "Ev", {"value": 116}),
    ]
    assert second.journal.get_instance("i").status == "finished"  # type: ignore[union-attr]


@ALL_JOURNALS
def test_registry_and_errors_for_instances(open_fresh: Open) -> None:
    journal = open_fresh()
    runtime = Runtime(three_steps(Effects()), journal=journal)
    runtime.create("i", 1)
    with pytest.raises(InstanceAlreadyExists):
        Runtime(three_steps(Effects()), journal=journal).create("i", 1)
    with pytest.raises(InstanceNotFound):
        runtime.get("missing")
    other = Workflow(WIO.pure(1), name="other")
    with pytest.raises(Exception, match="runs workflow 'three' version 1, not 'other'"):
        Runtime(other, journal=journal).get("i")


@ALL_JOURNALS
def test_a_lease_keeps_a_second_process_out_until_it_expires(open_fresh: Open) -> None:
    clock = ManualClock()
    journal = open_fresh()
    holder = Runtime(three_steps(Effects()), journal=journal, clock=clock, lease_ttl=30)
    instance = holder.create("i", 0)
    assert instance.step()  # holds the lease now
    intruder = Runtime(
        three_steps(Effects()), journal=journal, clock=clock, lease_ttl=30, owner="intruder"
    )
    with pytest.raises(LeaseHeld):
        intruder.get("i").advance()
    clock.advance(31)  # the holder died: its lease expired
    taken_over = Runtime(three_steps(Effects()), journal=journal, clock=clock, owner="heir")
    assert taken_over.get("i").advance() == InstanceStatus.FINISHED
    assert len(journal.read("i")) == 3


@ALL_JOURNALS
def test_a_raising_step_is_retried_with_backoff_then_fails(open_fresh: Open) -> None:
    clock = ManualClock()
    attempts: list[datetime] = []

    def flaky(x: int) -> Ev:
        attempts.append(clock.now())
        raise ConnectionError(f"gateway down ({len(attempts)})")

    policy = RetryPolicy(max_attempts=3, initial_delay=10, multiplier=3)
    wf = Workflow(WIO.run(flaky, lambda x, e: e.value, retry=policy).named("Pay"), name="pay")
    journal = open_fresh()
    runtime = Runtime(wf, journal=journal, clock=clock)
    instance = runtime.create("i", 1)

    assert instance.advance() == InstanceStatus.RUNNING
    record = journal.get_instance("i")
    assert (record.attempts, record.status) == (1, "running")
    assert record.wakeup_at == clock.now().replace(tzinfo=UTC) + (record.wakeup_at - clock.now())
    assert (record.wakeup_at - clock.now()).total_seconds() == 10
    assert "step 'Pay' at /: ConnectionError: gateway down (1)" in (record.last_error or "")
    assert journal.claim_runnable("w", clock.now(), policy_ttl(), 10) == []  # not due yet

    clock.advance(10)
    instance.advance()
    assert (journal.get_instance("i").wakeup_at - clock.now()).total_seconds() == 30  # type: ignore[operator]
    clock.advance(30)
    assert instance.advance() == InstanceStatus.FAILED
    record = journal.get_instance("i")
    assert (record.status, record.attempts, record.wakeup_at) == ("failed", 3, None)
    assert "gateway down (3)" in (record.last_error or "")
    assert journal.read("i") == []
    assert len(attempts) == 3

    # A fresh process sees the failure as recorded.
    reloaded = Runtime(wf, journal=journal, clock=clock).get("i")
    assert reloaded.status == InstanceStatus.FAILED and reloaded.attempts == 3
    assert "gateway down (3)" in str(reloaded.last_error.exception)  # type: ignore[union-attr]


def policy_ttl() -> Any:
    from datetime import timedelta

    return timedelta(seconds=30)


def test_exceptions_outside_retry_on_fail_at_once() -> None:
    policy = RetryPolicy(max_attempts=5, retry_on=(ConnectionError,))

    def broken(x: int) -> Ev:
        raise KeyError("bug")

    instance = Runtime(WIO.run(broken, lambda x, e: e, retry=policy)).create("i", 0)
    assert instance.advance() == InstanceStatus.FAILED
    assert instance.attempts == 1


@DURABLE_JOURNALS
def test_checkpoint_and_recover_through_the_journal(open_fresh: Open) -> None:
    effects = Effects()
    v1 = Workflow(
        (effects.step("A", 1) >> effects.step("B", 2)).checkpointed(save, restore)
        >> effects.step("C", 3),
        name="evolving",
        input_type=int,
    )
    runtime = Runtime(v1, journal=open_fresh())
    instance = runtime.create("i", 0)
    for _ in range(3):
        instance.step()
    runtime.journal.release_lease("i", runtime.owner)  # type: ignore[union-attr]

    v2 = Workflow(WIO.recover(restore) >> effects.step("C", 3), name="evolving", input_type=int)
    effects.calls.clear()
    resumed = Runtime(v2, journal=open_fresh(), strict=True).get("i")
    assert resumed.advance() == InstanceStatus.FINISHED and resumed.result == 6
    assert effects.calls == ["C"]


# -- the codec ---------------------------------------------------------------------


@event("payments.Charged.v-any", version=3, upcast={1: lambda p: {**p, "currency": "EUR"}, 2: lambda p: {**p, "cents": p.pop("amount") * 100}})  # fmt: skip
@frozen
class Charged:
    cents: int
    currency: str


def stored(payload: Any, type_: str = "payments.Charged.v-any", version: int = 3) -> StoredEvent:
    return StoredEvent("order-9", 4, type_, version, payload, datetime.now(UTC))


def test_the_codec_round_trips_under_a_stable_name() -> None:
    codec = EventCodec([Charged])
    encoded = codec.encode(Charged(500, "EUR"))
    assert encoded == NewEvent("payments.Charged.v-any", 3, {"cents": 500, "currency": "EUR"})
    assert codec.decode(stored(encoded.payload)) == Charged(500, "EUR")


def test_old_payloads_are_upcast_step_by_step() -> None:
    codec = EventCodec([Charged])
    assert codec.decode(stored({"amount": 7}, version=1)) == Charged(700, "EUR")
    assert codec.decode(stored({"amount": 7, "currency": "USD"}, version=2)) == Charged(700, "USD")


@pytest.mark.parametrize(
    ("record", "problem"),
    [
        (stored({"cents": "500", "currency": "EUR"}), 'expected int, got "500" @ payload.cents'),
        (stored({"currency": "EUR"}), "required field missing @ payload.cents"),
        (stored({}, type_="Unknown"), "no event class is registered under this name"),
        (stored({}, version=9), "newer than this code's version 3"),
        (stored({"cents": 1}, version=1), "upcasting from version 2 failed: KeyError: 'amount'"),
    ],
)
def test_a_bad_payload_names_instance_seq_type_and_field(record: StoredEvent, problem: str) -> None:
    with pytest.raises(EventDecodeError) as raised:
        EventCodec([Charged]).decode(record)
    assert raised.value.instance_id == "order-9" and raised.value.seq == 4
    assert "instance 'order-9': event #4" in str(raised.value)
    assert problem in str(raised.value)


def test_two_classes_under_one_name_are_refused() -> None:
    @frozen
    class Ev:  # same name as tests.nodes.Ev
        value: int

    from tests.nodes import Ev as OtherEv

    with pytest.raises(Exception, match="two event classes are registered as 'Ev'"):
        EventCodec([OtherEv, Ev])


@pytest.mark.parametrize("name", ["wio.InFlow", "wio.InElement", "wio.SignalHandled"])
def test_an_event_class_may_not_take_an_envelope_s_name(name: str) -> None:
    # Stored under that name, its events would be read back as envelopes.
    @event(name)
    @frozen
    class Impostor:
        value: int

    with pytest.raises(Exception, match=f"is named '{name}', which wio's envelopes use"):
        EventCodec([Impostor])


def test_event_versions_need_every_upcaster() -> None:
    with pytest.raises(Exception, match="no upcaster from version 2"):
        event("X", version=3, upcast={1: lambda p: p})(type("X", (), {}))


@DURABLE_JOURNALS
def test_a_corrupt_journal_event_is_reported_precisely_and_left_alone(open_fresh: Open) -> None:
    journal = open_fresh()
    wf = three_steps(Effects())
    runtime = Runtime(wf, journal=journal)
    runtime.create("i", 0).step()
    runtime.journal.release_lease("i", runtime.owner)  # type: ignore[union-attr]
    journal.append("i", 1, [NewEvent("Ev", 1, {"value": "not a number"})], datetime.now(UTC))
    with pytest.raises(EventDecodeError) as raised:
        Runtime(wf, journal=open_fresh()).get("i")
    assert (raised.value.instance_id, raised.value.seq, raised.value.event_type) == ("i", 2, "Ev")
    assert "payload.value" in str(raised.value)
    assert len(journal.read("i")) == 2  # nothing lost or rewritten


@DURABLE_JOURNALS
def test_inputs_are_stored_as_json_and_checked_against_the_input_type(
    open_fresh: Open, order: Any
) -> None:
    journal = open_fresh()
    wf = Workflow(order.order_workflow, name="order")
    assert wf.input_type is order.Order  # inferred from the first step's annotation
    item = order.Order("A-1", "a@example.com", 100, ("pen",))
    Runtime(wf, journal=journal).create("A-1", item)
    assert journal.get_instance("A-1").input == {
        "order_id": "A-1",
        "customer_email": "a@example.com",
        "amount_cents": 100,
        "items": ["pen"],
    }
    assert Runtime(wf, journal=open_fresh()).get("A-1").input == item
    journal.create_instance(
        journal.get_instance("A-1").__class__(
            id="bad", workflow="order", workflow_version=1, status="running",  # type: ignore[arg-type]
            input={"order_id": "B", "amount_cents": "lots"},
            created_at=datetime.now(UTC), updated_at=datetime.now(UTC),
        )
    )  # fmt: skip
    with pytest.raises(InputError, match=r"instance 'bad': the input does not fit Order"):
        Runtime(wf, journal=journal).get("bad")


@ALL_JOURNALS
def test_the_async_runtime_on_a_journal(open_fresh: Open) -> None:
    effects = Effects()
    journal = open_fresh()

    async def main() -> Any:
        runtime = AsyncRuntime(three_steps(effects), journal=journal)
        instance = await runtime.create("a", 0)
        assert await instance.advance() == InstanceStatus.FINISHED
        return instance.result

    assert asyncio.run(main()) == 111
    assert len(journal.read("a")) == 3


def test_a_runtime_on_a_journal_needs_a_named_workflow() -> None:
    with pytest.raises(Exception, match=r"pass wio.Workflow\(workflow, name=...\)"):
        Runtime(WIO.pure(1), journal=open_journal("memory://"))


def test_rebuild_marks_checkpoint_replay_for_saved_events() -> None:
    runtime = Runtime(WIO.recover(restore))
    assert runtime.rebuild("i", 0, [Saved(3)]).result == 3


def test_an_event_class_that_cannot_be_stored_is_refused_up_front() -> None:
    class NotAttrs:
        pass

    with pytest.raises(Exception, match=r"cannot be stored as JSON.*make it an attrs class"):
        EventCodec([NotAttrs])
