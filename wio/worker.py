"""The worker: a process that advances every runnable instance of its workflows.

It registers its workflows, then loops: lease a batch of runnable instances
(new, woken, or stalled because their process died), advance each until it
blocks, and wait for more work (NOTIFY on PostgreSQL, polling on SQLite). A
heartbeat renews its leases so a long step does not lose its instance; it runs
in a child process (`wio.heartbeat`), so that a step holding the GIL cannot
starve it.

The journal may go away (a database restart, a connection terminated, a lock
held too long): the worker then rides the outage out, trying again with
capped exponential backoff and jitter, logs it once when it begins and once
when it ends, and carries on. Instances it held meanwhile are given back;
appends are fenced by the lease's epoch, so an instance whose lease changed
hands is never advanced further by this worker.

The instances of a batch are advanced concurrently, ``concurrency`` at a time,
each in a thread of the worker's pool, the journal's connections sized to
match: their appends are in flight together, and on PostgreSQL committed
together (group commit, `wio.journal.group_commit`) unless the URL sets
``group_commit``. One instance's steps still run one after the other, each
durable before the next.

SIGTERM and SIGINT stop it gracefully: the current steps finish, leases are
released, and the process exits 0. A step still running after
``shutdown_timeout`` is abandoned: its lease is released, and another worker
runs it again (steps are at-least-once, so effects must be idempotent).
"""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any

from wio import metrics
from wio.algebra import WIO
from wio.clock import Clock, SystemClock
from wio.definition import Workflow
from wio.errors import InvalidSetting, WrongWorkflow
from wio.heartbeat import Heartbeat
from wio.journal import (
    ConcurrencyConflict,
    InstanceRecord,
    Journal,
    JournalError,
    JournalUnavailable,
    LeaseHeld,
)
from wio.journal.records import InstanceStatus, StatusUpdate, WorkflowRecord
from wio.model import to_model, unstructure
from wio.runtime import Runtime
from wio.runtime.base import default_owner
from wio.versions import WorkflowVersions

log = logging.getLogger("wio.worker")

# A version counts as served while some worker registered it this recently; workers
# register theirs again with every heartbeat (a third of the lease's life).
SERVED_WITHIN = timedelta(minutes=10)
UNSERVED_CHECK_INTERVAL = 60.0  # seconds between two looks for instances no worker serves
HEALTH_TIMEOUT = 1.0  # seconds: /health answers within this, whatever the journal does
FIRST_RETRY_DELAY = 0.1  # seconds before the first retry in an outage; doubles up to the cap


class Outage:
    """Whether the journal is out of reach for this worker, as its threads find it.

    Logs once at WARNING when an outage begins and once when it ends, however
    many calls fail in between, and spaces the retries: capped exponential
    backoff with jitter, so that workers do not all come back at once."""

    def __init__(self, max_delay: float) -> None:
        self.max_delay = max_delay
        self._lock = threading.Lock()
        self._began: float | None = None  # time.monotonic() of the first failure
        self._failures = 0
        self.error: str | None = None

    def failed(self, exc: BaseException) -> float:
        """Note a failed call; returns how long to wait before trying again."""
        with self._lock:
            if self._began is None:
                self._began = time.monotonic()
                log.warning("journal unavailable, retrying with backoff: %s", exc)
            self.error = str(exc)
            self._failures += 1
            ceiling = min(self.max_delay, FIRST_RETRY_DELAY * 2 ** min(self._failures - 1, 30))
            return random.uniform(ceiling / 2, ceiling)

    def ended(self) -> None:
        """Note a call that worked: the outage, if any, is over."""
        if self._began is None:  # the common case, without taking the lock
            return
        with self._lock:
            if self._began is not None:
                log.warning(
                    "journal available again after %.1f s (%d failed attempts)",
                    time.monotonic() - self._began,
                    self._failures,
                )
            self._began, self._failures, self.error = None, 0, None


def served_versions(
    registered: Sequence[WorkflowRecord], now: datetime, within: timedelta = SERVED_WITHIN
) -> set[tuple[str, int]]:
    """The (name, version) pairs some worker registered within ``within`` of ``now``."""
    return {(w.name, w.version) for w in registered if now - w.registered_at <= within}


class Worker:
    def __init__(
        self,
        journal: Journal,
        workflows: Sequence[Workflow[Any, Any, Any]],
        *,
        owner: str | None = None,
        lease_ttl: float = 30.0,
        poll_interval: float = 1.0,
        batch_size: int = 8,
        concurrency: int = 8,
        shutdown_timeout: float = 30.0,
        max_retry_delay: float = 5.0,
        clock: Clock | None = None,
        strict: bool = False,
    ) -> None:
        """``strict=True`` replays strictly: an event that no node accepts (one recorded
        for another step, say) fails its instance with `UnmatchedEventError` instead of
        being logged at WARNING and skipped.

        ``concurrency``: how many claimed instances are advanced at once, each in a
        thread of its own (1: one after the other). A claim takes at least that many.
        The journal is fitted to it (`Journal.fit_concurrency`): on PostgreSQL a
        connection for each, and group commit unless the URL sets ``group_commit``."""
        for setting, value, least in (
            ("lease_ttl", lease_ttl, 0.0), ("poll_interval", poll_interval, 0.0),
            ("batch_size", batch_size, 0), ("concurrency", concurrency, 0),
            ("shutdown_timeout", shutdown_timeout, -1e-9),
            ("max_retry_delay", max_retry_delay, 0.0),
        ):  # fmt: skip
            if not value > least:
                raise InvalidSetting(
                    f"worker: {setting} must be {'0 or more' if least < 0 else 'positive'}, "
                    f"got {value!r}"
                )
        self.journal = journal
        self.owner = owner or default_owner()
        self.lease_ttl = lease_ttl
        self.poll_interval = poll_interval
        self.batch_size = max(batch_size, concurrency)
        self.concurrency = concurrency
        journal.fit_concurrency(concurrency)
        self.shutdown_timeout = shutdown_timeout
        self.clock: Clock = clock or SystemClock()
        self.stopping = threading.Event()
        self.processed = 0
        # The instances being advanced now, and `processed`, shared by the pool's threads.
        self._current: set[str] = set()
        self._counting = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._claimed_at = 0.0
        # Instances claimed and not yet given back: released after an outage or a
        # shutdown timeout, so that no claimed instance stays leased by a worker
        # that will not run it.
        self._held: set[str] = set()
        self.outage = Outage(max_retry_delay)
        self._listening = False
        self._renewer: Heartbeat | None = None
        # Several versions of a workflow side by side: each instance runs on its own.
        self.versions = WorkflowVersions(workflows)
        self.runtimes: dict[tuple[str, int], Runtime[Any, Any, Any]] = {
            (workflow.name, workflow.version): Runtime(
                workflow,
                journal=journal,
                owner=self.owner,
                lease_ttl=lease_ttl,
                clock=self.clock,
                strict=strict,
            )
            for workflow in self.versions
        }
        self._models = {
            key: registered_model(runtime.definition or runtime.workflow)
            for key, runtime in self.runtimes.items()
        }
        self._unserved_reported: set[str] = set()
        self._next_unserved_check = 0.0

    # -- the loop -----------------------------------------------------------------

    def register(self) -> None:
        """Record the workflows this worker runs, and free leases a previous run of it left."""
        self._announce()
        for record in self.journal.list_instances(InstanceStatus.RUNNING):
            if record.lease_owner == self.owner:
                self.journal.release_lease(record.id, self.owner)
        self.report_unserved()

    def _announce(self) -> None:
        # Registered again with every heartbeat: `wio instances` tells from the time
        # whether any worker still serves a version.
        now = self.clock.now()
        for (name, version), model in self._models.items():
            self.journal.register_workflow(name, version, model, now)

    def report_unserved(self) -> list[str]:
        """Log at WARNING, once per instance, the unfinished instances of a workflow name
        or version no worker serves (workers register what they serve): they stay
        untouched, and `wio instances` gives the same reason. Returns their ids."""
        self._next_unserved_check = time.monotonic() + UNSERVED_CHECK_INTERVAL
        served = served_versions(self.journal.list_workflows(), self.clock.now())
        names = set(self.versions.names())
        unserved = []
        for status in (InstanceStatus.RUNNING, InstanceStatus.WAITING):
            for record in self.journal.list_instances(status):
                name, version = record.workflow, record.workflow_version
                if (name, version) in served:
                    continue
                unserved.append(record.id)
                if record.id in self._unserved_reported:
                    continue
                self._unserved_reported.add(record.id)
                here = (
                    f"this one serves {', '.join(f'v{v}' for v in self.versions.versions(name))}"
                    if name in names
                    else f"this one serves {', '.join(sorted(names))}"
                )
                log.warning(
                    "instance %r runs %s v%d, which no worker serves (%s): it stays "
                    "untouched until a worker serves that version or `wio migrate` moves it",
                    record.id,
                    name,
                    version,
                    here,
                )
        return unserved

    def run_until_stopped(self) -> None:
        """Process work until `stop` is called, riding out journal outages."""
        renewer = Heartbeat.spawn(self.journal, self.owner, self.lease_ttl, self.clock)
        try:
            registered = False
            while not registered and not self.stopping.is_set():
                registered = self._attempt(self.register)  # meanwhile, the child starts
            self._renewer = renewer if renewer is not None and renewer.ready() else None
            heartbeat = threading.Thread(target=self._heartbeat, name="wio-heartbeat", daemon=True)
            heartbeat.start()
            log.info("worker %s started: %s", self.owner, sorted(self.runtimes))
            while not self.stopping.is_set():
                self._attempt(self._work)
        finally:
            self.stopping.set()
            self._close_pool()
            if renewer is not None:
                renewer.stop()
        log.info("worker %s stopped after %d instance runs", self.owner, self.processed)

    def _attempt(self, action: Any) -> bool:
        """Run ``action``; in an outage, wait (backoff) and return False."""
        try:
            action()
        except JournalUnavailable as exc:
            self.stopping.wait(self.outage.failed(exc))
            return False
        self.outage.ended()
        return True

    def _work(self) -> None:
        """One turn of the loop: give back what an outage left held, claim, advance,
        and wait for work if there was none."""
        # Subscribe (LISTEN) before the claim: work created after the claim then
        # always wakes us, and work created before it is claimed. Returns at once
        # when already listening.
        if not self._listening:
            self.journal.wait_for_work(0)
            self._listening = True
        self._let_go_of_held()
        claimed = self._claim()
        self._advance_all(claimed)
        if not claimed:
            self.journal.wait_for_work(self.poll_interval)

    def _let_go_of_held(self) -> None:
        """Release the leases of claimed instances not run: an outage interrupted
        their batch. Their lease is renewed by the heartbeat, so nobody else would
        take them over."""
        for instance_id in sorted(self._held):
            self.journal.release_lease(instance_id, self.owner)
            self._held.discard(instance_id)

    def run_once(self) -> int:
        """Process the work that is runnable now, then return how many instances were run."""
        self.register()
        before = self.processed
        try:
            while claimed := self._claim():
                self._advance_all(claimed)
        finally:
            self._close_pool()
        return self.processed - before

    def _advance_all(self, claimed: Sequence[InstanceRecord]) -> None:
        """Advance a claimed batch, `concurrency` instances at a time. Once all have
        stopped, the first error that escaped one (`JournalUnavailable`, for the loop
        to ride the outage out) is raised; the others' leases were given back, or
        stay held and are released when the journal answers again."""
        if self.concurrency == 1 or len(claimed) == 1:
            for record in claimed:
                self._advance_unless_stopping(record)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="wio-advance")
        runs = [self._pool.submit(self._advance_unless_stopping, record) for record in claimed]
        for run in runs:
            run.exception()  # wait for every run, whatever happened to the others
        for run in runs:
            run.result()

    def _advance_unless_stopping(self, record: InstanceRecord) -> None:
        if self.stopping.is_set():  # not started: another worker takes it at once
            self.journal.release_lease(record.id, self.owner)
            self._held.discard(record.id)
        else:
            self.advance(record)

    def _close_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def _claim(self) -> list[InstanceRecord]:
        """Lease a batch of this worker's runnable instances."""
        self._claimed_at = time.monotonic()  # the leases last at least ttl from here
        with metrics.CLAIM.time():
            claimed = self.journal.claim_runnable(
                self.owner,
                self.clock.now(),
                timedelta(seconds=self.lease_ttl),
                self.batch_size,
                list(self.runtimes),
            )
        metrics.CLAIMED.observe(len(claimed))
        self._held.update(record.id for record in claimed)
        if claimed:
            log.info("claimed %d instance(s): %s", len(claimed), ", ".join(r.id for r in claimed))
        return claimed

    def stop(self) -> None:
        self.stopping.set()
        try:
            self.journal.wake()  # do not sit out the poll interval or a LISTEN
        except JournalError as exc:
            log.warning("could not wake the worker loop: %s", exc)

    def advance(self, record: InstanceRecord) -> None:
        """Run one leased instance until it blocks. Its errors never stop the worker:
        only `JournalUnavailable` escapes, for the loop to ride the outage out."""
        with self._counting:
            self._current.add(record.id)
        try:
            self._advance(record)
        finally:
            with self._counting:
                self._current.discard(record.id)
        # Its lease was given back, or is another's now. Not so if the journal was
        # out of reach (an exception above): it stays held, and is released once
        # the journal answers again.
        self._held.discard(record.id)

    def _advance(self, record: InstanceRecord) -> None:
        runtime = self.runtimes[(record.workflow, record.workflow_version)]
        try:
            instance = runtime.claimed(record, self._claimed_at)
            status = instance.advance(until=self.stopping.is_set)
            with self._counting:
                self.processed += 1
            metrics.INSTANCE_RUNS.inc()
            log.info("instance %r: %s after event #%d", record.id, status, len(instance.events))
            # Its lease is given back: another worker may run it next (a timer that
            # falls due, a signal), so a copy kept here would only grow the memory.
            runtime.forget(record.id)
        except (ConcurrencyConflict, LeaseHeld, WrongWorkflow) as exc:
            # Another process advanced or migrated it meanwhile: forget our copy, it will
            # be reloaded (with its new version's code).
            log.warning("instance %r: %s", record.id, exc)
            runtime.forget(record.id)
            if isinstance(exc, WrongWorkflow):  # claimed at the old version: let it go
                self.journal.release_lease(record.id, self.owner)
        except JournalUnavailable:
            runtime.forget(record.id)
            raise
        except JournalError as exc:
            # About this instance only (say, deleted meanwhile): the others go on.
            log.error("instance %r: %s", record.id, exc)
            runtime.forget(record.id)
        except Exception as exc:
            # The journal cannot be replayed (e.g. an event that no longer decodes): fail
            # the instance with the reason, keeping every event as it is.
            log.error("instance %r cannot be advanced: %s", record.id, exc)
            runtime.forget(record.id)
            try:
                self.journal.update_instance(
                    record.id,
                    StatusUpdate(
                        InstanceStatus.FAILED,
                        # A NUL (from a payload, say) is escaped: PostgreSQL refuses it.
                        last_error=f"{type(exc).__name__}: {exc}".replace("\x00", "\\x00"),
                        attempts=record.attempts, release_lease=True,
                    ),
                    self.clock.now(),
                    expected_seq=record.last_seq,  # not over a cancellation recorded meanwhile
                    expected_attempts=record.attempts,  # nor over another worker's count
                )  # fmt: skip
            except ConcurrencyConflict as conflict:
                log.warning("instance %r: not marked failed: %s", record.id, conflict)

    def abandon(self) -> None:
        """Give up the instances being advanced and the rest of their batch, so that
        other workers take them over at once rather than when their leases expire."""
        with self._counting:
            current = set(self._current)
        for instance_id in sorted(current):
            log.warning("abandoning instance %r after the shutdown timeout", instance_id)
        for instance_id in sorted(self._held | current):
            try:
                self.journal.release_lease(instance_id, self.owner)
            except JournalError as exc:
                log.warning("instance %r: lease not released: %s", instance_id, exc)

    def _heartbeat(self) -> None:
        """Registers the workflows again and looks for unserved instances; renews the
        leases too when no child process does (an in-memory journal, a test clock)."""
        while not self.stopping.wait(self.lease_ttl / 3):
            try:
                if self._renewer is None or not self._renewer.alive():
                    self.journal.renew_leases(
                        self.owner, self.clock.now(), timedelta(seconds=self.lease_ttl)
                    )
                self._announce()
                if time.monotonic() >= self._next_unserved_check:
                    self.report_unserved()
                self.outage.ended()
            except JournalUnavailable as exc:
                self.outage.failed(exc)  # logged once per outage, by whoever sees it first
            except JournalError as exc:
                log.warning("heartbeat: %s", exc)


def probe(journal: Journal, timeout: float) -> str | None:
    """Why ``journal`` does not answer within ``timeout`` seconds, or None if it does.

    The ping runs on a connection of its own in a thread of its own: whatever
    the journal does (a pool waiting to reconnect, a write lock held), the
    answer comes in time."""
    outcome: list[str | None] = []

    def ping() -> None:
        try:
            journal.ping(timeout)
            outcome.append(None)
        except Exception as exc:
            outcome.append(str(exc) or type(exc).__name__)

    thread = threading.Thread(target=ping, name="wio-health-ping", daemon=True)
    thread.start()
    thread.join(timeout)
    if not outcome:
        return f"{journal.url}: no answer within {timeout:g} s"
    return outcome[0]


def serve_health(worker: Worker, port: int, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """Serve ``GET /health`` (200 if the journal answers, 503 if not) and ``GET /metrics``
    (Prometheus) on ``host``."""

    class Health(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                body, content_type = metrics.exposition(worker.journal)
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            if self.path != "/health":
                self._reply(404, {"error": "not found; try /health or /metrics"})
                return
            problem = worker.outage.error or probe(worker.journal, HEALTH_TIMEOUT)
            if problem is not None:
                self._reply(503, {"status": "unavailable", "journal": problem})
                return
            self._reply(
                200,
                {
                    "status": "ok",
                    "journal": "reachable",
                    "owner": worker.owner,
                    "stopping": worker.stopping.is_set(),
                    "processed": worker.processed,
                },
            )

        def _reply(self, code: int, body: dict[str, Any]) -> None:
            payload = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("health: " + format, *args)

    try:
        server = ThreadingHTTPServer((host, port), Health)
    except (OSError, OverflowError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InvalidSetting(f"health endpoint: cannot listen on {host}:{port}: {reason}") from None
    threading.Thread(target=server.serve_forever, name="wio-health", daemon=True).start()
    return server


def run_worker_process(
    worker: Worker, health_port: int | None = None, health_host: str = "127.0.0.1"
) -> int:
    """Run ``worker`` in this process until SIGTERM or SIGINT; returns the exit status."""
    stopped = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s: finishing the current step", signal.Signals(signum).name)
        worker.stop()
        stopped.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server = serve_health(worker, health_port, health_host) if health_port is not None else None
    failure: list[BaseException] = []

    def work() -> None:
        try:
            worker.run_until_stopped()
        except BaseException as exc:  # reported by the main thread
            failure.append(exc)
        finally:
            stopped.set()

    # The loop runs in a thread so that the main thread can bound the shutdown.
    loop = threading.Thread(target=work, name="wio-worker")
    loop.start()
    stopped.wait()
    loop.join(worker.shutdown_timeout)
    if server is not None:
        server.shutdown()
    if loop.is_alive():
        worker.abandon()
        logging.shutdown()
        os._exit(0)  # the abandoned step's thread cannot be interrupted
    if failure:
        raise failure[0]
    return 0


def registered_model(workflow: Workflow[Any, Any, Any] | WIO[Any, Any, Any]) -> dict[str, Any]:
    """The model JSON a worker registers for a workflow version (`wio.model.to_model`):
    a `WithCleanup` around its tree when it declares a cleanup flow."""
    return unstructure(to_model(workflow))
