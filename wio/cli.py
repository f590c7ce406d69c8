"""The ``wio`` command."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from wio.errors import WioError
from wio.journal import InstanceStatus, open_journal
from wio.renderers import BPMN_TARGETS, FORMATS

DEFAULT_JOURNAL = "sqlite:///wio.db"
USAGE_ERROR = 2  # as argparse exits on bad arguments


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("WIO_LOG_LEVEL", "WARNING").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.handler(args))
    except WioError as exc:  # every error wio raises, the journal's included
        print(f"wio: error: {exc}", file=sys.stderr)
        return 1


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
    start.add_argument("target", metavar="PATH_OR_MODULE:ATTR")
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
    instances.set_defaults(handler=_instances)

    inspect = commands.add_parser("inspect", help="show an instance's events, state and progress")
    inspect.add_argument("id")
    inspect.add_argument("--journal", default=default_journal, help=journal_help)
    inspect.add_argument(
        "--workflows",
        nargs="*",
        default=[],
        metavar="PATH_OR_MODULE:ATTR",
        help="the workflow code, to replay the events into state and progress",
    )
    inspect.add_argument("--json", action="store_true", help="print JSON")
    inspect.set_defaults(handler=_inspect)

    signal = commands.add_parser("signal", help="deliver a signal to an instance")
    signal.add_argument("id")
    signal.add_argument("signal", metavar="SIGNAL", help="the signal's name")
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
    signal.set_defaults(handler=_signal)

    db = commands.add_parser("db", help="manage the journal's schema")
    db_commands = db.add_subparsers(required=True, metavar="ACTION")
    upgrade = db_commands.add_parser("upgrade", help="apply missing schema migrations")
    upgrade.add_argument("--journal", default=default_journal, help=journal_help)
    upgrade.set_defaults(handler=_db_upgrade)

    worker = commands.add_parser("worker", help="run instances until stopped (SIGTERM)")
    worker.add_argument("--journal", default=default_journal, help=journal_help)
    worker.add_argument("--workflows", nargs="+", required=True, metavar="PATH_OR_MODULE:ATTR")
    worker.add_argument("--owner", help="lease owner name (default: host:pid:random)")
    worker.add_argument("--lease-ttl", type=float, default=30.0, metavar="SECONDS")
    worker.add_argument("--poll-interval", type=float, default=1.0, metavar="SECONDS")
    worker.add_argument("--shutdown-timeout", type=float, default=30.0, metavar="SECONDS")
    worker.add_argument("--health-port", type=int, help="serve GET /health on this port")
    worker.add_argument(
        "--once", action="store_true", help="run what is runnable now, then exit (e.g. from cron)"
    )
    worker.set_defaults(handler=_worker)

    demo = commands.add_parser("demo", help="run the order example: crash, resume, finish")
    demo.set_defaults(handler=_demo)
    return parser


def _render(args: argparse.Namespace) -> int:
    from wio.loading import load_definition
    from wio.renderers import Marks, render
    from wio.runtime import Runtime

    definition = load_definition(args.target)
    marks = Marks()
    if args.instance:
        with Runtime(definition, journal=args.journal) as runtime:
            marks = Marks.of(runtime.get(args.instance))
    output = render(
        definition.wio,
        args.format,
        show_technical=args.show_technical,
        marks=marks,
        bpmn_target=args.bpmn_target,
        name=definition.wio.meta.name or definition.name,
    )
    if isinstance(output, bytes):
        if args.output is None:
            sys.stdout.buffer.write(output)
        else:
            args.output.write_bytes(output)
        return 0
    _emit(output.rstrip("\n"), args.output)
    return 0


def _lint(args: argparse.Namespace) -> int:
    from wio.lint import lint
    from wio.loading import load_workflow

    problems = lint(load_workflow(args.target))
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
    """A workflow version: a model JSON file (``*.json``) or a workflow target."""
    from wio.loading import load_workflow
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
        return load_workflow(source)
    except WioError:
        raise
    except Exception as exc:  # the user's module failed to import
        raise WioError(f"cannot load {source}: {type(exc).__name__}: {exc}") from None


def _start(args: argparse.Namespace) -> int:
    from wio.codec import decode_input
    from wio.loading import load_definition
    from wio.runtime import Runtime

    definition = load_definition(args.target)
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
    with open_journal(args.journal) as journal:
        records = journal.list_instances(
            InstanceStatus(args.status) if args.status else None, args.workflow
        )
    rows = [
        (r.id, f"{r.workflow} v{r.workflow_version}", str(r.status), str(r.last_seq),
         r.updated_at.isoformat(timespec="seconds"), r.last_error or "")
        for r in records
    ]  # fmt: skip
    _table(("ID", "WORKFLOW", "STATUS", "EVENTS", "UPDATED", "LAST ERROR"), rows)
    return 0


def _inspect(args: argparse.Namespace) -> int:
    from wio.inspection import inspect_instance

    with open_journal(args.journal) as journal:
        report = inspect_instance(journal, args.id, args.workflows)
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        _print_report(report)
    return 0


def _signal(args: argparse.Namespace) -> int:
    from wio.codec import encode_value
    from wio.definition import signals
    from wio.loading import definition_for
    from wio.runtime import Runtime

    try:
        request = json.loads(args.request)
    except json.JSONDecodeError as exc:
        raise WioError(f"--request is not JSON: {exc}") from None
    with open_journal(args.journal) as journal:
        record = journal.get_instance(args.id)
        definition = definition_for(record.workflow, record.workflow_version, args.workflows)
        if definition is None:
            raise WioError(
                f"instance {args.id!r} runs {record.workflow} v{record.workflow_version}, "
                "which none of --workflows defines"
            )
        known = {s.name: s for s in signals(definition.wio)}
        if args.signal not in known:
            names = ", ".join(sorted(known)) or "none"
            raise WioError(f"{definition.name} has no signal {args.signal!r} (it has: {names})")
        runtime = Runtime(definition, journal=journal)
        response = runtime.get(args.id).signal(known[args.signal], request, key=args.key)
    print(json.dumps(encode_value(response, object), ensure_ascii=False))
    return 0


def _db_upgrade(args: argparse.Namespace) -> int:
    with open_journal(args.journal, upgrade=False) as journal:
        applied = journal.upgrade()
    done = ", ".join(map(str, applied)) if applied else "none (already up to date)"
    print(f"{args.journal}: migrations applied: {done}")
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
    )
    try:
        if args.once:
            print(f"ran {worker.run_once()} instance(s)")
            return 0
        return run_worker_process(worker, args.health_port)
    finally:
        journal.close()


def _demo(args: argparse.Namespace) -> int:
    from wio.demo import run_demo

    return run_demo(print)


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        print(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=False)]
    for row in (header, *rows):
        cells = (str(cell).ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip())


def _print_report(report: dict[str, Any]) -> None:
    instance = report["instance"]
    print(f"instance {instance['id']!r}: {instance['workflow']} v{instance['version']}")
    for key in ("status", "waiting_for", "attempts", "last_error", "wakeup_at", "lease_owner"):
        if instance.get(key) not in (None, ""):
            print(f"  {key.replace('_', ' ')}: {instance[key]}")
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
