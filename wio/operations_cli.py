"""The operator verbs of the ``wio`` command: retry, cancel, fork and migrate, one or in
bulk, each selecting instances in bulk the same way (`wio.operations.Selection`)."""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from wio.errors import WioError
from wio.journal import InstanceRecord, InstanceStatus, Journal, open_journal
from wio.operations import Selection, cancel, check_confirmed, each, fork, retry

_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}


def add_commands(commands: Any, journal: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add ``retry``, ``cancel``, ``fork`` and ``migrate`` to the ``wio`` subcommands."""
    retry_ = commands.add_parser(
        "retry", help="move failed instances back to running at the step that failed"
    )
    _selection(retry_, journal, "--version")
    retry_.set_defaults(handler=_retry, verb="retry", past="retried")

    cancel_ = commands.add_parser("cancel", help="cancel instances: they never run another step")
    _selection(cancel_, journal, "--version")
    cancel_.add_argument("--reason", default="cancelled by an operator", help="why, recorded")
    cancel_.set_defaults(handler=_cancel, verb="cancel", past="cancelled")

    fork_ = commands.add_parser(
        "fork", help="copy an instance's first events into a new instance and run that"
    )
    _selection(fork_, journal, "--of-version")
    fork_.add_argument(
        "--at", type=_natural, required=True, metavar="SEQ", help="copy events #1 to #SEQ"
    )
    fork_.add_argument(
        "--as",
        dest="new_id",
        required=True,
        metavar="NEW_ID",
        help="the new instance's id; in bulk, a template with {id}, e.g. '{id}-fixed'",
    )
    fork_.add_argument(
        "--version",
        type=_natural,
        dest="to_version",
        metavar="V",
        help="run the fork under this version (default: the newest registered)",
    )
    fork_.set_defaults(handler=_fork, verb="fork", past="forked")

    migrate_ = commands.add_parser(
        "migrate", help="move instances to another version, after checking each by replay"
    )
    migrate_.add_argument("--workflow", required=True, metavar="NAME")
    migrate_.add_argument("--to", required=True, type=_natural, metavar="VERSION")
    migrate_.add_argument(
        "--workflows",
        nargs="+",
        required=True,
        metavar="PATH_OR_MODULE:ATTR",
        help="the code, including the version to migrate to",
    )
    migrate_.add_argument(
        "--instance", nargs="+", default=[], metavar="ID", help="these instances, by id"
    )
    bulk = _selection(migrate_, journal, "--version|--from", instead_of="--instance")
    bulk.add_argument(
        "--all", action="store_true", help="every running or waiting instance at another version"
    )
    migrate_.add_argument(
        "--allow-recovery-wait",
        action="store_true",
        help="also move instances that would then wait at a recover node for an operator",
    )
    migrate_.set_defaults(handler=_migrate, verb="migrate")


def _selection(
    parser: argparse.ArgumentParser,
    journal: Callable[[argparse.ArgumentParser], None],
    version_flag: str,
    *,
    instead_of: str = "ID",
) -> argparse._ArgumentGroup:
    """The bulk selection every operator verb takes, as the HTTP API's bulk bodies do.

    ``instead_of`` names what else picks the instances: ``ID``, the positional
    argument added here, or an option the caller adds (``--workflow`` is then the
    caller's too)."""
    if instead_of == "ID":
        parser.add_argument("id", nargs="?", metavar="ID", help="one instance (or select several)")
    journal(parser)
    bulk = parser.add_argument_group(f"bulk selection (instead of {instead_of})")
    bulk.add_argument("--status", choices=[str(s) for s in InstanceStatus])
    if instead_of == "ID":
        bulk.add_argument("--workflow", metavar="NAME")
    bulk.add_argument(*version_flag.split("|"), dest="version", type=_natural, metavar="V")
    bulk.add_argument(
        "--since",
        type=_moment,
        metavar="WHEN",
        help="updated at or after WHEN: an ISO 8601 time, or an age such as 30m, 2h, 7d",
    )
    bulk.add_argument("--dry-run", action="store_true", help="list the selection, change nothing")
    confirm = bulk.add_mutually_exclusive_group()
    confirm.add_argument("--yes", action="store_true", help="confirm a bulk action without asking")
    confirm.add_argument(
        "--confirm",
        type=_natural,
        metavar="N",
        help="act only if N instances are selected now (the count --dry-run printed)",
    )
    return bulk


def _retry(args: argparse.Namespace) -> int:
    return _act(args, retry)


def _cancel(args: argparse.Namespace) -> int:
    return _act(args, lambda journal, instance_id: cancel(journal, instance_id, args.reason))


def _fork(args: argparse.Namespace) -> int:
    bulk = args.id is None
    if bulk and "{id}" not in args.new_id:
        raise WioError("--as: forking several instances needs a template with {id}")

    def one(journal: Journal, instance_id: str) -> InstanceRecord:
        new_id = args.new_id.replace("{id}", instance_id)
        return fork(journal, instance_id, args.at, new_id, version=args.to_version)

    return _act(args, one)


def _migrate(args: argparse.Namespace) -> int:
    from wio.loading import load_definition
    from wio.migration import UNFINISHED, Outcome, migrate
    from wio.versions import WorkflowVersions

    filtered = any(f is not None for f in (args.status, args.version, args.since))
    if args.all and filtered:
        raise WioError(
            "migrate: --all selects every running or waiting instance at another version; "
            "give it or --status, --version, --since, not both"
        )
    if args.instance and (
        args.all or args.status or args.since or args.yes or args.confirm is not None
    ):
        raise WioError(
            "migrate: give --instance IDs or a bulk selection (--all, --status, --version, "
            "--since, --yes, --confirm), not both"
        )
    if not (args.instance or args.all or filtered):
        raise WioError(
            "migrate: give --instance ID ..., --all, or select instances with --status, "
            "--version or --since"
        )
    versions = WorkflowVersions(load_definition(target) for target in args.workflows)
    target = versions.pick(args.workflow, args.to)
    with open_journal(args.journal) as journal:
        ids = list(args.instance)
        from_version = args.version if ids else None  # named instances at another are skipped
        if not ids:
            chosen = _selection_of(args).records(journal, "migrate")
            if args.all:
                chosen = [
                    r
                    for r in chosen
                    if r.status in UNFINISHED and r.workflow_version != target.version
                ]
            if not chosen:
                print(f"{target.name} to v{target.version}: no instance selected")
                return 0
            if not args.dry_run:
                go_ahead(args, "migrate", chosen)
            ids = [r.id for r in chosen]
        results = migrate(
            journal,
            target,
            from_version=from_version,
            instance_ids=ids,
            dry_run=args.dry_run,
            allow_recovery_wait=args.allow_recovery_wait,
        )
    for result in results:
        print(result)
    counts = Counter(result.outcome for result in results)
    summary = ", ".join(f"{counts[o]} {o}" for o in Outcome if counts[o] or o == Outcome.REFUSED)
    print(f"{target.name} to v{target.version}: {summary}")
    return 1 if counts[Outcome.REFUSED] else 0


def _act(args: argparse.Namespace, action: Callable[[Journal, str], InstanceRecord]) -> int:
    with open_journal(args.journal, create=False) as journal:
        if args.id is not None:
            if _filtered(args) or args.dry_run or args.yes or args.confirm is not None:
                raise WioError(
                    "give an instance ID or a bulk selection (--status, --workflow, "
                    "--version, --since, --dry-run, --yes, --confirm), not both"
                )
            after = action(journal, args.id)
            _say_done(args, args.id, after)
            return 0
        if not _filtered(args):
            raise WioError(
                f"{args.verb}: give an instance ID, or select instances with --status, "
                "--workflow, --version or --since"
            )
        chosen = _selection_of(args).records(journal, args.verb)
        if args.dry_run or not chosen:
            for record in chosen:
                print(f"{record.id}  {record.workflow} v{record.workflow_version}  {record.status}")
            print(f"would {args.verb} {len(chosen)} instance(s); nothing was changed")
            return 0
        go_ahead(args, args.verb, chosen)
        outcomes = each(chosen, lambda record: action(journal, record.id))
    for outcome in outcomes:
        print(f"{outcome.instance_id}: {args.past if outcome.done else 'refused'}"
              f"{'' if outcome.done else ': ' + outcome.detail}")  # fmt: skip
    done = sum(o.done for o in outcomes)
    refused = len(outcomes) - done
    print(f"{args.past} {done} of {len(outcomes)} instance(s); {refused} refused")
    return 1 if refused else 0


def _filtered(args: argparse.Namespace) -> bool:
    return any(f is not None for f in (args.status, args.workflow, args.version, args.since))


def _selection_of(args: argparse.Namespace) -> Selection:
    status = None if args.status is None else InstanceStatus(args.status)
    return Selection(status=status, workflow=args.workflow, version=args.version, since=args.since)


def go_ahead(args: argparse.Namespace, verb: str, chosen: Sequence[InstanceRecord]) -> None:
    """Raise unless the operator confirmed acting on ``chosen``: with ``--confirm N``
    (refused if N is no longer the count), ``--yes``, or an answer at the terminal."""
    if args.confirm is not None:
        check_confirmed(verb, chosen, args.confirm)
    elif not args.yes and not _confirmed(f"{verb} {len(chosen)} instance(s)?"):
        raise WioError(
            f"{verb}: {len(chosen)} instance(s) selected; pass --yes to confirm, "
            f"--confirm {len(chosen)} to act only if they are still {len(chosen)}, "
            "or --dry-run to list them"
        )


def _say_done(args: argparse.Namespace, instance_id: str, after: InstanceRecord) -> None:
    if args.verb == "fork":
        print(
            f"instance {after.id!r}: forked from {instance_id!r} at event #{args.at}, "
            f"{after.workflow} v{after.workflow_version}: {after.status}"
        )
    else:
        print(f"instance {instance_id!r}: {after.status}")


def _confirmed(question: str) -> bool:
    if not sys.stdin.isatty():
        return False
    try:
        return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")
    except EOFError:
        return False


def _natural(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more, got {value}")
    return value


def _moment(text: str) -> datetime:
    age = _DURATION.fullmatch(text)
    if age is not None:
        return datetime.now(UTC) - timedelta(seconds=float(age[1]) * _UNITS[age[2]])
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an ISO 8601 time (2026-01-31T12:00:00+00:00) or an age (30m, 2h, 7d), "
            f"got {text!r}"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


__all__: Sequence[str] = ["add_commands"]
