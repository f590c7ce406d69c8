"""Replay checking: does a stored instance replay cleanly against some code?

`check_replay` strictly replays an instance's stored events against a workflow
definition, without I/O and without running any effect, and returns a
`Verdict`: ``ok``, or where and why the journal and the code diverge (the
event's seq, type and recording node, and what the workflow expected). It is
the building block of migration checks and of replaying a whole journal
against new code before deploying it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from attrs import frozen

from wio.clock import ManualClock
from wio.codec import EventDecodeError, InputError, decode_input
from wio.definition import Workflow
from wio.errors import StepFailed, UnmatchedEventError
from wio.interpreter import format_path
from wio.journal import InstanceStatus, StoredEvent
from wio.runtime.core import InstanceCore
from wio.runtime.persistence import journal_records, undecoded


@frozen
class Divergence:
    """Where replay left the journal: the event (None: not at an event) and why."""

    seq: int | None
    event_type: str | None
    node: str | None  # the model path of the node that recorded the event, if known
    reason: str

    def describe(self) -> str:
        if self.seq is None:
            return f"diverges: {self.reason}"
        where = "" if self.node is None else f", node {self.node}"
        return f"diverges at seq {self.seq}: event {self.event_type}{where}, {self.reason}"


@frozen
class Verdict:
    """The outcome of replaying one instance: ``divergence`` is None when it is ok."""

    instance_id: str
    divergence: Divergence | None
    status: InstanceStatus | None = None  # where the instance stands after a clean replay

    @property
    def ok(self) -> bool:
        return self.divergence is None

    def describe(self) -> str:
        return "ok" if self.divergence is None else self.divergence.describe()


def check_replay(
    workflow: Workflow[Any, Any, Any],
    instance_id: str,
    input: Any,
    stored: Sequence[StoredEvent],
) -> Verdict:
    """Strictly replay ``stored`` (the instance's events, in order) against
    ``workflow``, for an instance whose stored JSON input is ``input``.

    Pure: it reads nothing, writes nothing and runs no effect.
    """
    where = f"instance {instance_id!r}"
    try:
        value = decode_input(input, workflow.input_type, where)
    except InputError as exc:
        return Verdict(instance_id, Divergence(None, None, None, str(exc)))
    core = InstanceCore(
        instance_id,
        workflow.wio,
        value,
        strict=True,
        retry=workflow.retry,
        clock=ManualClock(),
        retired=workflow.codec.retired,
        started=False,
    )
    nodes = {event.seq: event.node for event in stored}
    try:
        core.replay(
            journal_records(list(stored)), lambda r: workflow.codec.decode(r.stored), undecoded
        )
    except UnmatchedEventError as exc:
        reason = f"expected: {exc.expected}"
        return Verdict(instance_id, Divergence(exc.seq, exc.event_type, exc.node, reason))
    except EventDecodeError as exc:
        reason = f"cannot be decoded: {exc.problem}"
        divergence = Divergence(exc.seq, exc.event_type, nodes.get(exc.seq), reason)
        return Verdict(instance_id, divergence)
    except StepFailed as exc:
        seq = len(core.events) + 1
        event = next((e for e in stored if e.seq == seq), None)
        reason = f"{type(exc.cause).__name__} in {exc.node} at {exc.path}: {exc.cause}"
        event_type = None if event is None else event.type
        return Verdict(instance_id, Divergence(seq, event_type, nodes.get(seq), reason))
    failure = core.retry_state.error
    if failure is not None:  # a pure step raised while replaying: the code diverges
        reason = (
            f"step {failure.node_name!r} at {format_path(failure.path)} raised "
            f"{type(failure.exception).__name__}: {failure.exception}"
        )
        return Verdict(instance_id, Divergence(None, None, None, reason), core.status)
    return Verdict(instance_id, None, core.status)
