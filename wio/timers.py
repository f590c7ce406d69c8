"""Durable timers: the events that record them, and ISO-8601 durations.

A timer records two events. `TimerStarted` holds the release time, computed
once from the runtime's clock when the timer starts: the journal, not a
recomputation, is the source of truth on replay. `TimerReleased` records
that the time came and the workflow went on.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from attrs import frozen

from wio.codec import event


@event("wio.TimerStarted")
@frozen
class TimerStarted:
    release_at: datetime
    timer: str = ""  # the timer's path, so nested timers are told apart on replay


@event("wio.TimerReleased")
@frozen
class TimerReleased:
    released_at: datetime
    timer: str = ""


def iso_duration(duration: timedelta) -> str:
    """``timedelta(days=3, hours=2)`` as ``P3DT2H``."""
    seconds = duration.total_seconds()
    if seconds < 0:
        raise ValueError(f"a timer cannot wait a negative duration: {duration}")
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, seconds = divmod(rest, 60)
    date = f"{int(days)}D" if days else ""
    parts = [(hours, "H"), (minutes, "M"), (seconds, "S")]
    time = "".join(f"{value:g}{unit}" for value, unit in parts if value)
    return "P" + date + (f"T{time}" if time else "") if date or time else "PT0S"
