"""The HTTP API of `wio serve`: a Litestar application over one journal and its workflows.

Litestar is used because it understands attrs classes natively: the request
bodies are the workflows' own attrs input and signal request types, so the
generated OpenAPI document describes them field by field, and a request that
does not fit names the field at fault. Bodies are then structured again by
wio's strict converter (Litestar's decoding coerces "5" to 5; wio never does).

Every endpoint answers JSON. Bad input gets a 4xx with a precise message and
writes nothing; no endpoint evaluates code; errors never carry a traceback or
the database password.
"""

import hmac
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from operator import getitem
from typing import Any

import anyio
import attrs
from litestar import Litestar, MediaType, Request, Response, Router, get, post
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.exceptions import HTTPException, NotAuthorizedException, ValidationException
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.params import FromPath, FromQuery, JSONBody, Parameter

from wio.codec import EventDecodeError, InputError, decode_input, encode_value
from wio.definition import Workflow
from wio.errors import WioError
from wio.inspection import why_not_running
from wio.interpreter import format_path
from wio.journal import (
    ConcurrencyConflict,
    InstanceFilter,
    InstanceRecord,
    InstanceStatus,
    Journal,
    JournalError,
    JournalUnavailable,
    LeaseHeld,
    StoredEvent,
    UnknownInstance,
)
from wio.operations import NoSuchInstance, OperationRefused, cancel, fork, retry
from wio.renderers.marks import Marks
from wio.runtime import Runtime
from wio.signals import Signal
from wio.tracing import under_remote_parent
from wio.worker import HEALTH_TIMEOUT, probe, served_versions

log = logging.getLogger("wio.server")
FORMATS = ("json", "mermaid", "bpmn", "dot", "svg", "text")
_TEXT_TYPES = {
    "json": MediaType.JSON,
    "mermaid": MediaType.TEXT,
    "bpmn": "application/xml",
    "dot": MediaType.TEXT,
    "svg": "image/svg+xml",
    "text": MediaType.TEXT,
}


# -- response and request shapes (attrs, so that OpenAPI describes them) ---------------


@attrs.frozen
class InstanceView:
    id: str
    workflow: str
    version: int
    status: str
    events: int
    attempts: int
    last_error: str | None
    wakeup_at: str | None
    created_at: str
    updated_at: str
    # Why an unfinished instance is not advancing now, as `wio instances` says it
    # (say, "no worker serves shipping v1"); empty once it has ended.
    reason: str = ""
    tags: dict[str, str] = attrs.Factory(dict)


@attrs.frozen
class InstancePage:
    instances: list[InstanceView]
    next_after: str | None  # pass as ?after= for the next page


@attrs.frozen
class EventView:
    seq: int
    type: str
    version: int
    recorded_at: str | None
    payload: Any


@attrs.frozen
class StepView:
    path: str
    kind: str
    name: str | None
    ok: bool
    event_seq: int | None


@attrs.frozen
class StateView:
    id: str
    status: str
    waiting_for: str
    state: Any
    progress: list[StepView]
    expected_signals: list[str]


@attrs.frozen
class WorkflowView:
    name: str
    version: int
    signals: list[str]


@attrs.frozen
class CancelRequest:
    reason: str = "cancelled through the HTTP API"


@attrs.frozen
class ForkRequest:
    at: int
    new_id: str
    version: int | None = None


@attrs.frozen
class DeliverRequest:
    """An event from outside the workflow, as the journal stores it."""

    type: str
    payload: Any
    version: int = 1


# -- errors ---------------------------------------------------------------------------


def _status_of(exc: Exception) -> int:
    if isinstance(exc, UnknownInstance | NoSuchInstance):
        return 404
    if isinstance(exc, JournalUnavailable):
        return 503
    if isinstance(exc, InputError | EventDecodeError):
        return 400
    if isinstance(exc, ConcurrencyConflict | LeaseHeld | WioError | JournalError):
        return 409
    return 500


def _error_response(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if isinstance(exc, HTTPException):
        detail = exc.detail
        if isinstance(exc, ValidationException) and exc.extra:
            problems = "; ".join(
                f"{item.get('message', '')} @ {item.get('key', '')}".strip(" @")
                for item in exc.extra
                if isinstance(item, dict)
            )
            detail = f"{detail}: {problems}" if problems else detail
        body = {"status_code": exc.status_code, "detail": detail}
        return Response(body, status_code=exc.status_code)
    status = _status_of(exc)
    if status == 500:
        log.exception("%s %s failed", request.method, request.url.path)
        return Response(
            {"status_code": 500, "detail": "internal error (see the server's log)"},
            status_code=500,
        )
    return Response({"status_code": status, "detail": str(exc)}, status_code=status)


# -- the application ------------------------------------------------------------------


class Api:
    """The endpoints over one journal and the workflows whose code this process has."""

    def __init__(self, journal: Journal, workflows: Sequence[Workflow[Any, Any, Any]]) -> None:
        self.journal = journal
        self.workflows = {(w.name, w.version): w for w in workflows}

    def definition(self, record: InstanceRecord) -> Workflow[Any, Any, Any]:
        found = self.workflows.get((record.workflow, record.workflow_version))
        if found is None:
            raise OperationRefused(
                record.id,
                f"it runs {record.workflow} v{record.workflow_version}, whose code this server "
                "was not given (--workflows)",
            )
        return found

    def newest(self, name: str) -> Workflow[Any, Any, Any]:
        return max((w for (n, _), w in self.workflows.items() if n == name), key=_version)

    def record(self, instance_id: str) -> InstanceRecord:
        return self.journal.get_instance(instance_id)


def utc(moment: datetime | None) -> datetime | None:
    """A time given without a zone is taken as UTC, as the journals store times."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def parse_tags(given: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """``name=value`` filters as pairs; `InputError` names a malformed one."""
    pairs = []
    for item in given:
        name, equals, value = item.partition("=")
        if not equals or not name.strip():
            raise InputError(f"tag: expected name=value, got {item!r}")
        pairs.append((name.strip(), value))
    return tuple(pairs)


def _version(workflow: Workflow[Any, Any, Any]) -> int:
    return workflow.version


def view(
    record: InstanceRecord, reason: str = "", tags: dict[str, str] | None = None
) -> InstanceView:
    return InstanceView(
        id=record.id,
        workflow=record.workflow,
        version=record.workflow_version,
        status=str(record.status),
        events=record.last_seq,
        attempts=record.attempts,
        last_error=record.last_error,
        wakeup_at=record.wakeup_at.isoformat() if record.wakeup_at else None,
        created_at=record.created_at.isoformat(),
        updated_at=record.updated_at.isoformat(),
        reason=reason,
        tags=tags or {},
    )


def create_app(
    journal: Journal,
    workflows: Sequence[Workflow[Any, Any, Any]],
    *,
    token: str | None = None,
    metrics: Callable[[], tuple[bytes, str]] | None = None,
    console_streams: int | None = None,
) -> Litestar:
    """The Litestar application; ``token`` makes every endpoint but /health need it.
    ``console_streams`` bounds the console's live pages open at once (docs/console.md)."""
    api = Api(journal, workflows)
    from wio.server.operations import operation_handlers

    handlers: list[Any] = [
        *_common_handlers(api),
        *_instance_handlers(api),
        *operation_handlers(api),
    ]
    for name in sorted({w.name for w in workflows}):
        handlers.extend(_workflow_handlers(api, api.newest(name)))
    if metrics is not None:
        handlers.append(_metrics_handler(metrics))
    guards = [] if token is None else [_bearer(token)]
    from wio.console import console_router
    from wio.console.live import MAX_STREAMS, Changes

    changes = Changes(journal, MAX_STREAMS if console_streams is None else console_streams)
    return Litestar(
        route_handlers=[
            Router("/", route_handlers=handlers, guards=guards),
            console_router(api, token, changes),  # the web console, at / (docs/console.md)
        ],
        state=State({"console_changes": changes}),  # for `wio.console.live.uvicorn_server`
        on_startup=[changes.open],
        on_shutdown=[changes.close],
        openapi_config=OpenAPIConfig(
            title="wio",
            version="1",
            description="Start, signal, inspect and operate durable workflow instances.",
            path="/schema",
        ),
        exception_handlers={Exception: _error_response},
        logging_config=None,  # the command line configures logging (WIO_LOG_LEVEL)
        debug=False,
    )


def _bearer(token: str) -> Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], None]:
    from wio.console.auth import signed_in

    expected = f"Bearer {token}".encode()

    def guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
        if handler.opt.get("public"):
            return
        given = connection.headers.get("authorization", "").encode()
        # The console's pages call the API with its session cookie (SameSite=Strict).
        if not hmac.compare_digest(given, expected) and not signed_in(connection, token):
            raise NotAuthorizedException("a bearer token is required: Authorization: Bearer ...")

    return guard


def _common_handlers(api: Api) -> list[Any]:
    @get("/health", sync_to_thread=True, opt={"public": True})
    def health() -> Response[dict[str, str]]:
        # Within a second whatever the journal does: a connection of its own, cut off.
        problem = probe(api.journal, HEALTH_TIMEOUT)
        if problem is not None:
            return Response({"status": "unavailable", "journal": problem}, status_code=503)
        return Response({"status": "ok", "journal": "reachable"}, status_code=200)

    @get("/workflows", sync_to_thread=False)
    def list_workflows() -> list[WorkflowView]:
        return [
            WorkflowView(w.name, w.version, sorted(s.name for s in w.all_signals()))
            for w in api.workflows.values()
        ]

    return [health, list_workflows]


def _rendered(workflow: Workflow[Any, Any, Any], format: str, marks: Marks | None) -> Response[str]:
    from wio.renderers import render

    if format not in FORMATS:
        raise WioError(f"unknown format {format!r}: expected one of {', '.join(FORMATS)}")
    output = render(
        workflow,
        format,
        marks=marks,
        name=workflow.wio.meta.name or workflow.name,
    )
    text = output if isinstance(output, str) else output.decode()
    return Response(text, media_type=_TEXT_TYPES[format])


def _instance_handlers(api: Api) -> list[Any]:
    @get("/instances", sync_to_thread=True)
    def list_instances(
        status: FromQuery[InstanceStatus | None] = None,
        workflow: FromQuery[str | None] = None,
        version: int | None = Parameter(default=None, ge=1),
        after: FromQuery[str | None] = None,
        limit: int = Parameter(default=100, ge=1, le=1000),
        id_prefix: FromQuery[str | None] = None,
        created_from: FromQuery[datetime | None] = None,
        created_to: FromQuery[datetime | None] = None,
        updated_from: FromQuery[datetime | None] = None,
        updated_to: FromQuery[datetime | None] = None,
        tag: FromQuery[list[str] | None] = None,  # name=value; repeated, all must match
    ) -> InstancePage:
        if after is not None:
            api.record(after)  # an unknown id is a 404, not an empty page
        matching = InstanceFilter(
            id_prefix=id_prefix or None,
            created_from=utc(created_from),
            created_to=utc(created_to),
            updated_from=utc(updated_from),
            updated_to=utc(updated_to),
            tags=parse_tags(tag or []),
        )
        records = api.journal.list_instances(
            status, workflow, version=version, after=after, limit=limit + 1, matching=matching
        )
        page = records[:limit]
        more = len(records) > limit
        registered = api.journal.list_workflows()
        now = datetime.now(UTC)
        served = served_versions(registered, now)
        tags = api.journal.tags_of([r.id for r in page])
        return InstancePage(
            [view(r, why_not_running(r, registered, served, now), tags[r.id]) for r in page],
            page[-1].id if more else None,
        )

    @get("/instances/{instance_id:str}", sync_to_thread=True)
    def get_instance(instance_id: FromPath[str]) -> InstanceView:
        return view(api.record(instance_id), tags=api.journal.tags_of([instance_id])[instance_id])

    @get("/instances/{instance_id:str}/events", sync_to_thread=True)
    def get_events(instance_id: FromPath[str]) -> list[EventView]:
        return [
            EventView(
                e.seq,
                e.type,
                e.version,
                e.recorded_at.isoformat() if e.recorded_at else None,
                e.payload,
            )
            for e in api.journal.read(instance_id)
        ]

    @get("/instances/{instance_id:str}/state", sync_to_thread=True)
    def get_state(instance_id: FromPath[str]) -> StateView:
        definition = api.definition(api.record(instance_id))
        instance = Runtime(definition, journal=api.journal).get(instance_id)  # takes no lease
        return StateView(
            id=instance_id,
            status=str(instance.status),
            waiting_for=instance.waiting_for(),
            state=encode_value(instance.state, object),
            progress=[
                StepView(format_path(s.path), s.kind, s.name, s.ok, s.event_seq)
                for s in instance.progress
            ],
            expected_signals=[s.name for s in instance.expected_signals()],
        )

    @get("/instances/{instance_id:str}/render", sync_to_thread=True)
    def render_instance(
        instance_id: FromPath[str],
        format: str = Parameter(default="mermaid", pattern="^(mermaid|dot|svg|text)$"),
    ) -> Response[str]:
        definition = api.definition(api.record(instance_id))
        instance = Runtime(definition, journal=api.journal).get(instance_id)
        return _rendered(definition, format, Marks.of(instance))

    @post("/instances/{instance_id:str}/retry", sync_to_thread=True, status_code=200)
    def retry_instance(instance_id: FromPath[str]) -> InstanceView:
        return view(retry(api.journal, instance_id))

    @post("/instances/{instance_id:str}/cancel", sync_to_thread=True, status_code=200)
    def cancel_instance(instance_id: FromPath[str], data: JSONBody[CancelRequest]) -> InstanceView:
        return view(cancel(api.journal, instance_id, data.reason))

    @post("/instances/{instance_id:str}/fork", sync_to_thread=True, status_code=201)
    def fork_instance(instance_id: FromPath[str], data: JSONBody[ForkRequest]) -> InstanceView:
        if data.at < 0:
            raise InputError(f"at: expected 0 or more, got {data.at}")
        return view(fork(api.journal, instance_id, data.at, data.new_id, version=data.version))

    @post("/instances/{instance_id:str}/deliver", sync_to_thread=True, status_code=200)
    def deliver_event(instance_id: FromPath[str], data: JSONBody[DeliverRequest]) -> InstanceView:
        """Record an event from outside the workflow (an operator's fix), if a node takes it."""
        record = api.record(instance_id)
        definition = api.definition(record)
        stored = StoredEvent(
            instance_id, record.last_seq + 1, data.type, data.version, data.payload, None
        )
        event = definition.codec.decode(stored)
        Runtime(definition, journal=api.journal).get(instance_id).deliver(event)
        return view(api.record(instance_id))

    return [
        deliver_event,
        list_instances,
        get_instance,
        get_events,
        get_state,
        render_instance,
        retry_instance,
        cancel_instance,
        fork_instance,
    ]


def _workflow_handlers(api: Api, workflow: Workflow[Any, Any, Any]) -> list[Any]:
    """Start and signal endpoints typed by this workflow's own input and request types."""
    input_type = workflow.input_type if workflow.input_type is not object else Any
    start_type = attrs.make_class(
        f"Start{_camel(workflow.name)}",
        {
            "id": attrs.field(type=str),
            "input": attrs.field(type=input_type),
            "advance": attrs.field(type=bool, default=False),
        },
        frozen=True,
    )

    def start_now(raw: Any, data: Any) -> Response[InstanceView]:
        instance_id = data.id
        if not instance_id.strip():
            raise InputError("id: an instance id must be a non-blank string")
        value = decode_input(raw.get("input"), workflow.input_type, "body", "input")
        encoded = encode_value(value, workflow.input_type)
        try:
            existing = api.journal.get_instance(instance_id)
        except UnknownInstance:
            existing = None
        if existing is not None:  # the id is the idempotency key
            if (existing.workflow, existing.input) != (workflow.name, encoded):
                raise OperationRefused(
                    instance_id, "it exists already, with another workflow or input"
                )
            return Response(view(existing), status_code=200)
        instance = Runtime(workflow, journal=api.journal).create(instance_id, value)
        if data.advance:
            instance.advance()
        return Response(view(api.record(instance_id)), status_code=201)

    async def start(request: Request[Any, Any, Any], data: Any) -> Response[InstanceView]:
        raw = await request.json()  # as sent, before Litestar's lenient decoding
        return await in_thread(request, lambda: start_now(raw, data))  # type: ignore[no-any-return]

    start.__annotations__ = {
        "request": Request,
        "data": getitem(JSONBody, start_type),
        "return": Response[InstanceView],
    }
    handlers: list[Any] = [
        post(
            f"/workflows/{workflow.name}/instances",
            operation_id=f"start_{workflow.name}",
            summary=f"Start an instance of {workflow.name} (the id is the idempotency key)",
        )(start)
    ]
    for signal in workflow.all_signals():
        handlers.append(_signal_handler(api, workflow, signal))

    @get(
        f"/workflows/{workflow.name}/render",
        sync_to_thread=True,
        operation_id=f"render_{workflow.name}",
        summary=f"Draw {workflow.name} in a format",
    )
    def render_workflow(
        format: str = Parameter(default="json", pattern="^(json|mermaid|bpmn|dot|svg|text)$"),
    ) -> Response[str]:
        return _rendered(workflow, format, None)

    handlers.append(render_workflow)
    return handlers


def _signal_handler(api: Api, workflow: Workflow[Any, Any, Any], signal: Signal[Any, Any]) -> Any:
    def deliver_now(raw: Any, instance_id: str, key: str | None) -> Any:
        record = api.record(instance_id)
        if record.workflow != workflow.name:
            raise OperationRefused(instance_id, f"it runs {record.workflow}, not {workflow.name}")
        definition = api.definition(record)
        checked = decode_input(raw, signal.request, f"signal {signal.name!r}", "request")
        instance = Runtime(definition, journal=api.journal).get(instance_id)
        return encode_value(instance.signal(signal, checked, key=key), signal.response)

    async def deliver(
        request: Request[Any, Any, Any], instance_id: str, data: Any, key: str | None = None
    ) -> Any:
        raw = await request.json()
        return await in_thread(request, lambda: deliver_now(raw, instance_id, key))

    deliver.__annotations__ = {
        "request": Request,
        "instance_id": FromPath[str],
        "data": getitem(JSONBody, signal.request),
        "key": getitem(FromQuery, str | None),
        "return": signal.response,
    }
    return post(
        f"/workflows/{workflow.name}/instances/{{instance_id:str}}/signals/{signal.name}",
        status_code=200,
        operation_id=f"signal_{workflow.name}_{signal.name}",
        summary=f"Send {signal.name} to an instance of {workflow.name}; returns its response",
    )(deliver)


def _metrics_handler(metrics: Callable[[], tuple[bytes, str]]) -> Any:
    @get("/metrics", sync_to_thread=False, opt={"public": False}, include_in_schema=False)
    def metrics_endpoint() -> Response[bytes]:
        body, content_type = metrics()
        return Response(body, media_type=content_type)

    return metrics_endpoint


async def in_thread(request: Request[Any, Any, Any], call: Callable[[], Any]) -> Any:
    """Run blocking journal work off the event loop, in the trace the request names."""
    headers = {key: value for key, value in request.headers.items()}
    return await anyio.to_thread.run_sync(lambda: under_remote_parent(headers, call))


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.replace("-", "_").split("_"))


__all__ = ["create_app"]
