"""The operator verbs of the ``wio`` command: retry, cancel and fork, one or in bulk."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from wio.errors import WioError
from wio.journal import InstanceRecord, InstanceStatus, Journal, open_journal
from wio.operations import cancel, each, fork, retry, select

_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}


def add_commands(commands: Any, journal: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add ``retry``, ``cancel`` and ``fork`` to the ``wio`` subcommands."""
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


def _selection(
    parser: argparse.ArgumentParser,
    journal: Callable[[argparse.ArgumentParser], None],
    version_flag: str,
) -> None:
    parser.add_argument("id", nargs="?", metavar="ID", help="one instance (or select several)")
    journal(parser)
    bulk = parser.add_argument_group("bulk selection (instead of ID)")
    bulk.add_argument("--status", choices=[str(s) for s in InstanceStatus])
    bulk.add_argument("--workflow", metavar="NAME")
    bulk.add_argument(version_flag, dest="version", type=_natural, metavar="V")
    bulk.add_argument(
        "--since",
        type=_moment,
        metavar="WHEN",
        help="updated at or after WHEN: an ISO 8601 time, or an age such as 30m, 2h, 7d",
    )
    bulk.add_argument("--dry-run", action="store_true", help="list the selection, change nothing")
    bulk.add_argument("--yes", action="store_true", help="confirm a bulk action without asking")


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


def _act(args: argparse.Namespace, action: Callable[[Journal, str], InstanceRecord]) -> int:
    filters = (args.status, args.workflow, args.version, args.since)
    with open_journal(args.journal, create=False) as journal:
        if args.id is not None:
            if any(f is not None for f in filters) or args.dry_run or args.yes:
                raise WioError(
                    "give an instance ID or a bulk selection (--status, --workflow, "
                    "--version, --since, --dry-run, --yes), not both"
                )
            after = action(journal, args.id)
            _say_done(args, args.id, after)
            return 0
        if all(f is None for f in filters):
            raise WioError(
                f"{args.verb}: give an instance ID, or select instances with --status, "
                "--workflow, --version or --since"
            )
        status = None if args.status is None else InstanceStatus(args.status)
        chosen = select(
            journal, status=status, workflow=args.workflow, version=args.version, since=args.since
        )
        if args.dry_run or not chosen:
            for record in chosen:
                print(f"{record.id}  {record.workflow} v{record.workflow_version}  {record.status}")
            print(f"would {args.verb} {len(chosen)} instance(s); nothing was changed")
            return 0
        if not args.yes and not _confirmed(f"{args.verb} {len(chosen)} instance(s)?"):
            raise WioError(
                f"{args.verb}: {len(chosen)} instance(s) selected; pass --yes to confirm, "
                "or --dry-run to list them"
            )
        outcomes = each(chosen, lambda record: action(journal, record.id))
    for outcome in outcomes:
        print(f"{outcome.instance_id}: {args.past if outcome.done else 'refused'}"
              f"{'' if outcome.done else ': ' + outcome.detail}")  # fmt: skip
    done = sum(o.done for o in outcomes)
    refused = len(outcomes) - done
    print(f"{args.past} {done} of {len(outcomes)} instance(s); {refused} refused")
    return 1 if refused else 0


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
