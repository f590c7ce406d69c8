"""wio: event-sourced, durable workflows composed in code.

Data flows one way: a definition (`wio.algebra`) is evaluated by the
interpreter (`wio.interpreter`), whose effects a runtime (`wio.runtime`)
performs and records; or a definition is turned into a model (`wio.model`)
that renderers draw.

Every exception wio raises derives from `WioError` and is exported here.
"""

from wio.algebra import WIO, Meta
from wio.cancellation import Cancelled, InstanceCancelled
from wio.children import ChildDidNotFinish, ChildIdTaken
from wio.clock import Clock, ManualClock, SystemClock
from wio.codec import EventCodec, EventDecodeError, InputError, event
from wio.definition import Workflow
from wio.errors import (
    DefinitionError,
    DeterministicError,
    InstanceAlreadyExists,
    InstanceNotFound,
    InvalidInstanceId,
    InvalidSetting,
    JournalEventError,
    JournalSequenceError,
    NotWaitingForEvent,
    RecordedError,
    ReplayDiverged,
    StepFailed,
    UndecodablePayload,
    UnknownEventType,
    UnknownVersion,
    UnmatchedEventError,
    UnstorableValue,
    WioError,
    WrongWorkflow,
)
from wio.interpreter import FailedAttempt, StepRecord
from wio.journal import (
    ConcurrencyConflict,
    DuplicateInstance,
    InstanceChanged,
    InstanceStatus,
    InvalidJournalURL,
    JournalError,
    JournalNotFound,
    JournalUnavailable,
    LeaseHeld,
    LeaseLost,
    NotPrunable,
    UnknownInstance,
)
from wio.loading import TargetError
from wio.model import ModelFormatError
from wio.operations import (
    BulkSelectionChanged,
    MigrationRefused,
    NoSuchInstance,
    OperationRefused,
)
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
from wio.signals import (
    Signal,
    SignalHandled,
    SignalKeyReused,
    SignalRequestError,
    UnexpectedSignal,
)

__all__ = [
    "WIO",
    "AsyncInstance",
    "AsyncRuntime",
    "BulkSelectionChanged",
    "Cancelled",
    "ChartTooLarge",
    "Clock",
    "ConcurrencyConflict",
    "DefinitionError",
    "DeterministicError",
    "DuplicateInstance",
    "Err",
    "EventCodec",
    "EventDecodeError",
    "FailedAttempt",
    "GraphvizMissing",
    "InputError",
    "Instance",
    "InstanceAlreadyExists",
    "InstanceCancelled",
    "ChildDidNotFinish",
    "ChildIdTaken",
    "InstanceChanged",
    "InstanceNotFound",
    "InstanceStatus",
    "InvalidInstanceId",
    "InvalidJournalURL",
    "InvalidSetting",
    "JournalError",
    "JournalEventError",
    "JournalSequenceError",
    "JournalNotFound",
    "JournalUnavailable",
    "LeaseHeld",
    "LeaseLost",
    "ManualClock",
    "Meta",
    "MigrationRefused",
    "ModelFormatError",
    "NoSuchInstance",
    "NotPrunable",
    "NotWaitingForEvent",
    "OperationRefused",
    "RecordedError",
    "RecordedEvent",
    "ReplayDiverged",
    "RetryPolicy",
    "Runtime",
    "Signal",
    "SignalHandled",
    "SignalKeyReused",
    "SignalRequestError",
    "StepFailed",
    "StepRecord",
    "SystemClock",
    "TargetError",
    "UnexpectedSignal",
    "UnknownEventType",
    "UnknownFormat",
    "UnknownInstance",
    "UnknownVersion",
    "UnmatchedEvent",
    "UndecodablePayload",
    "UnmatchedEventError",
    "UnstorableValue",
    "WioError",
    "Workflow",
    "WrongWorkflow",
    "event",
]
