"""Replay stored instances against code, strictly, and say where each one diverges.

This is what `wio replay`, `wio migrate` and `wio.testing.assert_replays` check:
every recorded event decodes with the code's event classes and is accepted by
the node the code expects, in order. Nothing is written, no effect runs, and
no lease is taken.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, assert_never

from attrs import frozen

from wio.clock import SystemClock
from wio.codec import EventDecodeError, InputError, decode_input
from wio.definition import Workflow
from wio.errors import JournalEventError, StepFailed, UnmatchedEventError, WioError
from wio.interpreter import Cursor, format_path
from wio.interpreter.cursor import (
    ArmTimeout,
    AwaitCheckpoint,
    AwaitEvent,
    AwaitTimer,
    Evaluate,
    FailedWith,
    Finished,
    InForEach,
    InParallel,
    ReturnError,
    ReturnValue,
)
from wio.interpreter.state import awaited_recoveries
from wio.journal import InstanceRecord, InstanceStatus, Journal, StoredEvent
from wio.runtime.core import InstanceCore, RecordedEvent


@frozen
class Divergence:
    """Where replay parted from the journal: the event at ``seq`` and the node at ``node``.

    Seq 0 means before any event: the input does not fit, or there is no code.
    """

    seq: int
    event_type: str
    node: str
    expected: str

    def __str__(self) -> str:
        if self.seq == 0:
            return f"does not replay: {self.expected}"
        return (
            f"diverges at seq {self.seq}: event {self.event_type}, node {self.node}, "
            f"expected {self.expected}"
        )


@frozen
class Verdict:
    """The outcome of replaying one instance: ``divergence`` is None when it replays."""

    instance_id: str
    workflow: str
    version: int
    events: int
    divergence: Divergence | None = None
    status: InstanceStatus | None = None  # where the code leaves the instance, when it replays
    waiting_for: str = ""

    @property
    def ok(self) -> bool:
        return self.divergence is None

    def __str__(self) -> str:
        return "ok" if self.divergence is None else str(self.divergence)


def check(
    record: InstanceRecord, stored: Iterable[StoredEvent], workflow: Workflow[Any, Any, Any]
) -> Verdict:
    """Replay one instance's stored events against ``workflow`` in strict mode."""
    return replay_strictly(record, stored, workflow)[0]


def replay_strictly(
    record: InstanceRecord, stored: Iterable[StoredEvent], workflow: Workflow[Any, Any, Any]
) -> tuple[Verdict, InstanceCore | None]:
    """The verdict, and the instance as the code rebuilds it when it replays."""
    events = list(stored)
    verdict = Verdict(record.id, workflow.name, workflow.version, len(events))
    try:
        input = decode_input(record.input, workflow.input_type, f"instance {record.id!r}")
    except InputError as exc:
        return _diverged(verdict, Divergence(0, "input", "/", str(exc)))
    core = InstanceCore(
        record.id, workflow.wio, input, strict=True, retry=workflow.retry, clock=SystemClock()
    )
    decode = workflow.codec.decode
    try:  # replay pauses the garbage collector while it decodes and applies
        core.replay(RecordedEvent(e.seq, decode(e)) for e in events)
    except UnmatchedEventError as exc:
        expected = exc.expected.removeprefix("waiting for ")
        divergence = Divergence(exc.seq, exc.event_type, _focus(core.cursor), expected)
        return _diverged(verdict, divergence)
    except EventDecodeError as exc:
        expected = f"an event it can decode ({exc.problem})"
        divergence = Divergence(exc.seq, exc.event_type, _focus(core.cursor), expected)
        return _diverged(verdict, divergence)
    except JournalEventError as exc:
        problem = str(exc).partition(f"of type {exc.event_type!r} ")[2] or str(exc)
        divergence = Divergence(exc.seq, exc.event_type, _focus(core.cursor), problem)
        return _diverged(verdict, divergence)
    except StepFailed as exc:
        seq = core.next_seq
        event_type = events[seq - 1].type if seq <= len(events) else "none"
        expected = (
            f"its handler to accept it, but it raised {type(exc.cause).__name__}: {exc.cause}"
        )
        return _diverged(verdict, Divergence(seq, event_type, exc.path, expected))
    except WioError as exc:
        seq = core.next_seq
        event_type = events[seq - 1].type if seq <= len(events) else "none"
        return _diverged(verdict, Divergence(seq, event_type, _focus(core.cursor), str(exc)))
    replayed = Verdict(
        record.id,
        workflow.name,
        workflow.version,
        len(events),
        status=core.status,
        waiting_for=core.waiting_for(),
    )
    return replayed, core


def check_instance(
    journal: Journal, instance_id: str, workflow: Workflow[Any, Any, Any]
) -> Verdict:
    """Read one instance and replay it against ``workflow``; reads only."""
    record = journal.get_instance(instance_id)
    return check(record, journal.read(instance_id, times=False), workflow)


READ_BATCH = 500  # instances whose events one query reads


def replay_journal(
    journal: Journal,
    workflows: Iterable[Workflow[Any, Any, Any]],
    *,
    statuses: Iterable[InstanceStatus] = (),
    instance_ids: Iterable[str] = (),
) -> Iterator[Verdict]:
    """A verdict for each stored instance of the given workflows' names.

    Each instance is replayed against the given version it runs; an instance
    whose version is not given is replayed against the newest given version
    of its workflow, which is what a migration to it would check.
    """
    by_name: dict[str, dict[int, Workflow[Any, Any, Any]]] = {}
    for workflow in workflows:
        by_name.setdefault(workflow.name, {})[workflow.version] = workflow
    wanted = set(statuses)
    ids = list(instance_ids)
    if ids:
        records: Iterable[InstanceRecord] = (journal.get_instance(i) for i in ids)
    else:
        records = (
            record for name in sorted(by_name) for record in journal.list_instances(workflow=name)
        )
    batch: list[InstanceRecord] = []
    for record in records:
        if wanted and record.status not in wanted:
            continue
        batch.append(record)
        if len(batch) == READ_BATCH:
            yield from _check_batch(journal, batch, by_name)
            batch = []
    yield from _check_batch(journal, batch, by_name)


def _check_batch(
    journal: Journal,
    records: list[InstanceRecord],
    by_name: dict[str, dict[int, Workflow[Any, Any, Any]]],
) -> Iterator[Verdict]:
    stored = journal.read_many([r.id for r in records]) if records else {}
    for record in records:
        versions = by_name.get(record.workflow)
        if versions is None:
            given = ", ".join(sorted(by_name)) or "none"
            yield Verdict(
                record.id,
                record.workflow,
                record.workflow_version,
                record.last_seq,
                Divergence(
                    0, "none", "/", f"no code of {record.workflow!r} given (given: {given})"
                ),
            )
            continue
        workflow = versions.get(record.workflow_version) or versions[max(versions)]
        yield check(record, stored[record.id], workflow)


def recovery_waits(cursor: Cursor) -> list[str]:
    """Where the instance waits at a `recover` node, in words."""
    return [
        f"{format_path(path)} for {event.__name__}" for path, event in awaited_recoveries(cursor)
    ]


def _focus(cursor: Cursor) -> str:
    """Where the workflow stood, as a model path."""
    match focus := cursor.focus:
        case Evaluate() | AwaitEvent() | AwaitTimer() | ArmTimeout() | AwaitCheckpoint():
            return format_path(focus.path)
        case InParallel() | InForEach():
            return format_path(focus.path)
        case ReturnValue() | ReturnError() | Finished() | FailedWith():
            return "(the end)"
        case _:
            assert_never(focus)


def _diverged(verdict: Verdict, divergence: Divergence) -> tuple[Verdict, None]:
    diverged = Verdict(
        verdict.instance_id, verdict.workflow, verdict.version, verdict.events, divergence
    )
    return diverged, None
