"""OpenTelemetry traces, when the ``wio[otel]`` extra is installed.

One span per instance run (``wio.run``) and one per step (``wio.step``), with
the instance id, workflow, version and, for steps, the model path of the node
as attributes. Spans are made by the ``wio`` tracer of the global tracer
provider, so they go wherever the application's OpenTelemetry setup sends
them; a step's span is a child of whatever span is current, such as the
`wio serve` request that started and ran the instance. Without OpenTelemetry
installed, tracing costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

try:
    from opentelemetry import context, propagate, trace
    from opentelemetry.trace import ProxyTracerProvider, Status, StatusCode
except ImportError:  # pragma: no cover - the extra is not installed
    trace = None  # type: ignore[assignment]

T = TypeVar("T")

INSTANCE = "wio.instance_id"
WORKFLOW = "wio.workflow"
VERSION = "wio.workflow_version"
PATH = "wio.path"
STEP = "wio.step"


def _tracer() -> Any:
    """The ``wio`` tracer, or None while no tracer provider is set (spans would go
    nowhere: making them would only slow every step down)."""
    if not enabled():
        return None
    provider = trace.get_tracer_provider()
    tracer = _tracers.get(id(provider))
    if tracer is None:
        tracer = _tracers[id(provider)] = provider.get_tracer("wio")
    return tracer


_tracers: dict[int, Any] = {}


def enabled() -> bool:
    """Whether spans go anywhere (OpenTelemetry is installed and a provider is set).

    Asked at every step, so it reads the API's global rather than calling
    `get_tracer_provider`, which consults the environment each time it finds none.
    """
    if trace is None:
        return False
    provider = getattr(trace, "_TRACER_PROVIDER", _UNKNOWN)
    if provider is _UNKNOWN:  # an API version without that global: ask it
        return not isinstance(trace.get_tracer_provider(), ProxyTracerProvider)
    return provider is not None


_UNKNOWN = object()


def current_trace_context() -> str | None:
    """The W3C ``traceparent`` of the current span, to store with an instance it creates,
    or None when no span is current (or tracing is off)."""
    if not enabled():
        return None
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")


@contextmanager
def span(
    name: str, attributes: Mapping[str, Any], stored_parent: str | None = None
) -> Iterator[None]:
    """A span around the block (current while it runs); an exception marks it failed.

    With no span current, ``stored_parent`` (a ``traceparent`` stored with the
    instance) is its parent: a worker in another process continues the trace
    that created the instance.
    """
    tracer = _tracer()
    if tracer is None:
        yield
        return
    clean = {key: value for key, value in attributes.items() if value is not None}
    parent = None
    if stored_parent is not None and not trace.get_current_span().get_span_context().is_valid:
        parent = propagate.extract({"traceparent": stored_parent})
    with tracer.start_as_current_span(
        name, context=parent, attributes=clean, record_exception=True
    ) as current:
        try:
            yield
        except Exception as exc:
            current.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
            raise


def step_span(labels: Mapping[str, Any], path: str, step: str | None) -> Any:
    """A started, not current, span for one step; the caller ends it (steps yield I/O)."""
    tracer = _tracer()
    if tracer is None:
        return None
    attributes = {**labels, PATH: path, STEP: step}
    return tracer.start_span(
        "wio.step", attributes={k: v for k, v in attributes.items() if v is not None}
    )


def end_step(started: Any, error: BaseException | None = None) -> None:
    if started is None:
        return
    if error is not None:
        started.record_exception(error)
        started.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
    started.end()


def under_remote_parent(headers: Mapping[str, str], call: Callable[[], T]) -> T:
    """Call ``call`` as part of the trace a request's ``traceparent`` header names, if any."""
    if trace is None:
        return call()
    token = context.attach(propagate.extract(dict(headers)))
    try:
        return call()
    finally:
        context.detach(token)
