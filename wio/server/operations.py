"""The operator endpoints of `wio serve` that act on many instances, and migrate.

`POST /bulk/{retry,cancel,fork,migrate}` select instances by status, workflow,
version and last update, as the CLI's bulk flags do. ``dry_run`` lists the
selection and changes nothing; otherwise ``confirm`` must be the number of
instances selected (the count a dry run reported), so that a selection that
grew or shrank since is refused whole, with nothing written. Each selected
instance then succeeds or is refused on its own, with the reason.
`POST /instances/{id}/migrate` moves one instance, after checking it by replay.

Bodies are structured by wio's strict converter from the JSON as sent, so
``"version": "2"`` is a 400 that names ``version``, not version 2.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs
from litestar import Request, post
from litestar.params import FromPath, JSONBody

from wio.codec import InputError, decode_input
from wio.errors import WioError
from wio.journal import InstanceRecord, InstanceStatus
from wio.migration import Outcome, migrate
from wio.operations import (
    MigrationRefused,
    Selection,
    cancel,
    check_confirmed,
    each,
    fork,
    retry,
)
from wio.server.app import Api, InstanceView, in_thread, view

if TYPE_CHECKING:
    from wio.definition import Workflow


@attrs.frozen(kw_only=True)
class BulkRetry:
    """Which instances to retry: at least one of status, workflow, version, since."""

    status: InstanceStatus | None = None
    workflow: str | None = None
    version: int | None = None
    since: datetime | None = None  # updated at or after this moment
    dry_run: bool = False
    confirm: int | None = None  # the number selected; required unless dry_run


@attrs.frozen(kw_only=True)
class BulkCancel:
    status: InstanceStatus | None = None
    workflow: str | None = None
    version: int | None = None
    since: datetime | None = None
    dry_run: bool = False
    confirm: int | None = None
    reason: str = "cancelled through the HTTP API"


@attrs.frozen(kw_only=True)
class BulkFork:
    """``new_id`` is a template with ``{id}``: each fork's id, from its original's."""

    at: int
    new_id: str
    to_version: int | None = None  # the version the forks run (default: the newest)
    status: InstanceStatus | None = None
    workflow: str | None = None
    version: int | None = None  # the originals' version
    since: datetime | None = None
    dry_run: bool = False
    confirm: int | None = None


@attrs.frozen(kw_only=True)
class BulkMigrate:
    """Move a workflow's instances to ``to_version``, each checked by replay first."""

    workflow: str
    to_version: int
    status: InstanceStatus | None = None
    version: int | None = None  # only instances at this version
    since: datetime | None = None
    dry_run: bool = False
    confirm: int | None = None
    allow_recovery_wait: bool = False


@attrs.frozen(kw_only=True)
class MigrateRequest:
    to_version: int
    dry_run: bool = False
    allow_recovery_wait: bool = False


@attrs.frozen
class OutcomeView:
    instance_id: str
    outcome: str  # retried, cancelled, forked, migrated, would migrate, skipped, refused
    detail: str


@attrs.frozen
class BulkReport:
    verb: str
    dry_run: bool
    selected: int
    done: int
    refused: int
    instances: list[InstanceView]  # the selection, as it was before the action
    outcomes: list[OutcomeView]


@attrs.frozen
class MigrationView:
    instance_id: str
    outcome: str
    from_version: int | None
    to_version: int
    detail: str


BulkBody = BulkRetry | BulkCancel | BulkFork | BulkMigrate


def operation_handlers(api: Api) -> list[Any]:
    def structured(raw: Any, kind: type[Any]) -> Any:
        body = decode_input(raw, kind, "body", "request")
        for name in ("version", "to_version", "confirm", "at"):
            value = getattr(body, name, None)
            if value is not None and value < 0:
                raise InputError(f"body: {name}: expected 0 or more, got {value}")
        return body

    def chosen(verb: str, body: BulkBody) -> list[InstanceRecord]:
        selection = Selection(
            status=body.status, workflow=body.workflow, version=body.version, since=body.since
        )
        return selection.records(api.journal, f"body: {verb}")

    def confirmed(verb: str, body: BulkBody, records: list[InstanceRecord]) -> None:
        if body.dry_run:
            return
        if body.confirm is None:
            raise InputError(
                f"body: confirm: {verb} selects {len(records)} instance(s); pass "
                f'"confirm": {len(records)} to act on them, or "dry_run": true to list them'
            )
        check_confirmed(verb, records, body.confirm)

    def report(
        verb: str,
        past: str,
        body: BulkBody,
        records: list[InstanceRecord],
        action: Callable[[InstanceRecord], InstanceRecord],
    ) -> BulkReport:
        confirmed(verb, body, records)
        instances = [view(r) for r in records]
        if body.dry_run:
            return BulkReport(verb, True, len(records), 0, 0, instances, [])
        outcomes = [
            OutcomeView(o.instance_id, past if o.done else "refused", o.detail)
            for o in each(records, action)
        ]
        done = sum(o.outcome == past for o in outcomes)
        return BulkReport(
            verb, False, len(records), done, len(outcomes) - done, instances, outcomes
        )

    @post("/bulk/retry", status_code=200, summary="Retry the failed instances selected")
    async def bulk_retry(request: Request[Any, Any, Any], data: JSONBody[BulkRetry]) -> BulkReport:
        raw = await request.json()  # as sent, before Litestar's lenient decoding

        def act() -> BulkReport:
            body: BulkRetry = structured(raw, BulkRetry)
            return report(
                "retry", "retried", body, chosen("retry", body), lambda r: retry(api.journal, r.id)
            )

        return await in_thread(request, act)  # type: ignore[no-any-return]

    @post("/bulk/cancel", status_code=200, summary="Cancel the instances selected")
    async def bulk_cancel(
        request: Request[Any, Any, Any], data: JSONBody[BulkCancel]
    ) -> BulkReport:
        raw = await request.json()  # as sent, before Litestar's lenient decoding

        def act() -> BulkReport:
            body: BulkCancel = structured(raw, BulkCancel)
            return report(
                "cancel",
                "cancelled",
                body,
                chosen("cancel", body),
                lambda r: cancel(api.journal, r.id, body.reason),
            )

        return await in_thread(request, act)  # type: ignore[no-any-return]

    @post("/bulk/fork", status_code=200, summary="Fork each instance selected at one event")
    async def bulk_fork(request: Request[Any, Any, Any], data: JSONBody[BulkFork]) -> BulkReport:
        raw = await request.json()  # as sent, before Litestar's lenient decoding

        def act() -> BulkReport:
            body: BulkFork = structured(raw, BulkFork)
            if "{id}" not in body.new_id:
                raise InputError(
                    "body: new_id: forking several instances needs a template with {id}, "
                    "such as '{id}-fixed'"
                )
            return report(
                "fork",
                "forked",
                body,
                chosen("fork", body),
                lambda r: fork(
                    api.journal,
                    r.id,
                    body.at,
                    body.new_id.replace("{id}", r.id),
                    version=body.to_version,
                ),
            )

        return await in_thread(request, act)  # type: ignore[no-any-return]

    @post(
        "/bulk/migrate",
        status_code=200,
        summary="Move a workflow's instances selected to another version, each checked first",
    )
    async def bulk_migrate(
        request: Request[Any, Any, Any], data: JSONBody[BulkMigrate]
    ) -> BulkReport:
        raw = await request.json()  # as sent, before Litestar's lenient decoding

        def act() -> BulkReport:
            body: BulkMigrate = structured(raw, BulkMigrate)
            target = code_of(body.workflow, body.to_version)
            records = chosen("migrate", body)
            confirmed("migrate", body, records)
            results = migrate(
                api.journal,
                target,
                instance_ids=[r.id for r in records],
                dry_run=body.dry_run,
                allow_recovery_wait=body.allow_recovery_wait,
            )
            outcomes = [OutcomeView(r.instance_id, str(r.outcome), r.reason) for r in results]
            done = sum(r.outcome == Outcome.MIGRATED for r in results)
            refused = sum(r.outcome == Outcome.REFUSED for r in results)
            instances = [view(r) for r in records]
            return BulkReport(
                "migrate", body.dry_run, len(records), done, refused, instances, outcomes
            )

        return await in_thread(request, act)  # type: ignore[no-any-return]

    @post(
        "/instances/{instance_id:str}/migrate",
        status_code=200,
        summary="Move an instance to another version of its workflow, after checking it",
    )
    async def migrate_instance(
        request: Request[Any, Any, Any], instance_id: FromPath[str], data: JSONBody[MigrateRequest]
    ) -> MigrationView:
        raw = await request.json()  # as sent, before Litestar's lenient decoding

        def act() -> MigrationView:
            body: MigrateRequest = structured(raw, MigrateRequest)
            record = api.record(instance_id)
            target = code_of(record.workflow, body.to_version)
            (result,) = migrate(
                api.journal,
                target,
                instance_ids=[instance_id],
                dry_run=body.dry_run,
                allow_recovery_wait=body.allow_recovery_wait,
            )
            if result.outcome not in (Outcome.MIGRATED, Outcome.WOULD_MIGRATE):
                raise MigrationRefused(result.instance_id, str(result.outcome), result.reason)
            return MigrationView(
                result.instance_id,
                str(result.outcome),
                result.from_version,
                result.to_version,
                result.reason,
            )

        return await in_thread(request, act)  # type: ignore[no-any-return]

    def code_of(workflow: str, version: int) -> Workflow[Any, Any, Any]:
        found = api.workflows.get((workflow, version))
        if found is None:
            given = sorted(f"{n} v{v}" for n, v in api.workflows)
            raise WioError(
                f"cannot migrate to {workflow} v{version}: this server was not given its code "
                f"(--workflows gives {', '.join(given) or 'none'}); nothing was written"
            )
        return found

    return [bulk_retry, bulk_cancel, bulk_fork, bulk_migrate, migrate_instance]
