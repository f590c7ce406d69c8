"""wio: event-sourced, durable workflows composed in code.

Data flows one way: a definition (`wio.algebra`) is evaluated by the
interpreter (`wio.interpreter`), whose effects a runtime (`wio.runtime`)
performs and records; or a definition is turned into a model (`wio.model`)
that renderers draw.

Every exception wio raises derives from `WioError` and is exported here.
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
    RecordedError,
    StepFailed,
    UnmatchedEventError,
    WioError,
    WrongWorkflow,
)
from wio.interpreter import FailedAttempt, StepRecord
from wio.journal import (
    ConcurrencyConflict,
    DuplicateInstance,
    InstanceStatus,
    InvalidJournalURL,
    JournalError,
    JournalUnavailable,
    LeaseHeld,
    UnknownInstance,
)
from wio.loading import TargetError
from wio.model import ModelFormatError
from wio.renderers import ChartTooLarge, GraphvizMissing, UnknownFormat
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
    "AsyncInstance",
    "AsyncRuntime",
    "ChartTooLarge",
    "Clock",
    "ConcurrencyConflict",
    "DefinitionError",
    "DuplicateInstance",
    "Err",
    "EventCodec",
    "EventDecodeError",
    "FailedAttempt",
    "GraphvizMissing",
    "InputError",
    "Instance",
    "InstanceAlreadyExists",
    "InstanceNotFound",
    "InstanceStatus",
    "InvalidJournalURL",
    "JournalError",
    "JournalEventError",
    "JournalUnavailable",
    "LeaseHeld",
    "ManualClock",
    "Meta",
    "ModelFormatError",
    "NotWaitingForEvent",
    "RecordedError",
    "RecordedEvent",
    "RetryPolicy",
    "Runtime",
    "Signal",
    "SignalHandled",
    "SignalRequestError",
    "StepFailed",
    "StepRecord",
    "SystemClock",
    "TargetError",
    "UnexpectedSignal",
    "UnknownFormat",
    "UnknownInstance",
    "UnmatchedEvent",
    "UnmatchedEventError",
    "WioError",
    "Workflow",
    "WrongWorkflow",
    "event",
]
