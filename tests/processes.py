"""Helpers for tests that run `wio` commands as separate processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from wio import Runtime
from wio.journal import open_journal
from wio.loading import load_definition

HARNESS = "tests/harness/crashable_order.py:workflow"


def order_input(order_id: str, amount_cents: int = 4_200) -> str:
    """An order whose every side effect names it (its one item is named after it)."""
    return json.dumps(
        {
            "order_id": order_id,
            "customer_email": f"{order_id.lower()}@example.com",
            "amount_cents": amount_cents,
            "items": [order_id],
        }
    )


def wio(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wio.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def start_worker(
    url: str, env: dict[str, str], *extra: str, workflows: str = HARNESS
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable, "-m", "wio.cli", "worker", "--journal", url, "--workflows", workflows,
            "--lease-ttl", "2", "--poll-interval", "0.1", *extra,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip


def harness_env(log: Path, block: str = "", **extra: str) -> dict[str, str]:
    return {**os.environ, "WIO_EFFECTS_LOG": str(log), "WIO_BLOCK": block, **extra}


def wait_until(condition: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    """Poll ``condition`` until it returns something truthy; fail with ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")


def effects(log: Path) -> list[tuple[int, str]]:
    """(pid, effect) for each side effect logged, in order."""
    if not log.exists():
        return []
    lines = log.read_text().splitlines()
    return [(int(pid), effect) for pid, _, effect in (line.partition(" ") for line in lines)]


def effect_counts(log: Path) -> Counter[str]:
    return Counter(effect.split()[0] + " " + effect.split()[1] for _, effect in effects(log))


def stop(process: subprocess.Popen[str], timeout: float = 30.0) -> int:
    """SIGTERM a worker and return its exit status."""
    process.terminate()
    return process.wait(timeout=timeout)


def create_orders(url: str, ids: list[str], log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WIO_EFFECTS_LOG", str(log))  # the harness is loaded here too
    definition = load_definition(str(ROOT / HARNESS))
    with open_journal(url) as journal:
        runtime = Runtime(definition, journal=journal)
        for order_id in ids:
            runtime.create(order_id, definition.input_type(**json.loads(order_input(order_id))))
