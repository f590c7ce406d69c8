"""Runtimes: the only place where effects run, events are recorded and time passes."""

from wio.runtime.aio import AsyncInstance, AsyncRuntime
from wio.runtime.core import RecordedEvent, UnmatchedEvent
from wio.runtime.replay import Divergence, Verdict, check_replay
from wio.runtime.sync import Instance, Runtime

__all__ = [
    "AsyncInstance",
    "AsyncRuntime",
    "Divergence",
    "Instance",
    "RecordedEvent",
    "Runtime",
    "UnmatchedEvent",
    "Verdict",
    "check_replay",
]
