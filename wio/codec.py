"""The event codec: events to JSON and back, through cattrs. Never pickle.

Each event class is registered under a stable name that does not depend on its
module path, so classes can be renamed or moved without breaking old
journals. By default the name is the class name; choose one with the `event`
decorator, which also versions the payload and lists the upcasters that bring
old payloads up to date:

    @event("order.PaymentCharged", version=2, upcast={1: add_currency})
    @frozen
    class PaymentCharged: ...
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple, TypeVar

from attrs import frozen

from wio.converter import describe_structure_error, strict_converter
from wio.errors import DefinitionError, DeterministicError, JournalEventError
from wio.for_each import IN_ELEMENT, InElement
from wio.journal.records import NewEvent, StoredEvent
from wio.parallel import IN_FLOW, InFlow, innermost
from wio.signals import Signal, SignalHandled
from wio.undecoded import UndecodedEvent

T = TypeVar("T")
Upcaster = Callable[[Any], Any]
SIGNAL_HANDLED = "wio.SignalHandled"


@frozen
class EventSpec:
    name: str
    version: int = 1
    upcasters: Mapping[int, Upcaster] = {}


def event(
    name: str | None = None, *, version: int = 1, upcast: Mapping[int, Upcaster] | None = None
) -> Callable[[type[T]], type[T]]:
    """Register an event class under a stable ``name`` and payload ``version``.

    ``upcast[v]`` turns a version ``v`` payload (a JSON value) into version
    ``v + 1``; a payload is upcast step by step to the current version.
    """

    def decorate(cls: type[T]) -> type[T]:
        spec = EventSpec(name or cls.__name__, version, dict(upcast or {}))
        missing = [v for v in range(1, version) if v not in spec.upcasters]
        if missing:
            raise DefinitionError(
                f"event {spec.name!r} is at version {version} but has no upcaster from "
                f"version {missing[0]}"
            )
        cls.__wio_event__ = spec  # type: ignore[attr-defined]
        return cls

    return decorate


def event_name(cls: type[Any]) -> str:
    """The name events of ``cls`` are stored under: its `event` name, or its class name."""
    spec: EventSpec | None = getattr(cls, "__wio_event__", None)
    return cls.__name__ if spec is None else spec.name


def stored_type(event: Any) -> str:
    """The type name the journal stores ``event`` under, inside any flow envelopes."""
    event = innermost(event)
    if isinstance(event, UndecodedEvent):
        return event.type
    if isinstance(event, SignalHandled):
        return SIGNAL_HANDLED
    return event_name(type(event))


def innermost_stored_type(stored: StoredEvent) -> tuple[str, str | None]:
    """The type of a stored event inside any envelopes, and the model path of the
    innermost parallel flow or for-each section it was recorded in (None outside
    them), read without decoding."""
    type_, payload, flow = stored.type, stored.payload, None
    while type_ in ENVELOPES and isinstance(payload, dict):
        inner = payload.get("event")
        if not isinstance(inner, dict) or not isinstance(inner.get("type"), str):
            break  # malformed: decoding it will say how
        where = payload.get("flow" if type_ == IN_FLOW else "section")
        flow = where if isinstance(where, str) else flow
        type_, payload = inner["type"], inner.get("payload")
    return type_, flow


ENVELOPES = (IN_FLOW, IN_ELEMENT)


class EventDecodeError(JournalEventError):
    """Raised when reading a stored event whose payload does not fit its event class."""

    def __init__(self, instance_id: str, seq: int, event_type: str, problem: str) -> None:
        super().__init__(instance_id, seq, event_type, f"cannot be decoded: {problem}")
        self.problem = problem


class _Registered(NamedTuple):
    """An event class, its spec and its structure functions: ``quick`` (fast, but
    vague about a bad payload) and ``structure`` (names every field at fault)."""

    cls: type[Any]
    spec: EventSpec
    quick: Callable[[Any, Any], Any]
    structure: Callable[[Any, Any], Any]


RESERVED = frozenset({IN_FLOW, IN_ELEMENT, SIGNAL_HANDLED})  # wio's envelopes' stored types


class EventCodec:
    """Encodes and decodes the events of one or more workflows."""

    def __init__(
        self,
        event_types: Iterable[type[Any]] = (),
        signals: Iterable[Signal[Any, Any]] = (),
        retired: Iterable[str] = (),
    ) -> None:
        self._converter = strict_converter(forbid_extra_keys=False)
        # Tried first on each stored event; the detailed one then says what is wrong.
        self._quick = strict_converter(forbid_extra_keys=False, detailed_validation=False)
        self.retired = frozenset(retired)
        self._by_name: dict[str, _Registered] = {}
        self._by_type: dict[type[Any], EventSpec] = {}
        self._signals: dict[str, Signal[Any, Any]] = {}
        for cls in event_types:
            self.register(cls)
        for signal in signals:
            self.register_signal(signal)

    def register_signal(self, signal: Signal[Any, Any]) -> None:
        taken = self._signals.get(signal.name)
        if taken is not None and taken != signal:
            raise DefinitionError(f"two different signals are named {signal.name!r}")
        self._signals[signal.name] = signal

    def register(self, cls: type[Any]) -> None:
        if cls in self._by_type:
            return
        spec: EventSpec = getattr(cls, "__wio_event__", None) or EventSpec(cls.__name__)
        if spec.name in RESERVED:
            raise DefinitionError(
                f"event class {cls.__module__}.{cls.__qualname__} is named {spec.name!r}, "
                "which wio's envelopes use; name it otherwise with @wio.event('...')"
            )
        if spec.name in self.retired:
            raise DefinitionError(
                f"event {spec.name!r} is listed as retired but its class "
                f"{cls.__module__}.{cls.__qualname__} is still used; un-retire it"
            )
        taken = self._by_name.get(spec.name)
        if taken is not None and taken.cls is not cls:
            raise DefinitionError(
                f"two event classes are registered as {spec.name!r}: "
                f"{taken.cls.__module__}.{taken.cls.__qualname__} and "
                f"{cls.__module__}.{cls.__qualname__}; name one with @wio.event('...')"
            )
        # The class's structure hooks, looked up once rather than per event.
        try:
            hook = self._converter.get_structure_hook(cls)
            quick = self._quick.get_structure_hook(cls)
        except Exception as exc:
            raise DefinitionError(
                f"event class {cls.__module__}.{cls.__qualname__} cannot be stored as JSON "
                f"({exc}): make it an attrs class of JSON-compatible fields"
            ) from exc
        self._by_name[spec.name] = _Registered(cls, spec, quick, hook)
        self._by_type[cls] = spec

    def name_of(self, cls: type[Any]) -> str:
        return self._spec(cls).name

    def event_class(self, name: str) -> type[Any] | None:
        """The event class registered under ``name``, if any."""
        entry = self._by_name.get(name)
        return None if entry is None else entry.cls

    def event_names(self) -> list[str]:
        return sorted(self._by_name)

    def encode(self, value: Any) -> NewEvent:
        if isinstance(value, UndecodedEvent):
            return NewEvent(value.type, value.version, value.payload)
        if isinstance(value, InFlow):
            payload = {"flow": value.flow, "event": self._encode_inner(value.event)}
            return NewEvent(IN_FLOW, 1, payload)
        if isinstance(value, InElement):
            payload = {
                "section": value.section,
                "key": value.key,
                "event": self._encode_inner(value.event),
            }
            return NewEvent(IN_ELEMENT, 1, payload)
        if isinstance(value, SignalHandled):
            return self._encode_signal(value)
        spec = self._spec(type(value))
        return NewEvent(spec.name, spec.version, self._converter.unstructure(value))

    def decode(self, stored: StoredEvent) -> Any:
        entry = self._by_name.get(stored.type)
        if entry is not None and stored.version == entry.spec.version:
            # The common case, first: a registered class at its current version.
            try:
                return entry.quick(stored.payload, entry.cls)
            except Exception:  # the detailed structure function says what is wrong
                return self._structure(stored, stored.payload, entry)
        if stored.type == IN_FLOW:
            return self._decode_in_flow(stored)
        if stored.type == IN_ELEMENT:
            return self._decode_in_element(stored)
        if stored.type == SIGNAL_HANDLED:
            return self._decode_signal(stored)
        if entry is None:
            if stored.type in self.retired:
                return UndecodedEvent(stored.type, stored.version, stored.payload)
            raise EventDecodeError(
                stored.instance_id,
                stored.seq,
                stored.type,
                "no event class is registered under this name "
                f"(known: {', '.join(sorted(self._by_name)) or 'none'}); if a newer version "
                "removed it, list it in Workflow(..., retired_events=...)",
            )
        spec, payload = entry.spec, stored.payload
        if stored.version > spec.version:
            raise EventDecodeError(
                stored.instance_id,
                stored.seq,
                stored.type,
                f"it was written at version {stored.version}, newer than this code's "
                f"version {spec.version}",
            )
        for version in range(stored.version, spec.version):
            try:
                payload = spec.upcasters[version](payload)
            except Exception as exc:
                raise EventDecodeError(
                    stored.instance_id,
                    stored.seq,
                    stored.type,
                    f"upcasting from version {version} failed: {type(exc).__name__}: {exc}",
                ) from exc
        return self._structure(stored, payload, entry)

    @staticmethod
    def _structure(stored: StoredEvent, payload: Any, entry: _Registered) -> Any:
        try:
            return entry.structure(payload, entry.cls)
        except Exception as exc:
            problem = describe_structure_error(exc, "payload")
            raise EventDecodeError(stored.instance_id, stored.seq, stored.type, problem) from exc

    # Envelopes hold another event as {"type", "version", "payload"}, encoded and
    # decoded like a top-level one (so upcasters apply inside them too).

    def _encode_inner(self, event: Any) -> dict[str, Any]:
        inner = self.encode(event)
        return {"type": inner.type, "version": inner.version, "payload": inner.payload}

    def _decode_inner(self, stored: StoredEvent, inner: Any) -> Any:
        return self.decode(
            StoredEvent(
                stored.instance_id,
                stored.seq,
                inner["type"],
                inner["version"],
                inner["payload"],
                stored.recorded_at,
            )
        )

    def _decode_in_flow(self, stored: StoredEvent) -> InFlow:
        payload = stored.payload
        try:
            flow = payload["flow"]
            if not isinstance(flow, str) or not flow.startswith("/"):
                raise TypeError(f"flow must be a model path such as '/1/0', got {flow!r}")
            return InFlow(flow, self._decode_inner(stored, payload["event"]))
        except (KeyError, TypeError) as exc:
            raise EventDecodeError(
                stored.instance_id,
                stored.seq,
                stored.type,
                f"not a parallel flow's event ({type(exc).__name__}: {exc})",
            ) from exc

    def _decode_in_element(self, stored: StoredEvent) -> InElement:
        payload = stored.payload
        try:
            section, key = payload["section"], payload["key"]
            if not isinstance(section, str) or not section.startswith("/"):
                raise TypeError(f"section must be a model path such as '/1', got {section!r}")
            if not isinstance(key, str):
                raise TypeError(f"key must be a string, got {key!r}")
            return InElement(section, key, self._decode_inner(stored, payload["event"]))
        except (KeyError, TypeError) as exc:
            raise EventDecodeError(
                stored.instance_id,
                stored.seq,
                stored.type,
                f"not a for-each element's event ({type(exc).__name__}: {exc})",
            ) from exc

    # A delivered signal is one record: the request, the handler's event and the
    # response, each (un)structured by the types its signal declares.

    def _encode_signal(self, handled: SignalHandled) -> NewEvent:
        signal = self._signal(handled.signal)
        payload = {
            "signal": handled.signal,
            "key": handled.key,
            "request": self._converter.unstructure(handled.request, signal.request),
            "event": self._encode_inner(handled.event),
            "response": self._converter.unstructure(handled.response, signal.response),
        }
        return NewEvent(SIGNAL_HANDLED, 1, payload)

    def _decode_signal(self, stored: StoredEvent) -> SignalHandled:
        def fail(problem: str) -> EventDecodeError:
            return EventDecodeError(stored.instance_id, stored.seq, stored.type, problem)

        payload = stored.payload
        try:
            signal = self._signal(payload["signal"])
            event = self._decode_inner(stored, payload["event"])
        except (KeyError, TypeError, DefinitionError) as exc:
            raise fail(f"not a signal record ({type(exc).__name__}: {exc})") from exc
        try:
            request = self._converter.structure(payload["request"], signal.request)
            response = self._converter.structure(payload["response"], signal.response)
        except Exception as exc:
            raise fail(describe_structure_error(exc, "payload")) from exc
        return SignalHandled(signal.name, request, event, response, payload.get("key"))

    def _signal(self, name: str) -> Signal[Any, Any]:
        try:
            return self._signals[name]
        except KeyError:
            raise DefinitionError(f"no signal named {name!r} is registered") from None

    def _spec(self, cls: type[Any]) -> EventSpec:
        spec = self._by_type.get(cls)
        if spec is None:
            # Events of dynamic (flat_map) parts are first seen when they happen.
            self.register(cls)
            spec = self._by_type[cls]
        return spec


class InputError(DeterministicError):
    """Raised when an instance's input (or a signal's request) does not fit its type."""


def encode_value(value: Any, value_type: Any) -> Any:
    """A JSON-compatible form of ``value`` (an input or a result)."""
    converter = _values
    return converter.unstructure(value, value_type if value_type is not object else None)


def decode_input(data: Any, input_type: Any, where: str, what: str = "input") -> Any:
    """Structure JSON ``data`` as ``input_type``; `InputError` names the field at fault."""
    if input_type is object:
        return data
    try:
        return _values.structure(data, input_type)
    except Exception as exc:
        raise InputError(
            f"{where}: the {what} does not fit {getattr(input_type, '__name__', input_type)}: "
            f"{describe_structure_error(exc, what)}"
        ) from exc


_values = strict_converter(forbid_extra_keys=True)
