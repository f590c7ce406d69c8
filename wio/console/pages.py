"""The console's pages: HTML rendered here, over the API's journal and workflows.

Every value shown is escaped (`_e`); every page is usable without its script
except for the verbs, which the script sends to the HTTP API. The instance page
has parts (`instance_parts`) that its script fetches again while it is open, so
the page follows the instance without a reload.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from litestar import MediaType, Request, Response, Router, get, post
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, ServerSentEvent, ServerSentEventMessage

from wio.codec import InputError, encode_value
from wio.compat import compare
from wio.compat import render as render_compat
from wio.console.auth import COOKIE, session_value, signed_in
from wio.console.live import Changes, event
from wio.definition import Workflow
from wio.errors import WioError
from wio.journal import (
    FINAL_STATUSES,
    InstanceFilter,
    InstanceRecord,
    InstanceStatus,
    StoredEvent,
    UnknownInstance,
)
from wio.lint import lint
from wio.runtime import Runtime

if TYPE_CHECKING:
    from wio.server.app import Api

PAGE_SIZE = 50
TIMELINE_SIZE = 500  # the latest events an instance page shows (the API has them all)
LIST_PAUSE = 2.0  # seconds at least between two updates of a list page (a count of them all)
STATUSES = [str(status) for status in InstanceStatus]
_STATIC = {"console.css": "text/css; charset=utf-8", "console.js": "text/javascript"}
_HTML = "text/html; charset=utf-8"


def console_router(api: Api, token: str | None, changes: Changes) -> Router:
    """The console's routes, at ``/``; with ``token``, every page but sign-in needs it.
    Live pages follow ``changes`` (`wio.console.live`)."""

    def guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
        if handler.opt.get("public") or signed_in(connection, token):
            return
        auth = connection.headers.get("authorization", "")
        if token is not None and auth == f"Bearer {token}":
            return
        # The console's handler shows the sign-in page instead.
        raise NotAuthorizedException("sign in to the console with the server's token")

    def to_sign_in(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
        if request.url.path.endswith(("/live", "/stream")):  # the page's script says so
            return Response({"status_code": 401, "detail": str(exc)}, status_code=401)
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return Redirect(f"/console/sign-in?{urlencode({'next': here})}")

    @get("/", sync_to_thread=True, include_in_schema=False)
    def instances(request: Request[Any, Any, Any]) -> Response[str]:
        return _html(*instances_page(api, request.query_params))

    @get("/console/workflows", sync_to_thread=True, include_in_schema=False)
    def workflows() -> Response[str]:
        return _html(workflows_page(api))

    @get(
        "/console/workflows/{name:str}/{version:int}/{file:str}",
        sync_to_thread=True,
        include_in_schema=False,
    )
    def workflow_file(
        name: FromPath[str], version: FromPath[int], file: FromPath[str]
    ) -> Response[str]:
        return workflow_download(api, name, version, file)

    schemas = Schemas()

    def schema_of(request: Request[Any, Any, Any]) -> SchemaOf:
        return lambda workflow, signal: schemas.request(request.app, workflow, signal)

    # The id goes in the query: any id, with a slash in it too, makes a URL.
    @get("/console/instance", sync_to_thread=True, include_in_schema=False)
    def instance(request: Request[Any, Any, Any], id: FromQuery[str]) -> Response[str]:
        return _html(*instance_page(api, id, schema_of(request)))

    @get("/console/instance/live", sync_to_thread=True, include_in_schema=False)
    def live(
        request: Request[Any, Any, Any], id: FromQuery[str], stamp: FromQuery[str] = ""
    ) -> Response[Any]:
        """The page's parts, unless the instance is as the page shows it (``stamp``):
        then only the registry row was read, and nothing is replayed or drawn."""
        try:
            record = api.record(id)
        except UnknownInstance as exc:
            return Response({"status_code": 404, "detail": str(exc)}, status_code=404)
        if stamp and stamp == stamp_of(record):
            return Response({"stamp": stamp, "unchanged": True}, media_type=MediaType.JSON)
        return Response(instance_parts(api, record, schema_of(request)), media_type=MediaType.JSON)

    @get("/console/instance/stream", include_in_schema=False)
    async def stream(
        request: Request[Any, Any, Any], id: FromQuery[str], stamp: FromQuery[str] = ""
    ) -> Response[Any]:
        """The page's parts as Server-Sent Events, each time the instance changes from
        the stamp the page shows (or the last event's id, when the browser reconnects)."""
        if changes.full:
            return _busy()
        shown = request.headers.get("last-event-id") or stamp
        return ServerSentEvent(changes.stream(instance_look(api, id, shown, schema_of(request))))

    @get("/console/instances/stream", include_in_schema=False)
    async def list_stream(request: Request[Any, Any, Any]) -> Response[Any]:
        """The list's counts and rows as Server-Sent Events, each time they change from
        what the page shows (``stamp``); at most every `LIST_PAUSE` seconds."""
        if changes.full:
            return _busy()
        params, tags = list_selection(request.query_params)
        shown = request.headers.get("last-event-id") or str(request.query_params.get("stamp", ""))
        look = list_look(api, params, tags, shown)
        return ServerSentEvent(changes.stream(look, pause=LIST_PAUSE))

    @get(
        "/console/static/{name:str}",
        sync_to_thread=False,
        include_in_schema=False,
        opt={"public": True},
    )
    def static(name: FromPath[str]) -> Response[bytes]:
        if name not in _STATIC:
            return Response(b"not found", status_code=404, media_type=MediaType.TEXT)
        body = resources.files("wio.console").joinpath("static", name).read_bytes()
        return Response(body, media_type=_STATIC[name], headers={"cache-control": "no-cache"})

    @get("/console/sign-in", sync_to_thread=False, include_in_schema=False, opt={"public": True})
    def sign_in_page(next: FromQuery[str] = "/") -> Response[str]:
        return _html(sign_in(next, None))

    @post("/console/sign-in", include_in_schema=False, opt={"public": True}, status_code=303)
    async def sign_in_post(request: Request[Any, Any, Any]) -> Response[Any]:
        form = await request.form()
        given = str(form.get("token", ""))
        target = _local(str(form.get("next", "/")))
        if token is None:
            return Redirect(target)
        if session_value(given) != session_value(token):
            return _html(sign_in(target, "That is not the server's token."), status=401)
        response: Response[Any] = Redirect(target)
        response.set_cookie(
            COOKIE, session_value(token), httponly=True, samesite="strict", path="/"
        )
        return response

    return Router(
        "/",
        route_handlers=[
            instances,
            workflows,
            workflow_file,
            instance,
            live,
            stream,
            list_stream,
            static,
            sign_in_page,
            sign_in_post,
        ],
        guards=[guard],
        exception_handlers={NotAuthorizedException: to_sign_in},
    )


def _busy() -> Response[Any]:
    detail = "too many live pages are open: this one polls"
    return Response({"status_code": 503, "detail": detail}, status_code=503)


def instance_url(instance_id: str) -> str:
    return f"/console/instance?{urlencode({'id': instance_id})}"


def _local(target: str) -> str:
    """Only a path of this server to go back to after signing in (no open redirect)."""
    # "//host" and "/\\host" are other sites to a browser.
    local = target.startswith("/") and not target.startswith("//") and "\\" not in target
    return target if local else "/"


def _html(body: str, status: int = 200) -> Response[str]:
    return Response(
        body,
        status_code=status,
        media_type=_HTML,
        headers={
            # Our own script and style only: no inline script runs, nothing loads from elsewhere.
            "content-security-policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; frame-ancestors 'none'",
            "x-content-type-options": "nosniff",
        },
    )


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def layout(title: str, main: str, active: str) -> str:
    tabs = "".join(
        f'<a href="{href}"{" aria-current=page" if key == active else ""}>{label}</a>'
        for key, href, label in (
            ("instances", "/", "Instances"),
            ("workflows", "/console/workflows", "Workflows"),
        )
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)} · wio console</title>"
        '<link rel=stylesheet href="/console/static/console.css">'
        '<script src="/console/static/console.js" defer></script></head><body>'
        f'<header><a class=brand href="/">wio console</a><nav aria-label=Sections>{tabs}</nav>'
        f"</header><main>{main}</main></body></html>"
    )


def sign_in(next_path: str, problem: str | None) -> str:
    error = f"<p class=error role=alert id=token-error>{_e(problem)}</p>" if problem else ""
    main = (
        "<h1>Sign in</h1><p>This server needs its bearer token (<code>--token</code> or "
        "<code>$WIO_API_TOKEN</code>).</p>"
        '<form method=post action="/console/sign-in" class=card>'
        f'<input type=hidden name=next value="{_e(_local(next_path))}">'
        "<label for=token>Token</label>"
        "<input id=token name=token type=password autocomplete=current-password required"
        f"{' aria-invalid=true aria-describedby=token-error' if problem else ''}>"
        f"{error}<button type=submit>Sign in</button></form>"
    )
    return layout("Sign in", main, "")


def status_badge(status: str) -> str:
    return f'<span class="badge status-{_e(status)}">{_e(status)}</span>'


def _time(moment: datetime | None) -> str:
    if moment is None:
        return "—"
    text = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    return f'<time datetime="{_e(moment.isoformat())}">{text}</time>'


# -- the instance list ---------------------------------------------------------------------


def _moment(params: Mapping[str, str], name: str) -> datetime | None:
    raw = params.get(name, "").strip()
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise InputError(
            f"{name}: expected a date and time like 2026-01-31T12:00, got {raw!r}"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_filters(params: Mapping[str, str], tags: Sequence[str]) -> dict[str, Any]:
    status = params.get("status", "").strip() or None
    if status is not None and status not in STATUSES:
        raise InputError(f"status: expected one of {', '.join(STATUSES)}, got {status!r}")
    version_text = params.get("version", "").strip()
    if version_text and not version_text.isdigit():
        raise InputError(f"version: expected a whole number, got {version_text!r}")
    pairs = []
    for tag in tags:
        if not tag.strip():
            continue
        name, equals, value = tag.partition("=")
        if not equals or not name.strip():
            raise InputError(f"tag: expected name=value, got {tag!r}")
        pairs.append((name.strip(), value.strip()))
    return {
        "status": None if status is None else InstanceStatus(status),
        "workflow": params.get("workflow", "").strip() or None,
        "version": int(version_text) if version_text else None,
        "matching": InstanceFilter(
            params.get("id_prefix", "").strip() or None,
            _moment(params, "created_from"),
            _moment(params, "created_to"),
            _moment(params, "updated_from"),
            _moment(params, "updated_to"),
            tuple(pairs),
        ),
    }


def list_selection(query: Any) -> tuple[dict[str, str], list[str]]:
    """The list's filters as the query gives them (not a stream's stamp), and its tags."""
    params = {key: str(query.get(key, "")) for key in query if key != "stamp"}
    tags = [str(t) for t in query.getall("tag", [])] if hasattr(query, "getall") else []
    return params, tags


def list_parts(
    api: Api, params: Mapping[str, str], tags: Sequence[str]
) -> tuple[dict[str, str], str | None]:
    """The parts of the list that change as instances do (the counts, the rows and the
    pager), with a stamp of their content; and what is wrong with the filter, if anything."""
    problem = None
    records: list[InstanceRecord] = []
    counts: Mapping[InstanceStatus, int] | None = None
    more = False
    try:
        chosen = parse_filters(params, tags)
        # By status, of what the rest of the filter matches: each count is what its link shows.
        counts = api.journal.count_instances(
            chosen["workflow"], version=chosen["version"], matching=chosen["matching"]
        )
        after = params.get("after") or None
        records = api.journal.list_instances(
            chosen["status"],
            chosen["workflow"],
            version=chosen["version"],
            after=after,
            limit=PAGE_SIZE + 1,
            matching=chosen["matching"],
        )
        more = len(records) > PAGE_SIZE
        records = records[:PAGE_SIZE]
    except InputError as exc:
        problem = str(exc)
    tags_by_id = api.journal.tags_of([r.id for r in records])
    parts = {
        "counts": _counts(counts, params, tags),
        "rows": _instance_table(records, tags_by_id) + _pager(params, tags, records, more),
    }
    content = json.dumps(parts, sort_keys=True).encode()
    parts["stamp"] = hashlib.sha256(content).hexdigest()[:32]
    return parts, problem


def instances_page(api: Api, query: Any) -> tuple[str, int]:
    params, tags = list_selection(query)
    parts, problem = list_parts(api, params, tags)
    names = sorted(
        {name for name, _ in api.workflows} | {w.name for w in api.journal.list_workflows()}
    )
    # A filter that is wrong lists nothing: there is nothing to follow.
    stream = "" if problem else f"/console/instances/stream{_query(params, tags)[1:]}"
    main = (
        f'<div id=instances data-stamp="{_e(parts["stamp"])}" data-stream="{_e(stream)}">'
        "<h1>Instances <small id=live-note aria-live=polite></small></h1>"
        f"<div id=list-counts>{parts['counts']}</div>"
        + _filter_form(params, tags, names)
        + (f"<p class=error role=alert id=filter-error>{_e(problem)}</p>" if problem else "")
        + f"<div id=list-rows>{parts['rows']}</div></div>"
    )
    return layout("Instances", main, "instances"), 400 if problem else 200


def list_look(
    api: Api, params: Mapping[str, str], tags: Sequence[str], stamp: str
) -> Callable[[], ServerSentEventMessage | None]:
    """What a list page's stream sends: its parts when they differ from what the page
    shows; "gone" if its filter is wrong (the page shows the error instead)."""
    shown = stamp

    def look() -> ServerSentEventMessage | None:
        nonlocal shown
        parts, problem = list_parts(api, params, tags)
        if problem is not None:
            return event("gone", {"detail": problem})
        if parts["stamp"] == shown:
            return None
        shown = parts["stamp"]
        return event("list", parts, id=shown)

    return look


def _query(params: Mapping[str, str], tags: Sequence[str], **changes: str | None) -> str:
    merged: dict[str, str | None] = {**params, **changes}
    pairs = [(k, v) for k, v in merged.items() if v and k != "tag"]
    pairs += [("tag", t) for t in tags if t]
    return "/?" + urlencode(pairs) if pairs else "/"


def _counts(
    counts: Mapping[InstanceStatus, int] | None, params: Mapping[str, str], tags: Sequence[str]
) -> str:
    """A link per status, keeping the rest of the filter, with how many it lists
    (no numbers while the filter is wrong: there is nothing it matches to count)."""

    def number(n: int) -> str:
        return "" if counts is None else f" <strong>{n}</strong>"

    total = sum(counts.values()) if counts is not None else 0
    all_href = _query(params, tags, status=None, after=None)
    chips = [
        f'<a class="chip{" active" if not params.get("status") else ""}" '
        f'href="{_e(all_href)}" data-status="">all{number(total)}</a>'
    ]
    for status in STATUSES:
        n = counts.get(InstanceStatus(status), 0) if counts is not None else 0
        active = " active" if params.get("status") == status else ""
        href = _query(params, tags, status=status, after=None)
        chips.append(
            f'<a class="chip status-{status}{active}" href="{_e(href)}" '
            f'data-status="{status}">{status}{number(n)}</a>'
        )
    return f'<nav class=counts aria-label="Counts by status">{"".join(chips)}</nav>'


def _filter_form(params: Mapping[str, str], tags: Sequence[str], names: Sequence[str]) -> str:
    def field(name: str, label: str, control: str) -> str:
        return f'<div class=field><label for="f-{name}">{label}</label>{control}</div>'

    def text(name: str, placeholder: str = "", kind: str = "text") -> str:
        return (
            f'<input id="f-{name}" name="{name}" type={kind} value="{_e(params.get(name, ""))}"'
            f' placeholder="{_e(placeholder)}">'
        )

    def select(name: str, options: Sequence[str]) -> str:
        chosen = params.get(name, "")
        items = "".join(
            f'<option value="{_e(o)}"{" selected" if o == chosen else ""}>{_e(o or "any")}</option>'
            for o in ["", *options]
        )
        return f'<select id="f-{name}" name="{name}">{items}</select>'

    return (
        '<form class="filters card" method=get action="/" aria-label="Filter instances">'
        + field("workflow", "Workflow", select("workflow", names))
        + field("version", "Version", text("version", "any", "number"))
        + field("status", "Status", select("status", STATUSES))
        + field("id_prefix", "Id starts with", text("id_prefix", "e.g. claim-"))
        + field(
            "tag",
            "Tag",
            f'<input id=f-tag name=tag value="{_e(tags[0] if tags else "")}" '
            'placeholder="name=value">',
        )
        + field("created_from", "Created from (UTC)", text("created_from", "", "datetime-local"))
        + field("created_to", "Created to (UTC)", text("created_to", "", "datetime-local"))
        + field("updated_from", "Updated from (UTC)", text("updated_from", "", "datetime-local"))
        + field("updated_to", "Updated to (UTC)", text("updated_to", "", "datetime-local"))
        + '<div class="field buttons"><button type=submit>Filter</button>'
        '<a class=button-link href="/">Clear</a></div></form>'
    )


def _tags(tags: Mapping[str, str]) -> str:
    return " ".join(f"<span class=tag>{_e(k)}={_e(v)}</span>" for k, v in sorted(tags.items()))


def _instance_table(
    records: Sequence[InstanceRecord], tags: Mapping[str, Mapping[str, str]]
) -> str:
    if not records:
        return "<p class=empty>No instance matches.</p>"
    rows = "".join(
        "<tr>"
        f'<td><a href="{_e(instance_url(r.id))}">{_e(r.id)}</a></td>'
        f"<td>{_e(r.workflow)}</td><td>v{r.workflow_version}</td>"
        f"<td>{status_badge(str(r.status))}</td><td class=num>{r.last_seq}</td>"
        f"<td class=num>{r.attempts or ''}</td><td>{_tags(tags.get(r.id, {}))}</td>"
        f"<td>{_time(r.created_at)}</td><td>{_time(r.updated_at)}</td></tr>"
        for r in records
    )
    return (
        "<table class=list><caption class=visually-hidden>Instances</caption><thead><tr>"
        "<th scope=col>Id</th><th scope=col>Workflow</th><th scope=col>Version</th>"
        "<th scope=col>Status</th><th scope=col>Events</th><th scope=col>Attempts</th>"
        "<th scope=col>Tags</th><th scope=col>Created</th><th scope=col>Updated</th>"
        f"</tr></thead><tbody>{rows}</tbody></table>"
    )


def _pager(
    params: Mapping[str, str], tags: Sequence[str], records: Sequence[InstanceRecord], more: bool
) -> str:
    links = []
    if params.get("after"):
        links.append(f'<a href="{_e(_query(params, tags, after=None))}">First page</a>')
    if more:
        links.append(
            f'<a rel=next href="{_e(_query(params, tags, after=records[-1].id))}">Next page</a>'
        )
    return f"<nav class=pager aria-label=Pages>{' '.join(links)}</nav>" if links else ""


# -- workflows -------------------------------------------------------------------------------


def _svg(markup: str) -> str:
    """Graphviz's SVG, ready to put inline: without its XML prologue and doctype."""
    return markup[markup.index("<svg") :] if "<svg" in markup else markup


def _draw(workflow: Workflow[Any, Any, Any], marks: Any = None) -> str:
    from wio.renderers import render

    try:
        output = render(workflow, "svg", marks=marks, name=workflow.wio.meta.name or workflow.name)
    except WioError as exc:
        return f"<p class=error role=alert>The diagram cannot be drawn: {_e(exc)}</p>"
    return _svg(output if isinstance(output, str) else output.decode())


def workflows_page(api: Api) -> str:
    by_name: dict[str, list[Workflow[Any, Any, Any]]] = {}
    for (name, _), workflow in sorted(api.workflows.items()):
        by_name.setdefault(name, []).append(workflow)
    registered = {(w.name, w.version) for w in api.journal.list_workflows()}
    sections = []
    for name, versions in by_name.items():
        for index, workflow in enumerate(versions):
            base = f"/console/workflows/{quote(name, safe='')}/{workflow.version}"
            anchor = f"wf-{_e(name)}-{workflow.version}"
            instances_link = f"/?workflow={quote(name)}&amp;version={workflow.version}"
            problems = lint(workflow)
            lint_html = (
                "<p class=ok>Lint: no problems.</p>"
                if not problems
                else "<ul class=problems>"
                + "".join(f"<li>{_e(p)}</li>" for p in problems)
                + "</ul>"
            )
            compat_html = ""
            if index > 0:
                previous = versions[index - 1]
                report = compare(previous, workflow)
                verdict = "compatible" if report.compatible else "not compatible for every instance"
                compat_html = (
                    f"<details><summary>Compat v{previous.version} → v{workflow.version}: "
                    f"<strong>{verdict}</strong></summary><pre>"
                    f"{_e(render_compat(report, f'v{previous.version}', f'v{workflow.version}'))}"
                    "</pre></details>"
                )
            signal_names = sorted(s.name for s in workflow.all_signals())
            seen = (
                "registered by a worker"
                if (name, workflow.version) in registered
                else "not registered by a worker yet"
            )
            sections.append(
                f'<section class="card workflow" aria-labelledby="{anchor}">'
                f'<h2 id="{anchor}">{_e(name)} <small>v{workflow.version}</small></h2>'
                f"<p class=meta>{_e(seen)} · signals: {_e(', '.join(signal_names) or 'none')} · "
                f'<a href="{base}/model.json">model JSON</a> · '
                f'<a href="{base}/diagram.bpmn" download>BPMN for Camunda Modeler</a> · '
                f'<a href="{base}/diagram.svg">SVG</a> · '
                f'<a href="{instances_link}">instances</a></p>'
                f"{lint_html}{compat_html}<div class=diagram>{_draw(workflow)}</div></section>"
            )
    for w in api.journal.list_workflows():
        if (w.name, w.version) not in api.workflows:
            sections.append(
                f'<section class="card workflow"><h2>{_e(w.name)} <small>v{w.version}</small></h2>'
                "<p class=meta>registered by a worker; this server was not given its code "
                "(<code>--workflows</code>).</p></section>"
            )
    main = "<h1>Workflows</h1>" + ("".join(sections) or "<p class=empty>No workflows.</p>")
    return layout("Workflows", main, "workflows")


def workflow_download(api: Api, name: str, version: int, file: str) -> Response[str]:
    from wio.renderers import render

    workflow = api.workflows.get((name, version))
    if workflow is None:
        return Response(
            f"no workflow {name!r} version {version} on this server",
            status_code=404,
            media_type=MediaType.TEXT,
        )
    title = workflow.wio.meta.name or workflow.name
    if file == "model.json":
        return Response(str(render(workflow, "json")), media_type=MediaType.JSON)
    if file == "diagram.svg":
        return Response(_svg(_draw(workflow)), media_type="image/svg+xml")
    if file == "diagram.bpmn":
        body = render(workflow, "bpmn", name=title, bpmn_target="camunda8")
        return Response(
            str(body),
            media_type="application/xml",
            headers={"content-disposition": f'attachment; filename="{name}-v{version}.bpmn"'},
        )
    return Response("not found", status_code=404, media_type=MediaType.TEXT)


# -- one instance ---------------------------------------------------------------------------


def instance_page(api: Api, instance_id: str, schema_of: SchemaOf) -> tuple[str, int]:
    try:
        record = api.record(instance_id)
    except UnknownInstance as exc:
        main = f"<h1>Instance not found</h1><p class=error role=alert>{_e(exc)}</p>"
        return layout("Not found", main, "instances"), 404
    parts = instance_parts(api, record, schema_of)
    workflow_link = f'<a href="/?workflow={quote(record.workflow)}">{_e(record.workflow)}</a>'
    main = (
        f'<div id=instance data-id="{_e(record.id)}" data-workflow="{_e(record.workflow)}" '
        f'data-stamp="{_e(parts["stamp"])}">'
        f"<h1>Instance <code>{_e(record.id)}</code></h1>"
        f"<p class=meta>{workflow_link} v{record.workflow_version} · "
        f"created {_time(record.created_at)} · "
        "<span id=live-note aria-live=polite>live</span></p>"
        f"<div id=actions class=actions>{parts['actions']}</div>"
        "<p id=action-error class=error role=alert hidden></p>"
        "<div class=columns>"
        '<section class="card diagram-card" aria-labelledby=diagram-h><h2 id=diagram-h>Diagram</h2>'
        '<p class=legend><span class="key executed">executed</span> '
        '<span class="key waiting">waiting now</span> <span class="key failed">failed</span></p>'
        f"<div id=diagram class=diagram>{parts['diagram']}</div></section>"
        "<div class=side>"
        + _card("summary", "Status", parts["summary"])
        + _card("signals", "Expected signals", parts["signals"])
        + _card("state", "State", parts["state"])
        + "</div></div>"
        "<section class=card aria-labelledby=timeline-h><h2 id=timeline-h>Events</h2>"
        f"<div id=timeline>{parts['timeline']}</div></section>"
        '<section class="card operations" aria-labelledby=ops-h><h2 id=ops-h>Fork and deliver</h2>'
        f"{_fork_form(parts['fork_options'])}{_deliver_form(api, record)}</section>"
        "</div>"
    )
    return layout(f"Instance {record.id}", main, "instances"), 200


def _card(part: str, title: str, body: str) -> str:
    return (
        f"<section class=card aria-labelledby={part}-h><h2 id={part}-h>{title}</h2>"
        f"<div id={part}>{body}</div></section>"
    )


def stamp_of(record: InstanceRecord) -> str:
    """What changes whenever anything the page shows does."""
    return f"{record.last_seq}:{record.status}:{record.attempts}:{record.updated_at.isoformat()}"


def instance_look(
    api: Api, instance_id: str, stamp: str, schema_of: SchemaOf
) -> Callable[[], ServerSentEventMessage | None]:
    """What an instance page's stream sends: its parts when its row differs from what
    the page shows (the event's id is their stamp), "gone" once it is not there."""
    shown = stamp

    def look() -> ServerSentEventMessage | None:
        nonlocal shown
        try:
            record = api.record(instance_id)
        except UnknownInstance as exc:
            return event("gone", {"detail": str(exc)})
        if stamp_of(record) == shown:
            return None
        parts = instance_parts(api, record, schema_of)
        shown = parts["stamp"]
        return event("parts", parts, id=shown)

    return look


def instance_parts(api: Api, record: InstanceRecord, schema_of: SchemaOf) -> dict[str, Any]:
    """The parts of an instance's page that change as it runs, as HTML, with the
    stamp they were rendered at and the signals their forms are for."""
    workflow = api.workflows.get((record.workflow, record.workflow_version))
    events = api.journal.read(record.id)
    tags = api.journal.tags_of([record.id])[record.id]
    instance = None
    problem = None
    if workflow is None:
        problem = (
            f"this server was not given the code of {record.workflow} v{record.workflow_version} "
            "(--workflows): only the journal is shown"
        )
    else:
        try:
            instance = Runtime(workflow, journal=api.journal).get(record.id)  # takes no lease
        except Exception as exc:  # a journal the code cannot replay: show what is there
            problem = f"the journal cannot be replayed: {type(exc).__name__}: {exc}"
    expected = (
        [s for s in instance.expected_signals()]
        if instance is not None and record.status not in FINAL_STATUSES
        else []
    )
    return {
        "stamp": stamp_of(record),
        "status": str(record.status),
        "signal_names": [s.name for s in expected],
        "actions": _actions(record),
        "summary": _summary(record, instance, tags, problem),
        "diagram": _instance_diagram(workflow, instance, problem),
        "signals": _signal_forms(api, record, expected, schema_of),
        "state": _state(workflow, instance),
        "timeline": _timeline(workflow, events[-TIMELINE_SIZE:], len(events)),
        "fork_options": "".join(
            f'<option value="{e.seq}"{" selected" if e.seq == len(events) else ""}>'
            f"#{e.seq} {_e(e.type)}</option>"
            for e in events[-TIMELINE_SIZE:]
        ),
    }


def _actions(record: InstanceRecord) -> str:
    """The verbs the API would take now (it checks again): retry a failed instance;
    cancel any that has not ended, or a failed one, so that nobody retries it."""
    retry_ok = record.status == InstanceStatus.FAILED
    cancel_ok = record.status not in (InstanceStatus.FINISHED, InstanceStatus.CANCELLED)
    return (
        f"<button type=button data-action=retry{'' if retry_ok else ' disabled'}>Retry</button>"
        f"<button type=button class=danger data-action=cancel{'' if cancel_ok else ' disabled'}>"
        "Cancel</button>"
    )


def _summary(
    record: InstanceRecord, instance: Any, tags: Mapping[str, str], problem: str | None
) -> str:
    rows = [
        ("Status", status_badge(str(record.status))),
        (
            "Waiting for",
            _e(instance.waiting_for())
            if instance is not None and record.status == InstanceStatus.WAITING
            else "—",
        ),
        ("Events", str(record.last_seq)),
        ("Attempts", str(record.attempts)),
        (
            "Next retry" if record.status == InstanceStatus.RUNNING else "Wakes up",
            _time(record.wakeup_at),
        ),
        ("Updated", _time(record.updated_at)),
        ("Tags", _tags(tags) or "—"),
    ]
    body = "".join(f"<dt>{label}</dt><dd>{value}</dd>" for label, value in rows)
    error = (
        f"<div class=last-error><h3>Last error</h3><pre>{_e(record.last_error)}</pre></div>"
        if record.last_error
        else ""
    )
    note = f"<p class=error role=alert>{_e(problem)}</p>" if problem else ""
    return f"{note}<dl class=facts>{body}</dl>{error}"


def _instance_diagram(
    workflow: Workflow[Any, Any, Any] | None, instance: Any, problem: str | None
) -> str:
    if workflow is None:
        return f"<p class=empty>{_e(problem or 'no diagram')}</p>"
    from wio.renderers import Marks

    return _draw(workflow, Marks.of(instance) if instance is not None else None)


def _state(workflow: Workflow[Any, Any, Any] | None, instance: Any) -> str:
    if instance is None:
        return "<p class=empty>Not known: the journal was not replayed.</p>"
    try:
        value = encode_value(instance.state, object)
    except Exception as exc:
        return f"<pre>{_e(repr(instance.state))}</pre><p class=error>{_e(exc)}</p>"
    return f"<pre>{_e(json.dumps(value, indent=2, sort_keys=True, default=str))}</pre>"


def _timeline(
    workflow: Workflow[Any, Any, Any] | None, events: Sequence[StoredEvent], total: int
) -> str:
    if not events:
        return "<p class=empty>No events yet.</p>"
    hidden = total - len(events)
    note = (
        f"<p class=meta>The latest {len(events)} of {total} events; "
        f"<code>GET /instances/{{id}}/events</code> has all of them.</p>"
        if hidden
        else ""
    )
    rows = []
    for stored in events:
        payload, error = _decoded(workflow, stored)
        shown = f"<pre>{_e(payload)}</pre>"
        if error is not None:
            shown = (
                f"<pre class=raw>{_e(json.dumps(stored.payload, sort_keys=True))}</pre>"
                f"<p class=error>cannot decode: {_e(error)}</p>"
            )
        rows.append(
            f'<tr data-seq="{stored.seq}"><td class=num>#{stored.seq}</td>'
            f"<td>{_time(stored.recorded_at)}</td><td><code>{_e(stored.node or '—')}</code></td>"
            f"<td>{_e(stored.type)} <small>v{stored.version}</small></td><td>{shown}</td></tr>"
        )
    return note + (
        "<table class=timeline><thead><tr><th scope=col>Seq</th><th scope=col>Recorded</th>"
        "<th scope=col>Node</th><th scope=col>Type</th><th scope=col>Payload</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _decoded(
    workflow: Workflow[Any, Any, Any] | None, stored: StoredEvent
) -> tuple[str, str | None]:
    """The event as the workflow's code reads it, or the reason it cannot."""
    if workflow is None:
        return json.dumps(stored.payload, sort_keys=True), None
    try:
        return repr(workflow.codec.decode(stored)), None
    except Exception as exc:
        return "", f"{type(exc).__name__}: {exc}"


# -- forms ------------------------------------------------------------------------------------


SchemaOf = Callable[[str, str], dict[str, Any]]


def _signal_forms(
    api: Api, record: InstanceRecord, expected: Sequence[Any], schema_of: SchemaOf
) -> str:
    if not expected:
        return "<p class=empty>None now.</p>"
    forms = []
    newest = api.newest(record.workflow)
    for signal in expected:
        schema = schema_of(newest.name, signal.name)
        url = (
            f"/workflows/{quote(newest.name, safe='')}/instances/"
            f"{quote(record.id, safe='')}/signals/{quote(signal.name, safe='')}"
        )
        fields = "".join(
            _schema_field(signal.name, name, spec, name in schema.get("required", []))
            for name, spec in schema.get("properties", {}).items()
        ) or _schema_field(signal.name, "request", {}, True)
        forms.append(
            f'<form class=signal data-signal="{_e(signal.name)}" data-url="{_e(url)}" novalidate>'
            f"<h3>{_e(signal.name)}</h3>{fields}"
            f"<p class=error role=alert data-form-error hidden></p>"
            f"<button type=submit>Send {_e(signal.name)}</button></form>"
        )
    return "".join(forms)


class Schemas:
    """The JSON Schemas of the signals' request types, from the API's OpenAPI document
    (the one `wio serve --openapi` prints), resolved once per server."""

    def __init__(self) -> None:
        self._document: dict[str, Any] | None = None

    def request(self, app: Any, workflow: str, signal: str) -> dict[str, Any]:
        if self._document is None:
            self._document = app.openapi_schema.to_schema()
        document = self._document
        path = f"/workflows/{workflow}/instances/{{instance_id}}/signals/{signal}"
        try:
            body = document["paths"][path]["post"]["requestBody"]
            schema = body["content"]["application/json"]["schema"]
        except KeyError:
            return {}
        found = _resolved(document, schema)
        properties = found.get("properties", {})
        found["properties"] = {k: _resolved(document, v) for k, v in properties.items()}
        return found


def _resolved(document: Mapping[str, Any], schema: Any) -> dict[str, Any]:
    while isinstance(schema, Mapping) and "$ref" in schema:
        name = str(schema["$ref"]).rpartition("/")[2]
        schema = document.get("components", {}).get("schemas", {}).get(name, {})
    if isinstance(schema, Mapping) and "oneOf" in schema:  # T | None
        options = [o for o in schema["oneOf"] if o.get("type") != "null"]
        if len(options) == 1:
            return {**_resolved(document, options[0]), "nullable": True}
    return dict(schema) if isinstance(schema, Mapping) else {}


def _schema_field(form: str, name: str, spec: Mapping[str, Any], required: bool) -> str:
    """A labelled control for one property; kinds the schema does not name take JSON."""
    ident = f"sig-{re.sub(r'[^A-Za-z0-9_-]', '_', form)}-{re.sub(r'[^A-Za-z0-9_-]', '_', name)}"
    kind = spec.get("type", "json")
    error = f'<p class=field-error id="{ident}-error" data-error-for="{_e(name)}" hidden></p>'
    mark = " <span class=required aria-hidden=true>*</span>" if required else ""
    common = (
        f'id="{ident}" name="{_e(name)}" data-type="{_e(kind)}" aria-describedby="{ident}-error"'
        f"{' required' if required else ''}{' data-nullable=true' if spec.get('nullable') else ''}"
    )
    if kind == "boolean":
        return (
            f"<div class=field><label class=check><input type=checkbox {common}> "
            f"{_e(name)}{mark}</label>{error}</div>"
        )
    numeric = " inputmode=numeric" if kind in ("integer", "number") else ""
    hint = {"integer": "a whole number", "number": "a number", "json": "JSON"}.get(kind, "")
    control = (
        f"<textarea {common} rows=3></textarea>"
        if kind == "json"
        else f"<input {common} type=text{numeric}>"
    )
    hint_html = f" <small class=hint>{hint}</small>" if hint else ""
    label = f'<label for="{ident}">{_e(name)}{mark}{hint_html}</label>'
    return f"<div class=field>{label}{control}{error}</div>"


def _fork_form(options: str) -> str:
    return (
        "<form id=fork-form class=inline-form novalidate>"
        "<h3>Fork at an event</h3>"
        "<div class=field><label for=fork-at>Keep events up to</label>"
        f"<select id=fork-at name=at>{options}</select></div>"
        "<div class=field><label for=fork-id>New instance id</label>"
        "<input id=fork-id name=new_id required aria-describedby=fork-id-error>"
        "<p class=field-error id=fork-id-error data-error-for=new_id hidden></p></div>"
        "<p class=error role=alert data-form-error hidden></p>"
        "<button type=submit>Fork</button></form>"
    )


def _deliver_form(api: Api, record: InstanceRecord) -> str:
    workflow = api.workflows.get((record.workflow, record.workflow_version))
    names = workflow.codec.event_names() if workflow is not None else []
    options = "".join(f'<option value="{_e(n)}">{_e(n)}</option>' for n in names)
    return (
        "<form id=deliver-form class=inline-form novalidate>"
        "<h3>Deliver an event</h3>"
        "<div class=field><label for=deliver-type>Event type</label>"
        f"<select id=deliver-type name=type>{options}</select></div>"
        "<div class=field><label for=deliver-payload>Payload (JSON)</label>"
        "<textarea id=deliver-payload name=payload rows=3 data-type=json required "
        "aria-describedby=deliver-payload-error>{}</textarea>"
        "<p class=field-error id=deliver-payload-error data-error-for=payload hidden></p></div>"
        "<p class=error role=alert data-form-error hidden></p>"
        "<button type=submit>Deliver</button></form>"
    )
