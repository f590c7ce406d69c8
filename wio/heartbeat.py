"""Lease renewal from a child process, so that a step holding the GIL cannot stop it.

A worker's leases must be renewed while its steps run. A thread of the worker
cannot run while a step holds the GIL (a long computation in C, a tight
loop), so the worker starts this child process, which renews every lease its
owner holds every third of the lease's life on a connection of its own.

The child reads its settings as one JSON line on stdin and then watches
stdin: the pipe's end is closed when the worker exits, however it exits
(SIGKILL included), and the child stops at once. It does not renew while
the worker is stopped (SIGSTOP, a debugger): a frozen worker's leases run out
and other workers take its instances over, and the lease epoch fences the
frozen worker's appends when it resumes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from wio.clock import Clock, SystemClock
from wio.journal import Journal, JournalError

log = logging.getLogger("wio.heartbeat")
READY_WITHIN = 60.0  # seconds for the child to start and renew once


class Heartbeat:
    """The child process renewing ``owner``'s leases."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process

    @classmethod
    def spawn(cls, journal: Journal, owner: str, ttl: float, clock: Clock) -> Heartbeat | None:
        """Start the child process that renews ``owner``'s leases (`ready` says when
        it does); None when this journal cannot be shared with one (in memory) or the
        clock is not the system's."""
        spec = _journal_spec(journal)
        if spec is None or type(clock) is not SystemClock:
            return None
        process = subprocess.Popen(
            [sys.executable, "-m", "wio.heartbeat"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            close_fds=True,
        )
        assert process.stdin is not None and process.stdout is not None
        settings = {"journal": spec, "owner": owner, "ttl": ttl, "worker": os.getpid()}
        process.stdin.write(json.dumps(settings).encode() + b"\n")
        process.stdin.flush()
        return cls(process)

    def ready(self) -> bool:
        """Wait until the child renews (its start, imports and a connection, may take
        longer than a short lease: claim nothing before). False, and the child
        stopped, if it does not start."""
        assert self.process.stdout is not None
        started, _, _ = select.select([self.process.stdout], [], [], READY_WITHIN)
        if started and self.process.stdout.readline() == b"ready\n":
            return True
        log.warning("the heartbeat process did not start: leases are renewed by a thread")
        self.stop()
        return False

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        """Close the pipe (the child exits) and reap the child."""
        assert self.process.stdin is not None
        with contextlib.suppress(OSError):  # the child is gone already
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _journal_spec(journal: Journal) -> dict[str, Any] | None:
    """How the child opens the same journal, or None."""
    from wio.journal.sqlite import SQLiteJournal

    if isinstance(journal, SQLiteJournal):
        return {"kind": "sqlite", "path": str(journal.path.resolve())}
    postgres = sys.modules.get("wio.journal.postgres")
    if postgres is not None and isinstance(journal, postgres.PostgresJournal):
        return {"kind": "postgres", "conninfo": journal.conninfo, "schema": journal.schema}
    return None


def _open(spec: dict[str, Any]) -> Journal:
    if spec["kind"] == "sqlite":
        from wio.journal.sqlite import SQLiteJournal

        return SQLiteJournal(Path(spec["path"]), upgrade=False, create=False)
    from wio.journal.postgres import PostgresJournal

    return PostgresJournal(
        spec["conninfo"], schema=spec["schema"], pool_min=1, pool_max=1, upgrade=False
    )


def _stopped(pid: int) -> bool:
    """Whether process ``pid`` is stopped (SIGSTOP, a debugger), as Linux reports it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False  # no /proc here: renew, as a thread would
    state = stat.rpartition(")")[2].split()[0]  # the name in parentheses may hold spaces
    return state in ("T", "t")


def main() -> None:
    # Nothing to say: the worker reports outages; the child only keeps trying.
    logging.disable(logging.CRITICAL)
    stdin = sys.stdin.fileno()
    line = b""
    while not line.endswith(b"\n"):
        chunk = os.read(stdin, 4096)
        if not chunk:
            return  # the worker is gone before it said anything
        line += chunk
    settings = json.loads(line)
    owner, ttl, worker = settings["owner"], float(settings["ttl"]), int(settings["worker"])
    clock = SystemClock()
    journal: Journal | None = None
    told_ready = False
    while os.getppid() == worker:
        if told_ready:
            readable, _, _ = select.select([stdin], [], [], ttl / 3)
            if readable and not os.read(stdin, 1024):
                break  # the pipe closed: the worker stopped or died
        if not _stopped(worker):  # a frozen worker must lose its leases
            journal = _renew(journal, settings["journal"], owner, clock, ttl)
        if not told_ready:
            os.write(sys.stdout.fileno(), b"ready\n")
            told_ready = True
    if journal is not None:
        journal.close()


def _renew(
    journal: Journal | None, spec: dict[str, Any], owner: str, clock: Clock, ttl: float
) -> Journal | None:
    """Renew ``owner``'s leases; returns the journal to use next time."""
    try:
        if journal is None:
            journal = _open(spec)
        journal.renew_leases(owner, clock.now(), timedelta(seconds=ttl))
    except JournalError as exc:
        # The worker sees the outage too and logs it; try again next time.
        log.debug("could not renew the leases of %s: %s", owner, exc)
        if journal is not None:
            journal.close()
        return None
    return journal


if __name__ == "__main__":
    main()
