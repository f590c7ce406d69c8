"""What a worker asks of the journal per instance: a claim leases the instance
and returns its record, so advancing it neither takes the lease again nor
reads the record again."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from attrs import frozen

from tests.conftest import DURABLE_JOURNALS
from wio import WIO, Workflow
from wio.journal import InstanceStatus, Journal, open_journal
from wio.runtime import AsyncRuntime, Runtime
from wio.worker import Worker


@frozen
class Counted:
    count: int


def count(n: int) -> Counted:
    return Counted(n + 1)


three_steps = Workflow(
    WIO.sequence(*(WIO.run(count, lambda _, e: e.count).named(f"Step {i}") for i in range(3))),
    name="three_steps",
    input_type=int,
)


class CountingJournal:
    """A real journal that counts the calls made to it."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.journal, name)
        if not callable(attribute):
            return attribute

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return attribute(*args, **kwargs)

        return counted


@DURABLE_JOURNALS
def test_a_claimed_instance_is_advanced_without_taking_its_lease_again(journal_url: str) -> None:
    with open_journal(journal_url) as journal:
        runtime = Runtime(three_steps, journal=journal)
        for n in range(5):
            runtime.create(f"i{n}", n)
        counting = CountingJournal(journal)
        worker = Worker(counting, [three_steps], batch_size=2)  # type: ignore[arg-type]
        assert worker.run_once() == 5
        fresh = Runtime(three_steps, journal=journal)
        for n in range(5):
            assert fresh.get(f"i{n}").status == InstanceStatus.FINISHED
            assert fresh.get(f"i{n}").result == n + 3
    assert counting.calls["acquire_lease"] == 0, counting.calls
    assert counting.calls["get_instance"] == 0, counting.calls
    # One append per step; the last one finishes the instance and gives the lease back.
    assert counting.calls["append"] == 15, counting.calls
    assert counting.calls["release_lease"] == 0, counting.calls


def test_the_async_runtime_advances_a_claimed_instance_without_taking_its_lease_again(
    tmp_path: Path,
) -> None:
    with open_journal(f"sqlite:///{tmp_path / 'journal.db'}") as journal:
        Runtime(three_steps, journal=journal).create("i", 4)
        counting = CountingJournal(journal)
        runtime = AsyncRuntime(three_steps, journal=counting, owner="w")  # type: ignore[arg-type]
        since = time.monotonic()
        (record,) = journal.claim_runnable("w", datetime.now(UTC), timedelta(seconds=30), 10)

        async def advance() -> Any:
            instance = await runtime.claimed(record, since)
            await instance.advance()
            return instance.result

        assert asyncio.run(advance()) == 7
    assert counting.calls["acquire_lease"] == 0, counting.calls
    assert counting.calls["get_instance"] == 0, counting.calls
