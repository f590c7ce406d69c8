"""A PostgreSQL cluster of a test's own, to restart and stop at will.

The shared test server must never be restarted, so tests that take a database
down create a throw-away cluster (`pg_createcluster`, as root) on a port of
``$WIO_TEST_CLUSTER_PORTS`` (default 5441-5449), and drop it afterwards.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from tests.processes import wait_until

CTL = ["pg_ctlcluster", "--skip-systemctl-redirect"]


def _ports() -> range:
    low, _, high = os.environ.get("WIO_TEST_CLUSTER_PORTS", "5441-5449").partition("-")
    return range(int(low), int(high or low) + 1)


def _free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def _version() -> str:
    versions = sorted(Path("/usr/lib/postgresql").iterdir(), key=lambda p: int(p.name))
    return versions[-1].name


class Cluster:
    def __init__(self, version: str, name: str, port: int) -> None:
        self.version, self.name, self.port = version, name, port

    def url(self, schema: str, **libpq: str) -> str:
        extra = "".join(f"&{key}={value}" for key, value in libpq.items())
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres?schema={schema}{extra}"

    def _ctl(self, *args: str) -> None:
        subprocess.run([*CTL, self.version, self.name, *args], check=True, capture_output=True)

    def restart(self) -> None:
        self._ctl("restart", "-m", "fast")

    def stop(self, mode: str = "immediate") -> None:
        self._ctl("stop", "-m", mode)

    def start(self) -> None:
        self._ctl("start")
        wait_until(self.answers, f"the throw-away cluster on port {self.port} to start")

    def answers(self) -> bool:
        try:
            psycopg.connect(self.url_plain(), connect_timeout=2).close()
        except psycopg.Error:
            return False
        return True

    def url_plain(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def terminate(self, application_name: str) -> int:
        """Terminate every backend of ``application_name``; returns how many."""
        with psycopg.connect(self.url_plain(), autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = %s",
                (application_name,),
            ).fetchall()
        return len(rows)


def cluster_problem() -> str | None:
    if shutil.which("pg_createcluster") is None or not Path("/usr/lib/postgresql").is_dir():
        return "pg_createcluster is not installed"
    if os.geteuid() != 0:
        return "creating a throw-away PostgreSQL cluster needs root"
    return None


@contextmanager
def throwaway_cluster() -> Iterator[Cluster]:
    problem = cluster_problem()
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{problem} (CI=true: the outage tests must run)")
        pytest.skip(f"SKIPPING THROW-AWAY POSTGRESQL TESTS: {problem}")
    version = _version()
    taken = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True).stdout
    used = {int(line.split()[2]) for line in taken.splitlines() if line.strip()}
    port = next((p for p in _ports() if p not in used and _free(p)), None)
    if port is None:
        pytest.fail(f"no free port for a throw-away cluster in {_ports()}")
    name = f"wio_test_{port}_{uuid.uuid4().hex[:6]}"
    subprocess.run(
        ["pg_createcluster", version, name, "-p", str(port), "-o", "fsync=off",
         "-o", "synchronous_commit=off", "-o", "full_page_writes=off", "--", "--auth=trust"],
        check=True, capture_output=True,
    )  # fmt: skip
    cluster = Cluster(version, name, port)
    try:
        cluster.start()
        yield cluster
    finally:
        subprocess.run(
            ["pg_dropcluster", version, name, "--stop"], check=False, capture_output=True
        )
