"""Helpers for a team's own tests, e.g. checking new code against production journals."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from wio.definition import Workflow
from wio.errors import ReplayDiverged
from wio.journal import InstanceStatus, open_journal
from wio.replayer import Verdict, replay_journal

__all__ = ["ReplayDiverged", "assert_replays"]


def assert_replays(
    journal_url: str,
    workflow: Workflow[Any, Any, Any] | Iterable[Workflow[Any, Any, Any]],
    *,
    statuses: Iterable[InstanceStatus] = (),
    instance_ids: Iterable[str] = (),
) -> list[Verdict]:
    """Replay the journal's instances against ``workflow`` strictly, as `wio replay` does.

    Raises `ReplayDiverged` (an `AssertionError`) naming each instance that
    diverges, with the seq, event type and node; returns the verdicts otherwise.
    The journal is only read (use a copy of production's, or production's itself).
    """
    workflows = [workflow] if isinstance(workflow, Workflow) else list(workflow)
    with open_journal(journal_url, upgrade=False) as journal:
        verdicts = list(
            replay_journal(journal, workflows, statuses=statuses, instance_ids=instance_ids)
        )
    diverged = [v for v in verdicts if not v.ok]
    if diverged:
        raise ReplayDiverged(diverged, len(verdicts))
    return verdicts
