"""``python -m wio.console.demo``: the console on a demo SQLite journal.

It seeds expense claims (docs/examples/expenses.py) in every state, waiting
for a manager, paid, failed while the payment service was down, cancelled,
then serves the console and the API on it, with a worker in the same process
so that a retried claim is paid again. Needs a source checkout of wio and
``pip install 'wio[server]'``.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from wio.errors import WioError
from wio.journal import Journal, open_journal
from wio.loading import load_module
from wio.operations import cancel
from wio.runtime import Runtime

EXAMPLE = Path(__file__).resolve().parent.parent.parent / "docs" / "examples" / "expenses.py"


def example() -> Any:
    if not EXAMPLE.is_file():
        raise WioError(f"the console demo runs {EXAMPLE}, which needs a source checkout of wio")
    return load_module(str(EXAMPLE))


def seed(journal: Journal, module: Any) -> None:
    """Claims in every state; idempotent (a journal already seeded is left as it is)."""
    if journal.list_instances(limit=1):
        return
    runtime = Runtime(module.workflow, journal=journal)
    claims = [
        ("claim-1001", "ada", "platform", 12_500),
        ("claim-1002", "grace", "research", 48_000),
        ("claim-1003", "linus", "platform", 3_200),
        ("claim-1004", "barbara", "design", 91_000),
        ("claim-1005", "ken", "research", 7_700),
        ("claim-1006", "margaret", "platform", 15_000),
    ]
    for claim_id, employee, team, amount in claims:
        runtime.create(claim_id, module.Claim(claim_id, employee, team, amount)).advance()
    runtime.get("claim-1003").signal(module.approve, {"approver": "joan", "approved_cents": 3_200})
    module.payments_down = True
    try:
        failing = runtime.get("claim-1005")
        failing.signal(module.approve, {"approver": "joan", "approved_cents": 7_700})
        while failing.status != "failed":  # its retry is due a second later
            time.sleep(0.2)
            failing = runtime.get("claim-1005")
            failing.advance()
    finally:
        module.payments_down = False
    cancel(journal, "claim-1006", "duplicate of claim-1001")


@contextmanager
def worker_thread(journal: Journal, module: Any) -> Iterator[None]:
    """A worker in this process: retried claims are paid without another command."""
    from wio.worker import Worker

    worker = Worker(journal, [module.workflow], poll_interval=0.5)
    thread = threading.Thread(target=worker.run_until_stopped, name="wio-worker", daemon=True)
    thread.start()
    try:
        yield
    finally:
        worker.stop()
        thread.join(timeout=10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wio.console.demo", description=__doc__)
    parser.add_argument("--journal", default="sqlite:///wio-console-demo.db")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    try:
        from wio.console.live import uvicorn_server
        from wio.server.app import create_app
    except ImportError as exc:
        print(f"the console needs the server extra: pip install 'wio[server]' ({exc})")
        return 2
    module = example()
    with open_journal(args.journal) as journal:
        if not journal.list_instances(limit=1):
            print("seeding claims; claim-1005's payment fails on purpose:", flush=True)
        seed(journal, module)
        print(f"journal {args.journal}; console at http://{args.host}:{args.port}/", flush=True)
        with worker_thread(journal, module):
            app = create_app(journal, [module.workflow])
            uvicorn_server(app, host=args.host, port=args.port, log_config=None).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
