"""Replay checking: does a stored instance replay cleanly against some code?

`check_replay` strictly replays an instance's stored events against a workflow
definition, without I/O and without running any effect, and returns a
`Verdict`: ``ok``, or where and why the journal and the code diverge (the
event's seq and type, the node, and what the workflow expected). It is the one
replay check: `wio replay`, `wio migrate` and `wio.testing.assert_replays`
(`wio.replayer`) are built on it.
"""

from __future__ import annotations

from collections.abc import Iterable
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
    AwaitChild,
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
from wio.journal import InstanceStatus, StoredEvent
from wio.runtime.core import InstanceCore
from wio.runtime.persistence import journal_records, undecoded


@frozen
class Divergence:
    """Where replay parted from the journal: the event at ``seq``, the node (the one
    that recorded it, or where the workflow stood) and what the workflow expected.

    Seq 0 means not at an event: the input does not fit, there is no code, or a
    pure step raised after the last event.
    """

    seq: int
    event_type: str
    node: str
    expected: str

    def describe(self) -> str:
        if self.seq == 0:
            return f"does not replay: {self.expected}"
        return (
            f"diverges at seq {self.seq}: event {self.event_type}, node {self.node}, "
            f"expected {self.expected}"
        )

    __str__ = describe


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

    def describe(self) -> str:
        return "ok" if self.divergence is None else self.divergence.describe()

    __str__ = describe


def check_replay(
    workflow: Workflow[Any, Any, Any],
    instance_id: str,
    input: Any,
    stored: Iterable[StoredEvent],
) -> Verdict:
    """Strictly replay ``stored`` (the instance's events, in order) against
    ``workflow``, for an instance whose stored JSON input is ``input``.

    Pure: it reads nothing, writes nothing and runs no effect.
    """
    return replay_strictly(workflow, instance_id, input, stored)[0]


def replay_strictly(
    workflow: Workflow[Any, Any, Any],
    instance_id: str,
    input: Any,
    stored: Iterable[StoredEvent],
) -> tuple[Verdict, InstanceCore | None]:
    """The verdict, and the instance as the code rebuilds it when it replays."""
    events = list(stored)
    verdict = Verdict(instance_id, workflow.name, workflow.version, len(events))
    try:
        value = decode_input(input, workflow.input_type, f"instance {instance_id!r}")
    except InputError as exc:
        return _diverged(verdict, Divergence(0, "input", "/", str(exc)))
    core = InstanceCore(
        instance_id,
        workflow.wio,
        value,
        strict=True,
        retry=workflow.retry,
        clock=SystemClock(),
        retired=workflow.codec.retired,
        started=False,
        cleanup=workflow.on_cancel,
    )
    decode = workflow.codec.decode

    recorders = {event.seq: event.node for event in events}

    def at(seq: int, event_type: str, expected: str) -> Divergence:
        # The node that recorded the event says most; else where the workflow stood.
        node = recorders.get(seq) or _focus(core.cursor)
        return Divergence(seq, event_type, node, expected)

    def at_next_event(expected: str) -> Divergence:
        seq = core.next_seq
        return at(seq, events[seq - 1].type if seq <= len(events) else "none", expected)

    try:  # replay pauses the garbage collector while it decodes and applies
        core.replay(journal_records(events), decode, undecoded)
    except UnmatchedEventError as exc:
        expected = exc.expected.removeprefix("waiting for ")
        return _diverged(verdict, at(exc.seq, exc.event_type, expected))
    except EventDecodeError as exc:
        expected = f"an event it can decode ({exc.problem})"
        return _diverged(verdict, at(exc.seq, exc.event_type, expected))
    except JournalEventError as exc:
        problem = str(exc).partition(f"of type {exc.event_type!r} ")[2] or str(exc)
        return _diverged(verdict, at(exc.seq, exc.event_type, problem))
    except StepFailed as exc:
        expected = (
            f"its handler to accept it, but it raised {type(exc.cause).__name__}: {exc.cause}"
        )
        return _diverged(verdict, at_next_event(expected))
    except WioError as exc:
        return _diverged(verdict, at_next_event(str(exc)))
    failure = core.retry_state.error
    if failure is not None:  # a pure step raised after the last event: the code diverges
        expected = (
            f"step {failure.node_name!r} at {format_path(failure.path)} to run, but it raised "
            f"{type(failure.exception).__name__}: {failure.exception}"
        )
        return _diverged(verdict, Divergence(0, "none", format_path(failure.path), expected))
    replayed = Verdict(
        instance_id,
        workflow.name,
        workflow.version,
        len(events),
        status=core.status,
        waiting_for=core.waiting_for(),
    )
    return replayed, core


def _focus(cursor: Cursor) -> str:
    """Where the workflow stood, as a model path."""
    match focus := cursor.focus:
        case (
            Evaluate() | AwaitEvent() | AwaitTimer() | AwaitChild() | ArmTimeout()
            | AwaitCheckpoint()
        ):  # fmt: skip
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
