"""Group commit: appends from many threads, to many instances, committed together.

Each thread that appends (a worker's thread advancing its own instance, say)
queues its append. If fewer than ``leaders`` batches are being committed, it
leads one at once: it takes every append waiting, up to ``max_batch`` (after
lingering at most ``linger`` seconds for more), its own included, and commits
them in one transaction on its own connection, then wakes their threads. A
thread whose append arrives while the commits in flight are at their limit
waits: the next leader takes it along, and when a leader is done it hands the
lead to the first append still waiting. So a lone append commits at once,
as it would alone (no other thread in the way), and appends that pile up
while a commit is in flight share the next one.

An append returns only once its batch is committed, so a step is still
durable before anything that depends on it runs. Each append keeps its own
optimistic-concurrency check: one refused fails alone, never the batch.
Appends of one instance are committed in the order they were handed over: a
batch never takes an append of an instance that another batch in flight
holds. A batch that fails as a whole (the database unreachable) fails each of
its appends: none was committed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
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


class _Waiting:
    """An append handed over, and its thread waiting: for its outcome, or to lead."""

    __slots__ = ("done", "lead", "outcome", "pending", "woken")

    def __init__(self, pending: PendingAppend) -> None:
        self.pending = pending
        self.woken = threading.Event()
        self.done = False
        self.lead = False
        self.outcome: int | Exception = 0


class GroupCommitter:
    def __init__(
        self, commit: CommitBatch, max_batch: int, linger: float, leaders: int = 2
    ) -> None:
        """``leaders``: batches committed at once, each by its own thread on its own
        connection (one may flush while the next gathers)."""
        self._commit = commit
        self.max_batch = max_batch
        self.linger = linger
        self.leaders = leaders
        self._queue: deque[_Waiting] = deque()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # an append queued, a batch ended
        self._leading = 0  # batches being gathered or committed
        self._in_flight: set[str] = set()  # instances with an append in such a batch
        self._closing = False

    def append(self, pending: PendingAppend) -> int:
        """Commit ``pending`` with whatever else is waiting; its new last seq."""
        me = _Waiting(pending)
        with self._lock:
            if self._closing:
                raise RuntimeError("the journal is closed")
            self._queue.append(me)
            lead = self._leading < self.leaders
            if lead:
                self._leading += 1
            self._changed.notify_all()
        if lead:
            self._lead()
        while True:
            with self._lock:
                if me.done and not me.lead:
                    break
            me.woken.wait()
            with self._lock:
                me.woken.clear()
                lead, me.lead = me.lead, False
            if lead:
                self._lead()
        if isinstance(me.outcome, Exception):
            raise me.outcome
        return me.outcome

    def close(self) -> None:
        """Refuse new appends, and wait for those handed over to be committed."""
        with self._lock:
            self._closing = True
            while self._queue or self._leading:
                self._changed.wait()

    def _lead(self) -> None:
        """Commit one batch of what is waiting, then hand the lead on, or give it up."""
        batch = self._take()
        if batch:
            self._commit_batch(batch)
        with self._lock:
            # Not one already made a leader: each lead is handed to a thread of its own.
            successor = next((w for w in self._queue if self._takeable(w) and not w.lead), None)
            if successor is None:
                self._leading -= 1
            else:
                successor.lead = True
                successor.woken.set()
            self._changed.notify_all()

    def _takeable(self, waiting: _Waiting) -> bool:
        return waiting.pending.instance_id not in self._in_flight

    def _take(self) -> list[_Waiting]:
        with self._lock:
            if self.linger > 0 and not self._closing:
                deadline = time.monotonic() + self.linger
                # Until the batch is full, or another leader took what was waiting.
                while (
                    self._queue
                    and sum(map(self._takeable, self._queue)) < self.max_batch
                    and (left := deadline - time.monotonic()) > 0
                ):
                    self._changed.wait(left)
            batch: list[_Waiting] = []
            skipped: deque[_Waiting] = deque()
            while self._queue and len(batch) < self.max_batch:
                waiting = self._queue.popleft()
                (batch if self._takeable(waiting) else skipped).append(waiting)
            self._queue.extendleft(reversed(skipped))
            self._in_flight.update(w.pending.instance_id for w in batch)
            self._changed.notify_all()
            return batch

    def _commit_batch(self, batch: list[_Waiting]) -> None:
        for observe in batch_observers:
            observe(len(batch))
        try:
            outcomes: list[int | Exception] = self._commit([w.pending for w in batch])
        except Exception as exc:  # nothing of the batch was committed
            outcomes = [exc] * len(batch)
        with self._lock:
            for waiting, outcome in zip(batch, outcomes, strict=True):
                self._in_flight.discard(waiting.pending.instance_id)
                waiting.outcome, waiting.done = outcome, True
                waiting.woken.set()
