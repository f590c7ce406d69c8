"""The ``wio`` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from wio.errors import WioError

FORMATS = ("json",)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except WioError as exc:
        print(f"wio: error: {exc}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wio", description="Durable workflows composed in code.")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    render = commands.add_parser("render", help="print a workflow's model or diagram")
    render.add_argument("target", metavar="PATH_OR_MODULE:ATTR")
    render.add_argument("--format", "-f", choices=FORMATS, default="json")
    render.add_argument("-o", "--output", type=Path, help="write to FILE instead of stdout")
    render.set_defaults(handler=_render)

    demo = commands.add_parser("demo", help="run the order example end to end")
    demo.set_defaults(handler=_demo)
    return parser


def _render(args: argparse.Namespace) -> int:
    from wio.loading import load_workflow
    from wio.model import to_json

    text = to_json(load_workflow(args.target))
    _emit(text, args.output)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from wio.demo import run_demo

    return run_demo(print)


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        print(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
