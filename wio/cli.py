"""The ``wio`` command."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from wio.errors import WioError
from wio.journal import InstanceStatus, open_journal, redact_url
from wio.journal.records import FINAL_STATUSES
from wio.logs import configure_logging
from wio.operations_cli import add_commands as add_operation_commands
from wio.renderers import BPMN_TARGETS, FORMATS
from wio.server.command import add_command as add_serve_command

DEFAULT_JOURNAL = "sqlite:///wio.db"
USAGE_ERROR = 2  # as argparse exits on bad arguments


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    _reclaim_positionals(parser, args)
    configure_logging(
        os.environ.get("WIO_LOG_LEVEL")
        or ("INFO" if getattr(args, "logs_by_default", False) else "WARNING"),
        getattr(args, "log_format", "text"),
    )
    try:
        status = int(args.handler(args))
        sys.stdout.flush()  # inside the try: a closed pipe is reported here, not at exit
        return status
    except WioError as exc:  # every error wio raises, the journal's included
        print(f"wio: error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader went away (`wio render ... | head -1`): stop quietly, as `cat` does.
        # Point stdout at /dev/null so that the interpreter's final flush cannot fail too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wio", description="Durable workflows composed in code.")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    journal_help = f"journal URL (default: $WIO_JOURNAL or {DEFAULT_JOURNAL})"
    default_journal = os.environ.get("WIO_JOURNAL", DEFAULT_JOURNAL)

    render = commands.add_parser("render", help="print a workflow's model or diagram")
    render.add_argument("target", metavar="PATH_OR_MODULE:ATTR")
    render.add_argument("--format", "-f", choices=FORMATS, default="json")
    render.add_argument("-o", "--output", type=Path, help="write to FILE instead of stdout")
    render.add_argument(
        "--show-technical", action="store_true", help="draw checkpoints and recoveries"
    )
    render.add_argument(
        "--bpmn-target",
        choices=BPMN_TARGETS,
        default="spiffworkflow",
        help="the engine BPMN's expressions are written for (camunda8: Camunda Modeler, Zeebe)",
    )
    render.add_argument(
        "--instance",
        metavar="ID",
        help="mark what this instance ran, where it waits and what failed",
    )
    render.add_argument("--journal", default=default_journal, help=journal_help)
    render.set_defaults(handler=_render)

    lint = commands.add_parser("lint", help="report problems in a workflow's definition")
    lint.add_argument("target", metavar="PATH_OR_MODULE:ATTR")
    lint.set_defaults(handler=_lint)

    compat = commands.add_parser(
        "compat",
        help="which in-flight instances a new version breaks",
        description="Compare two versions of a workflow and classify every change by the "
        "in-flight instances it breaks (see docs/compat.md). Exit status: 0 when every change "
        "is safe for every instance, 1 when some instances break, 2 on bad usage or input.",
    )
    compat.add_argument("old", metavar="OLD", help="PATH_OR_MODULE:ATTR, or a model JSON file")
    compat.add_argument("new", metavar="NEW", help="PATH_OR_MODULE:ATTR, or a model JSON file")
    compat.add_argument("--json", action="store_true", help="print JSON (docs/compat.md)")
    compat.set_defaults(handler=_compat)

    start = commands.add_parser("start", help="create an instance for the workers to run")
    start.add_argument(
        "targets",
        nargs="+",
        metavar="PATH_OR_MODULE:ATTR",
        help="the workflow, or several versions of it: the newest is started",
    )
    start.add_argument("--version", type=int, help="start this version rather than the newest")
    start.add_argument("--journal", default=default_journal, help=journal_help)
    start.add_argument("--id", required=True, help="the new instance's id")
    start.add_argument("--input", required=True, help="the input, as JSON")
    start.add_argument(
        "--advance", action="store_true", help="also advance it here until it blocks"
    )
    start.set_defaults(handler=_start)

    instances = commands.add_parser("instances", help="list instances")
    instances.add_argument("--journal", default=default_journal, help=journal_help)
    instances.add_argument("--status", choices=[s.value for s in InstanceStatus])
    instances.add_argument("--workflow", help="only this workflow's instances")
    instances.add_argument(
        "--served-within",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="a version counts as served if a worker registered it this recently (600)",
    )
    instances.set_defaults(handler=_instances)

    prune = commands.add_parser(
        "prune", help="delete finished instances and their events, in small batches"
    )
    prune.add_argument("--journal", default=default_journal, help=journal_help)
    prune.add_argument(
        "--finished-before",
        required=True,
        type=_timestamp,
        metavar="DATE",
        help="ISO 8601 date or time (UTC unless it has an offset): prune instances "
        "whose last update is older",
    )
    prune.add_argument(
        "--status",
        action="append",
        choices=sorted(str(s) for s in FINAL_STATUSES),
        help="prune only instances in this status (repeatable; default: all final statuses)",
    )
    prune.add_argument(
        "--batch-size", type=int, default=1000, help="instances deleted per transaction"
    )
    prune.add_argument("--dry-run", action="store_true", help="count the instances, delete nothing")
    prune.set_defaults(handler=_prune)

    inspect = commands.add_parser("inspect", help="show an instance's events, state and progress")
    inspect.add_argument("id", nargs="?", metavar="ID")
    inspect.add_argument("--journal", default=default_journal, help=journal_help)
    inspect.add_argument(
        "--workflows",
        nargs="*",
        default=[],
        metavar="PATH_OR_MODULE:ATTR",
        help="the workflow code, to replay the events into state and progress",
    )
    inspect.add_argument("--json", action="store_true", help="print JSON")
    inspect.set_defaults(handler=_inspect, positionals=("id",))

    signal = commands.add_parser("signal", help="deliver a signal to an instance")
    signal.add_argument("id", nargs="?", metavar="ID")
    signal.add_argument("signal", nargs="?", metavar="SIGNAL", help="the signal's name")
    signal.add_argument("--journal", default=default_journal, help=journal_help)
    signal.add_argument("--request", required=True, help="the request, as JSON")
    signal.add_argument(
        "--key", help="idempotency key: a repeat with it returns the first response"
    )
    signal.add_argument(
        "--workflows",
        nargs="+",
        required=True,
        metavar="PATH_OR_MODULE:ATTR",
        help="the workflow code, which handles the signal",
    )
    signal.set_defaults(handler=_signal, positionals=("id", "signal"))

    deliver = commands.add_parser(
        "deliver", help="record an event an instance waits for (e.g. at a recover node)"
    )
    deliver.add_argument("id")
    deliver.add_argument("--journal", default=default_journal, help=journal_help)
    deliver.add_argument("--event", required=True, metavar="TYPE", help="the event's type name")
    deliver.add_argument("--data", required=True, metavar="JSON", help="the event, as JSON")
    deliver.add_argument(
        "--workflows",
        nargs="+",
        required=True,
        metavar="PATH_OR_MODULE:ATTR",
        help="the workflow code, which decodes and validates the event",
    )
    deliver.set_defaults(handler=_deliver)

    replay = commands.add_parser(
        "replay", help="replay stored instances against code, strictly; reads only"
    )
    replay.add_argument("--journal", default=default_journal, help=journal_help)
    replay.add_argument(
        "--workflows",
        nargs="+",
        required=True,
        metavar="PATH_OR_MODULE:ATTR",
        help="the code; an instance whose version is not given replays against the newest",
    )
    replay.add_argument(
        "--status",
        nargs="+",
        default=[],
        choices=[s.value for s in InstanceStatus],
        help="only instances with these statuses",
    )
    replay.add_argument(
        "--instance", nargs="+", default=[], metavar="ID", help="only these instances"
    )
    replay.set_defaults(handler=_replay)

    db = commands.add_parser("db", help="manage the journal's schema")
    db_commands = db.add_subparsers(required=True, metavar="ACTION")
    upgrade = db_commands.add_parser("upgrade", help="apply missing schema migrations")
    upgrade.add_argument("--journal", default=default_journal, help=journal_help)
    upgrade.set_defaults(handler=_db_upgrade)

    worker = commands.add_parser("worker", help="run instances until stopped (SIGTERM)")
    worker.add_argument("--journal", default=default_journal, help=journal_help)
    worker.add_argument("--workflows", nargs="+", required=True, metavar="PATH_OR_MODULE:ATTR")
    worker.add_argument("--owner", help="lease owner name (default: host:pid:random)")
    worker.add_argument("--lease-ttl", type=_positive, default=30.0, metavar="SECONDS")
    worker.add_argument("--poll-interval", type=_positive, default=1.0, metavar="SECONDS")
    worker.add_argument("--shutdown-timeout", type=_seconds, default=30.0, metavar="SECONDS")
    worker.add_argument(
        "--concurrency",
        type=_count,
        default=8,
        metavar="N",
        help="instances advanced at once, each in a thread with a connection of its own; "
        "on PostgreSQL their appends are committed together unless the URL sets "
        "group_commit (?group_commit=0: each alone) (8)",
    )
    worker.add_argument(
        "--max-retry-delay",
        type=_positive,
        default=5.0,
        metavar="SECONDS",
        help="longest wait between two tries while the journal is unavailable (5)",
    )
    worker.add_argument(
        "--health-port", type=_port, help="serve GET /health and /metrics on this port"
    )
    worker.add_argument(
        "--health-host", default="127.0.0.1", help="address of /health (default: 127.0.0.1)"
    )
    worker.add_argument(
        "--log-format", choices=("text", "json"), default="text", help="worker log lines"
    )
    worker.add_argument(
        "--once", action="store_true", help="run what is runnable now, then exit (e.g. from cron)"
    )
    worker.add_argument(
        "--strict",
        action="store_true",
        help="fail an instance whose journal holds an event no node accepts (default: warn)",
    )
    worker.set_defaults(handler=_worker, logs_by_default=True)

    def add_journal(command: argparse.ArgumentParser) -> None:
        command.add_argument("--journal", default=default_journal, help=journal_help)

    add_operation_commands(commands, add_journal)
    add_serve_command(commands, add_journal, _port)

    demo = commands.add_parser("demo", help="run the order example: crash, resume, finish")
    demo.set_defaults(handler=_demo)
    return parser


def _reclaim_positionals(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Give back to the positionals the words a ``--workflows`` list took from them.

    argparse lets ``--workflows T1 T2`` take every word after it, so in
    ``wio inspect --workflows T ID`` the id would be read as a target. Targets
    are always ``PATH_OR_MODULE:ATTR``: trailing words without a colon are not.
    """
    names: tuple[str, ...] = getattr(args, "positionals", ())
    missing = [name for name in names if getattr(args, name) is None]
    targets: list[str] = getattr(args, "workflows", None) or []
    while missing and targets and ":" not in targets[-1]:
        setattr(args, missing.pop(), targets.pop())
    if missing:
        parser.error(f"the following arguments are required: {', '.join(missing).upper()}")


def _render(args: argparse.Namespace) -> int:
    from wio.loading import load_definition
    from wio.renderers import Marks, render
    from wio.runtime import Runtime

    if args.instance is not None and args.format in ("json", "bpmn"):
        raise WioError(
            f"--instance: the {args.format} format cannot mark the nodes an instance ran; "
            "use mermaid, dot, svg, png or text"
        )
    definition = load_definition(args.target)
    marks = Marks()
    if args.instance is not None:
        with open_journal(args.journal, create=False) as journal:
            runtime = Runtime(definition, journal=journal)
            marks = Marks.of(runtime.get(args.instance))
    output = render(
        definition,
        args.format,
        show_technical=args.show_technical,
        marks=marks,
        bpmn_target=args.bpmn_target,
        name=definition.wio.meta.name or definition.name,
    )
    if isinstance(output, bytes):
        if args.output is None:
            sys.stdout.buffer.write(output)
            sys.stdout.buffer.flush()
        else:
            _write(args.output, output)
        return 0
    _emit(output.rstrip("\n"), args.output)
    return 0


def _lint(args: argparse.Namespace) -> int:
    from wio.lint import lint
    from wio.loading import load_definition

    problems = lint(load_definition(args.target))
    for problem in problems:
        print(problem)
    if not problems:
        print(f"{args.target}: no problems found")
    return 1 if problems else 0


def _compat(args: argparse.Namespace) -> int:
    from wio.compat import compare, render, to_json

    try:
        old, new = _version(args.old), _version(args.new)
    except WioError as exc:
        print(f"wio compat: error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    report = compare(old, new)
    print(to_json(report) if args.json else render(report, args.old, args.new))
    return 0 if report.compatible else 1


def _version(source: str) -> Any:
    """A workflow version: a model JSON file (``*.json``) or a workflow target (a
    `Workflow`, whose cleanup flow is compared too, or a bare WIO)."""
    from wio.loading import load_definition
    from wio.model import from_json

    if source.endswith(".json"):
        path = Path(source)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise WioError(f"cannot read model JSON {source}: {exc.strerror}") from None
        try:
            return from_json(text)
        except WioError as exc:
            raise WioError(f"{source}: {exc}") from None
    try:
        return load_definition(source)
    except WioError:
        raise
    except Exception as exc:  # the user's module failed to import
        raise WioError(f"cannot load {source}: {type(exc).__name__}: {exc}") from None


def _start(args: argparse.Namespace) -> int:
    from wio.codec import decode_input
    from wio.loading import load_definition
    from wio.runtime import Runtime
    from wio.versions import WorkflowVersions

    versions = WorkflowVersions(load_definition(target) for target in args.targets)
    definition = versions.pick(version=args.version)
    try:
        data = json.loads(args.input)
    except json.JSONDecodeError as exc:
        raise WioError(f"--input is not JSON: {exc}") from None
    value = decode_input(data, definition.input_type, "--input")
    with Runtime(definition, journal=args.journal) as runtime:
        instance = runtime.create(args.id, value)
        if args.advance:
            instance.advance()
        print(f"instance {args.id!r} of {definition.name!r}: {instance.status}")
    return 0


def _instances(args: argparse.Namespace) -> int:
    from datetime import UTC, timedelta

    from wio.inspection import why_not_running
    from wio.worker import served_versions

    with open_journal(args.journal, create=False) as journal:
        records = journal.list_instances(
            InstanceStatus(args.status) if args.status else None, args.workflow
        )
        registered = journal.list_workflows()
    now = datetime.now(UTC)
    served = served_versions(registered, now, timedelta(seconds=args.served_within))
    rows = [
        (r.id, f"{r.workflow} v{r.workflow_version}", str(r.status), str(r.last_seq),
         r.updated_at.isoformat(timespec="seconds"), why_not_running(r, registered, served, now),
         r.last_error or "")
        for r in records
    ]  # fmt: skip
    _table(("ID", "WORKFLOW", "STATUS", "EVENTS", "UPDATED", "REASON", "LAST ERROR"), rows)
    return 0


def _timestamp(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 date or time, such as 2026-01-31 or "
            "2026-01-31T12:00:00+00:00"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _prune(args: argparse.Namespace) -> int:
    if args.batch_size < 1:
        print("wio: error: --batch-size must be at least 1", file=sys.stderr)
        return 2
    statuses = [InstanceStatus(s) for s in args.status] if args.status else FINAL_STATUSES
    with open_journal(args.journal) as journal:
        count = journal.prune(
            args.finished_before, statuses, batch_size=args.batch_size, dry_run=args.dry_run
        )
    when = args.finished_before.isoformat()
    verb = "would delete" if args.dry_run else "deleted"
    print(f"{redact_url(args.journal)}: {verb} {count} instances last updated before {when}")
    return 0


def _inspect(args: argparse.Namespace) -> int:
    from wio.inspection import inspect_instance

    with open_journal(args.journal, create=False) as journal:
        report = inspect_instance(journal, args.id, args.workflows)
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        _print_report(report)
    return 0


def _signal(args: argparse.Namespace) -> int:
    from wio.codec import encode_value
    from wio.loading import definition_for
    from wio.runtime import Runtime

    try:
        request = json.loads(args.request)
    except json.JSONDecodeError as exc:
        raise WioError(f"--request is not JSON: {exc}") from None
    with open_journal(args.journal, create=False) as journal:
        record = journal.get_instance(args.id)
        definition = definition_for(record.workflow, record.workflow_version, args.workflows)
        if definition is None:
            raise WioError(
                f"instance {args.id!r} runs {record.workflow} v{record.workflow_version}, "
                "which none of --workflows defines"
            )
        known = {s.name: s for s in definition.all_signals()}
        if args.signal not in known:
            names = ", ".join(sorted(known)) or "none"
            raise WioError(f"{definition.name} has no signal {args.signal!r} (it has: {names})")
        runtime = Runtime(definition, journal=journal)
        response = runtime.get(args.id).signal(known[args.signal], request, key=args.key)
    print(json.dumps(encode_value(response, object), ensure_ascii=False))
    return 0


def _deliver(args: argparse.Namespace) -> int:
    from wio.delivery import deliver

    try:
        data = json.loads(args.data)
    except json.JSONDecodeError as exc:
        raise WioError(f"--data is not JSON: {exc}") from None
    with open_journal(args.journal) as journal:
        delivered = deliver(journal, args.id, args.event, data, args.workflows)
    print(delivered)
    return 0


def _replay(args: argparse.Namespace) -> int:
    from wio.loading import load_definition
    from wio.replayer import replay_journal

    definitions = [load_definition(target) for target in args.workflows]
    statuses = [InstanceStatus(s) for s in args.status]
    replayed = diverged = 0
    with open_journal(args.journal, upgrade=False) as journal:  # reads only
        for verdict in replay_journal(
            journal, definitions, statuses=statuses, instance_ids=args.instance
        ):
            replayed += 1
            diverged += not verdict.ok
            print(f"{verdict.instance_id}: {verdict.workflow} v{verdict.version}: {verdict}")
    print(f"replayed {replayed} instance(s): {replayed - diverged} ok, {diverged} diverge")
    return 1 if diverged else 0


def _db_upgrade(args: argparse.Namespace) -> int:
    with open_journal(args.journal, upgrade=False) as journal:
        applied = journal.upgrade()
    done = ", ".join(map(str, applied)) if applied else "none (already up to date)"
    print(f"{redact_url(args.journal)}: migrations applied: {done}")
    return 0


def _worker(args: argparse.Namespace) -> int:
    from wio.loading import load_definition
    from wio.worker import Worker, run_worker_process

    definitions = [load_definition(target) for target in args.workflows]
    journal = open_journal(args.journal)
    worker = Worker(
        journal,
        definitions,
        owner=args.owner,
        lease_ttl=args.lease_ttl,
        poll_interval=args.poll_interval,
        shutdown_timeout=args.shutdown_timeout,
        concurrency=args.concurrency,
        strict=args.strict,
        max_retry_delay=args.max_retry_delay,
    )
    try:
        if args.once:
            print(f"ran {worker.run_once()} instance(s)")
            return 0
        return run_worker_process(worker, args.health_port, args.health_host)
    finally:
        journal.close()


def _demo(args: argparse.Namespace) -> int:
    from wio.demo import run_demo

    return run_demo(print)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected 0 seconds or more, got {text!r}")
    return value


def _positive(text: str) -> float:
    try:
        value = _seconds(text)
    except argparse.ArgumentTypeError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected more than 0 seconds, got {text!r}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number, 1 or more, got {text!r}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 0 to 65535, got {value}")
    return value


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        print(text, flush=True)
    else:
        _write(output, (text + "\n").encode())


def _write(output: Path, data: bytes) -> None:
    try:
        output.write_bytes(data)
    except OSError as exc:
        raise WioError(f"-o {output}: cannot write it: {exc.strerror or exc}") from None


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=False)]
    for row in (header, *rows):
        cells = (str(cell).ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip())


def _print_report(report: dict[str, Any]) -> None:
    instance = report["instance"]
    print(f"instance {instance['id']!r}: {instance['workflow']} v{instance['version']}")
    keys = ("status", "waiting_for", "attempts", "last_error", "wakeup_at", "lease_owner", "parent")
    for key in keys:
        if instance.get(key) not in (None, ""):
            print(f"  {key.replace('_', ' ')}: {instance[key]}")
    for kid in report.get("children", []):
        print(f"  child: {kid['id']!r} ({kid['workflow']}, {kid['status']})")
    for moved in report.get("migrations", []):
        print(
            f"  migrated: v{moved['from_version']} -> v{moved['to_version']} "
            f"at {moved['migrated_at']} (event #{moved['seq']})"
        )
    print(f"events ({len(report['events'])}):")
    for event in report["events"]:
        payload = json.dumps(event["payload"], ensure_ascii=False)
        print(f"  #{event['seq']:<4} {event['type']:<24} {payload}")
    if "state" not in report:
        print(report["note"])
        return
    print(f"state: {json.dumps(report['state'], ensure_ascii=False)}")
    print("progress:")
    for step in report["progress"]:
        event = f"event #{step['event_seq']}" if step["event_seq"] else "no event"
        outcome = "ok" if step["ok"] else "error"
        name = step["name"] or ""
        print(f"  {step['path']:<10} {step['kind']:<14} {name:<20} {event:<10} {outcome}")


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
