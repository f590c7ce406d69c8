"""The procedures of a runtime, written once as generators that yield their I/O.

A procedure never performs I/O: it yields `Perform` (call a step's user
function) and `Persist` (write to the journal) requests, and the sync and
asyncio drivers carry them out, blocking or awaiting. This is psycopg 3's
pattern: one core, thin sync and async layers, no duplicated logic.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable, Generator
from functools import partial
from typing import Any, TypeVar, assert_never

from attrs import frozen

from wio import metrics, tracing
from wio.errors import UnstorableValue
from wio.interpreter import (
    CollectChild,
    DeliverSignal,
    ReleaseTimer,
    RunStep,
    SaveCheckpoint,
    StartChild,
    StartTimer,
    format_path,
)
from wio.parallel import in_flows
from wio.runtime.core import InstanceCore
from wio.runtime.persistence import Persistence, in_thread
from wio.runtime.signal_delivery import redelivered, signal_effect, signal_record, signal_request
from wio.signals import Signal

log = logging.getLogger("wio.steps")


@frozen
class Perform:
    """Call the user function of ``effect``; send back what it returns, or throw what it raises."""

    effect: RunStep | SaveCheckpoint | DeliverSignal


@frozen
class PerformAll:
    """Call the user functions of several effects at once (coroutines concurrently);
    send back one outcome per effect: what it returned, or the exception it raised."""

    effects: tuple[RunStep | SaveCheckpoint | DeliverSignal, ...]


@frozen
class Persist:
    """Call ``write`` (journal I/O) and send back what it returns; any exception is
    thrown back into the generator."""

    write: Callable[[], Any]
    blocking: bool = True  # False for in-memory no-ops, which need no thread


Request = Perform | PerformAll | Persist
R = TypeVar("R")
# A procedure yields requests, is sent their outcomes, and returns an R.
Procedure = Generator[Request, Any, R]


def step(core: InstanceCore, persistence: Persistence) -> Procedure[bool]:
    """Perform the next effect and record its event; returns whether one was recorded."""
    yield _persist(persistence, persistence.acquire, core)
    effect = core.due_effect()
    if effect is None:
        if (yield from _collect_child(core, persistence)):
            return True
        yield _persist(persistence, persistence.changed, core)
        # Once more after writing the wait: a child that ended between the look above
        # and that write found this instance running, so its end woke nothing.
        return (yield from _collect_child(core, persistence))
    started = None
    try:
        if isinstance(effect, StartTimer | ReleaseTimer):
            event = core.timer_event(effect)  # no user side effect: the clock's reading
        elif isinstance(effect, StartChild | CollectChild):  # journal work, no user function
            event = yield Persist(partial(persistence.child_effect, core, effect))
        else:
            if core.retry_state.attempts:
                metrics.RETRIED.inc()
            started = _step_span(core, effect) if core.traced else None
            event = yield Perform(effect)
    except Exception as exc:
        if started is not None:
            tracing.end_step(started, exc)
        core.step_failed(effect, exc)
        yield _persist(persistence, persistence.changed, core)
        return False
    if started is not None:
        tracing.end_step(started)
    prepared = core.prepare(effect, event)
    if prepared is None:
        yield _persist(persistence, persistence.changed, core)
        return False
    try:
        yield from _commit(core, persistence, prepared.applied, prepared.event)
    except UnstorableValue as exc:  # refused before the write: the step does not count
        core.step_failed(effect, exc)
        yield _persist(persistence, persistence.changed, core)
        return False
    if log.isEnabledFor(logging.INFO):  # the arguments cost more than a disabled call
        log.info(
            "instance %r: %s at %s recorded event #%d %s",
            core.instance_id,
            _what(effect),
            format_path(effect.path),
            len(core.events),
            type(event).__name__,
        )
    return True


def _collect_child(core: InstanceCore, persistence: Persistence) -> Procedure[bool]:
    """Record the end of every awaited child instance that has ended: one wake may
    stand for several ends. Returns whether any was recorded."""
    recorded = False
    for effect in core.awaited_children():
        if recorded and not core.still_awaited(effect):
            continue
        try:
            event = yield Persist(partial(persistence.child_effect, core, effect))
        except Exception as exc:  # the child ended without a result: retried per policy
            core.step_failed(effect, exc)
            yield _persist(persistence, persistence.changed, core)
            return recorded
        if event is None:
            continue  # still running
        prepared = core.prepare(effect, event)
        if prepared is None:
            yield _persist(persistence, persistence.changed, core)
            return recorded
        yield from _commit(core, persistence, prepared.applied, prepared.event)
        log.info("instance %r: child instance %r ended", core.instance_id, effect.child)
        recorded = True
    return recorded


def _what(effect: Any) -> str:
    if isinstance(effect, StartTimer | ReleaseTimer):
        return "timer"
    return f"step {effect.node.meta.name!r}" if isinstance(effect, RunStep) else "checkpoint"


def step_concurrently(core: InstanceCore, persistence: Persistence) -> Procedure[bool]:
    """Like `step`, but performs the next effect of every parallel flow at once,
    then records their events one by one; returns whether any was recorded.

    The events are recorded in the flows' order. One whose section a business
    error recorded just before has ended is not recorded (and is logged). At
    the first step that raised, or whose handler raised, the rest are not
    recorded: their steps run again later, as after a crash.
    """
    yield _persist(persistence, persistence.acquire, core)
    effects = core.due_effects()
    if len(effects) <= 1:
        recorded: bool = yield from step(core, persistence)
        return recorded
    performed = [e for e in effects if isinstance(e, RunStep | SaveCheckpoint | DeliverSignal)]
    spans = [_step_span(core, effect) for effect in performed]
    performed_outcomes = yield PerformAll(tuple(performed))
    for started, result in zip(spans, performed_outcomes, strict=True):
        tracing.end_step(started, result if isinstance(result, Exception) else None)
    outcomes = iter(performed_outcomes)  # in the order of `performed`
    done: list[tuple[Any, Any]] = []
    raised: list[tuple[Any, BaseException]] = []
    for effect in effects:
        outcome: Any
        if isinstance(effect, StartTimer | ReleaseTimer):
            try:
                outcome = core.timer_event(effect)
            except Exception as exc:  # a computed duration that is not a duration
                outcome = exc
        elif isinstance(effect, StartChild | CollectChild):
            try:
                outcome = yield Persist(partial(persistence.child_effect, core, effect))
            except Exception as exc:
                outcome = exc
        else:
            outcome = next(outcomes)
        (raised if isinstance(outcome, Exception) else done).append((effect, outcome))
    count = 0
    for effect, event in done:
        if not core.still_due(effect):  # its section ended: the flow is gone for good
            dropped(core, effect, "its parallel section ended")
            continue
        prepared = core.prepare(effect, event)
        if prepared is None:
            break
        try:
            yield from _commit(core, persistence, prepared.applied, prepared.event)
        except UnstorableValue as exc:  # refused before the write: the step does not count
            core.step_failed(effect, exc)
            break
        count += 1
    else:
        if raised and core.still_due(raised[0][0]):
            core.step_failed(*raised[0])
    if core.retry_state.error is not None or count == 0:
        yield _persist(persistence, persistence.changed, core)
    return count > 0


def _step_span(core: InstanceCore, effect: Any) -> Any:
    if not core.traced:
        return None
    name = effect.node.meta.name if isinstance(effect, RunStep) else None
    return tracing.step_span(core.labels, format_path(effect.path), name)


def dropped(core: InstanceCore, effect: Any, why: str) -> None:
    log.warning(
        "instance %r: the event of step %r at %s is not recorded: %s",
        core.instance_id,
        effect.node.meta.name,
        format_path(effect.path),
        why,
    )


def deliver(core: InstanceCore, persistence: Persistence, event: Any) -> Procedure[bool]:
    """Record an event from outside the workflow; raises `NotWaitingForEvent` if unwanted."""
    yield _persist(persistence, persistence.acquire, core)
    event = core.routed(event)
    applied = core.prepare_delivery(event)
    yield from _commit(core, persistence, applied, event)
    return True


def signal(
    core: InstanceCore,
    persistence: Persistence,
    signal: Signal[Any, Any],
    request: Any,
    key: str | None,
    element: str | None = None,
) -> Procedure[Any]:
    """Deliver a signal (to one for-each ``element``'s body, if given); returns its
    response. Nothing is recorded if anything fails."""
    yield _persist(persistence, persistence.acquire, core)
    core.refuse_if_cancelled(f"signal {signal.name!r}")
    request = signal_request(core.instance_id, signal, request)
    previous = redelivered(core.instance_id, core.cursor, core.events, signal, request, key)
    if previous is not None:
        return previous.response  # already handled: no side effect runs again
    effect = signal_effect(core.instance_id, core.cursor, signal, request, element)
    event = yield Perform(effect)
    record = signal_record(effect, event, key)
    recorded = in_flows(effect.route, record)  # inside its flows' and elements' envelopes
    applied = core.prepare_delivery(recorded)
    yield from _commit(core, persistence, applied, recorded)
    return record.response


def _persist(
    persistence: Persistence, method: Callable[[InstanceCore], None], core: InstanceCore
) -> Persist:
    return Persist(partial(method, core), persistence.blocking)


def _commit(
    core: InstanceCore, persistence: Persistence, applied: Any, event: Any
) -> Procedure[bool]:
    before = core.snapshot()
    core.commit(applied, event)
    try:
        yield _persist(persistence, persistence.appended, core)
    except BaseException:
        core.restore(before)  # the journal did not take the event: neither does memory
        raise
    return True


def drive_sync(
    procedure: Procedure[Any],
    perform: Callable[[RunStep | SaveCheckpoint | DeliverSignal], Any],
) -> Any:
    """Run a procedure to its end, blocking on each request."""
    request = next(procedure)
    while True:
        try:
            if isinstance(request, PerformAll):
                outcome = [_outcome(perform, effect) for effect in request.effects]
            elif isinstance(request, Perform):
                try:
                    outcome = perform(request.effect)
                except Exception as exc:
                    request = procedure.throw(exc)
                    continue
            else:
                try:
                    outcome = request.write()
                except BaseException as exc:
                    request = procedure.throw(exc)
                    continue
            request = procedure.send(outcome)
        except StopIteration as done:
            return done.value


def _outcome(perform: Callable[[Any], Any], effect: Any) -> Any:
    try:
        return perform(effect)
    except Exception as exc:
        return exc


async def drive_async(procedure: Procedure[Any]) -> Any:
    """Run a procedure to its end, awaiting coroutine effects and journal writes."""
    request = next(procedure)
    while True:
        try:
            if isinstance(request, PerformAll):
                outcome = await asyncio.gather(
                    *(_outcome_async(effect) for effect in request.effects)
                )
            elif isinstance(request, Perform):
                try:
                    outcome = await perform_async(request.effect)
                except Exception as exc:
                    request = procedure.throw(exc)
                    continue
            else:
                try:
                    if request.blocking:
                        outcome = await in_thread(request.write)
                    else:
                        outcome = request.write()
                except BaseException as exc:
                    request = procedure.throw(exc)
                    continue
            request = procedure.send(outcome)
        except StopIteration as done:
            return done.value


async def _outcome_async(effect: RunStep | SaveCheckpoint | DeliverSignal) -> Any:
    try:
        return await perform_async(effect)
    except Exception as exc:
        return exc


async def perform_async(effect: RunStep | SaveCheckpoint | DeliverSignal) -> Any:
    """Call the user function behind ``effect``, awaiting it if it is a coroutine."""
    match effect:
        case RunStep():
            produced = effect.node.effect(effect.input)
        case DeliverSignal():
            produced = effect.node.handle(effect.input, effect.request)
        case SaveCheckpoint():
            return effect.node.save_state(effect.input, effect.output)
        case _:
            assert_never(effect)
    return await produced if inspect.isawaitable(produced) else produced
