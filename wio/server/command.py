"""The ``wio serve`` command: the HTTP API on uvicorn (``pip install 'wio[server]'``)."""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import signal
from collections.abc import Callable
from typing import Any

from wio.errors import InvalidSetting, WioError

TOKEN_VARIABLE = "WIO_API_TOKEN"


def add_command(
    commands: Any, journal: Callable[[argparse.ArgumentParser], None], port: Any
) -> None:
    serve = commands.add_parser("serve", help="serve the HTTP API (needs wio[server])")
    journal(serve)
    serve.add_argument("--workflows", nargs="+", required=True, metavar="PATH_OR_MODULE:ATTR")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    serve.add_argument("--port", type=port, default=8000, help="port (default: 8000)")
    serve.add_argument(
        "--token",
        default=os.environ.get(TOKEN_VARIABLE),
        help=f"bearer token every request must carry (default: ${TOKEN_VARIABLE}); "
        "required when --host is not a loopback address",
    )
    serve.add_argument("--log-format", choices=("text", "json"), default="text")
    serve.add_argument("--openapi", action="store_true", help="print the OpenAPI document and exit")
    serve.set_defaults(handler=serve_command, logs_by_default=True)


def check_binding(host: str, token: str | None) -> None:
    """Refuse to serve a non-loopback address without a token."""
    if token is not None and not token.strip():
        raise InvalidSetting("--token: the token is blank")
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback and token is None:
        raise InvalidSetting(
            f"--host {host}: serving beyond this machine needs a bearer token: pass --token "
            f"or set ${TOKEN_VARIABLE}"
        )


def serve_command(args: argparse.Namespace) -> int:
    check_binding(args.host, args.token)
    try:
        from wio.console.live import uvicorn_server
        from wio.server.app import create_app
    except ImportError as exc:
        raise WioError(
            f"wio serve needs the server extra: pip install 'wio[server]' ({exc})"
        ) from None
    from wio.journal import open_journal
    from wio.loading import load_definition
    from wio.metrics import exposition

    definitions = [load_definition(target) for target in args.workflows]
    seen: set[tuple[str, int]] = set()
    for definition in definitions:
        key = (definition.name, definition.version)
        if key in seen:
            raise WioError(f"workflow {key[0]!r} version {key[1]} is given twice")
        seen.add(key)
    if args.openapi:
        from wio.journal import MemoryJournal

        document = create_app(MemoryJournal(), definitions).openapi_schema.to_schema()
        print(json.dumps(document, indent=2, sort_keys=True))
        return 0
    with open_journal(args.journal) as journal:
        app = create_app(
            journal, definitions, token=args.token, metrics=lambda: exposition(journal)
        )
        # It ends the console's open streams first, so that it stops promptly.
        server = uvicorn_server(app, host=args.host, port=args.port, log_config=None)
        # uvicorn shuts down gracefully on SIGTERM/SIGINT, then re-raises the signal to the
        # handler it found: make that a no-op, so that a graceful stop exits 0.
        for stop in (signal.SIGTERM, signal.SIGINT):
            signal.signal(stop, lambda *_: None)
        try:
            server.run()
        except OSError as exc:
            raise InvalidSetting(
                f"cannot listen on {args.host}:{args.port}: {exc.strerror}"
            ) from None
    return 0
