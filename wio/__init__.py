"""wio: event-sourced, durable workflows composed in code.

Data flows one way: a definition (`wio.algebra`) is evaluated by the
interpreter (`wio.interpreter`), whose effects a runtime (`wio.runtime`)
performs and records; or a definition is turned into a model (`wio.model`)
that renderers draw.
"""

from wio.algebra import WIO, Meta
from wio.clock import Clock, ManualClock, SystemClock
from wio.codec import EventCodec, EventDecodeError, InputError, event
from wio.definition import Workflow
from wio.errors import (
    DefinitionError,
    InstanceAlreadyExists,
    InstanceNotFound,
    JournalEventError,
    NotWaitingForEvent,
    StepFailed,
    UnmatchedEventError,
    WioError,
)
from wio.interpreter import FailedAttempt, StepRecord
from wio.journal import InstanceStatus
from wio.result import Err
from wio.retry import RetryPolicy
from wio.runtime import (
    AsyncInstance,
    AsyncRuntime,
    Instance,
    RecordedEvent,
    Runtime,
    UnmatchedEvent,
)
from wio.signals import Signal, SignalHandled, SignalRequestError, UnexpectedSignal

__all__ = [
    "WIO",
    "Clock",
    "EventCodec",
    "EventDecodeError",
    "InputError",
    "ManualClock",
    "RetryPolicy",
    "Signal",
    "SignalHandled",
    "SignalRequestError",
    "SystemClock",
    "Workflow",
    "event",
    "AsyncInstance",
    "AsyncRuntime",
    "DefinitionError",
    "Err",
    "Instance",
    "InstanceAlreadyExists",
    "InstanceNotFound",
    "JournalEventError",
    "Meta",
    "NotWaitingForEvent",
    "RecordedEvent",
    "Runtime",
    "InstanceStatus",
    "StepFailed",
    "FailedAttempt",
    "StepRecord",
    "UnmatchedEvent",
    "UnexpectedSignal",
    "UnmatchedEventError",
    "WioError",
]
