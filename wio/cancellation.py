"""Cancelling an instance: the event an operator's cancel records.

A cancelled instance stops at the next event boundary: replay sees this event
and the instance never runs another step of its workflow, and its timers and
signal waits are dropped. A workflow with a cleanup flow (`Workflow.on_cancel`)
runs that flow next, journaled like any flow, and ends cancelled after it. A
step in flight when the cancel is recorded may finish its side effect, but its
event is refused (the cancellation took its place in the journal), as after a
crash: steps are at-least-once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from attrs import frozen

from wio.codec import event
from wio.errors import WioError


@event("wio.Cancelled")
@frozen
class Cancelled:
    reason: str
    cancelled_at: datetime


class InstanceCancelled(WioError):
    """Raised when a signal or event is sent to an instance an operator cancelled: it takes
    no more signals, events or steps."""


# Where workers before the model's `WithCleanup` root registered a cleanup flow: a key
# beside the tree's own fields. Still read, for versions registered by such workers.
LEGACY_CLEANUP_KEY = "on_cancel"


def declares_cleanup(registered_model: Any) -> bool:
    """Whether a workflow version's registered model (`Journal.register_workflow`) has a
    cleanup flow to run: a `wio.model.WithCleanup` root, or (as older workers
    registered it) a tree with the cleanup's model under `LEGACY_CLEANUP_KEY`."""
    if not isinstance(registered_model, dict):
        return False
    if registered_model.get("_type") == "WithCleanup":
        return True
    return registered_model.get(LEGACY_CLEANUP_KEY) is not None
