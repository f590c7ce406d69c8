"""Group commit: appends from many threads, to many instances, committed together.

Each thread that appends (a thread of the asyncio runtime's pool, say, each
advancing its own instance) hands its append to one committer thread and
waits. The committer takes every append waiting, up to ``max_batch``, after
lingering at most ``linger`` seconds for more, and commits them in one
transaction. An append returns only once its batch is committed, so a step
is still durable before anything that depends on it runs. Each append keeps
its own optimistic-concurrency check: one refused fails alone, never the
batch. Appends of one instance are committed in the order they were handed
over. A batch that fails as a whole (the database unreachable) fails each of
its appends: none was committed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from datetime import datetime

from attrs import frozen

from .records import Lease, NewEvent, StatusUpdate

log = logging.getLogger("wio.journal")


@frozen
class PendingAppend:
    instance_id: str
    expected_seq: int
    event: NewEvent
    now: datetime
    update: StatusUpdate | None
    lease: Lease | None = None


# Commits a batch in one transaction; returns, per append, its new last seq or
# the error that refused it alone. Raises if the batch failed as a whole.
CommitBatch = Callable[[Sequence[PendingAppend]], list[int | Exception]]

# Told the size of every batch committed (`wio.metrics` counts them); the journal
# package itself keeps no metrics.
batch_observers: list[Callable[[int], None]] = []


class GroupCommitter:
    def __init__(self, commit: CommitBatch, max_batch: int, linger: float, name: str) -> None:
        self._commit = commit
        self.max_batch = max_batch
        self.linger = linger
        self._queue: deque[tuple[PendingAppend, Future[int]]] = deque()
        self._ready = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def append(self, pending: PendingAppend) -> int:
        """Commit ``pending`` with whatever else is waiting; its new last seq."""
        done: Future[int] = Future()
        with self._ready:
            if self._closing:
                raise RuntimeError("the journal is closed")
            self._queue.append((pending, done))
            self._ready.notify()
        return done.result()

    def close(self) -> None:
        with self._ready:
            self._closing = True
            self._ready.notify()
        self._thread.join()

    def _take(self) -> list[tuple[PendingAppend, Future[int]]]:
        with self._ready:
            while not self._queue and not self._closing:
                self._ready.wait()
            if self.linger > 0 and len(self._queue) < self.max_batch and not self._closing:
                deadline = time.monotonic() + self.linger
                while (
                    len(self._queue) < self.max_batch and (left := deadline - time.monotonic()) > 0
                ):
                    self._ready.wait(left)
            count = min(self.max_batch, len(self._queue))
            return [self._queue.popleft() for _ in range(count)]

    def _run(self) -> None:
        while True:
            batch = self._take()
            if not batch:
                return  # closing, and nothing left
            for observe in batch_observers:
                observe(len(batch))
            try:
                outcomes = self._commit([pending for pending, _ in batch])
            except Exception as exc:  # nothing of the batch was committed
                for _, done in batch:
                    done.set_exception(exc)
                continue
            for (_, done), outcome in zip(batch, outcomes, strict=True):
                if isinstance(outcome, Exception):
                    done.set_exception(outcome)
                else:
                    done.set_result(outcome)
