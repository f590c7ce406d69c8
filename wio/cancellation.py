"""Cancelling an instance: the event an operator's cancel records.

A cancelled instance stops at the next event boundary: replay sees this event
and the instance never runs another step, and its timers and signal waits are
dropped. A step in flight when the cancel is recorded may finish its side
effect, but its event is refused (the cancellation took its place in the
journal), as after a crash: steps are at-least-once.
"""

from __future__ import annotations

from datetime import datetime

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
