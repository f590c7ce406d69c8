"""No error, answer or log line ever shows the database password: the CLI's messages on
every kind of bad or unreachable URL, and `wio serve`'s and `wio worker`'s answers and logs
when the journal goes away under them (through a TCP proxy the test cuts)."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.conftest import POSTGRES_URL, ROOT, drop_schema, postgres_available
from tests.processes import order_input, wait_until, wio

PASSWORD = "pw-LEAKED-7f3a"
ORDER = "docs/examples/order.py:order_workflow"
pytestmark = pytest.mark.postgres


def with_password(host: str | None = None, password: str = PASSWORD, **query: str) -> str:
    """The shared server's URL with a password in it (trust authentication ignores it)."""
    parts = urlsplit(POSTGRES_URL)
    user = parts.username or "postgres"
    netloc = f"{user}:{password}@{host or parts.netloc.rpartition('@')[2]}"
    options = "&".join(f"{k}={v}" for k, v in query.items())
    return urlunsplit(parts._replace(netloc=netloc, query=options))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def schema() -> Iterator[str]:
    postgres_available()
    name = f"wio_test_{uuid.uuid4().hex[:12]}"
    yield name
    drop_schema(name)


def assert_no_password(*texts: str) -> None:
    for text in texts:
        assert PASSWORD not in text and "LEAKED" not in text, text
        assert "Traceback" not in text, text


MALFORMED = [
    pytest.param(with_password(host="127.0.0.1:1"), id="unreachable"),
    pytest.param(with_password(password="p@ss-LEAKED-7f3a"), id="unencoded-at"),
    pytest.param(with_password(password="pw/LEAKED-7f3a"), id="unencoded-slash"),
    pytest.param(with_password(password="pw?LEAKED-7f3a"), id="unencoded-question-mark"),
    pytest.param(with_password(password="%zzLEAKED-7f3a"), id="bad-percent-encoding"),
    pytest.param(with_password(host="[::1"), id="unclosed-ipv6"),
    pytest.param(with_password(sslmode="bogus"), id="bad-libpq-option"),
    pytest.param(with_password(pool_min="x"), id="bad-wio-option"),
    pytest.param(with_password(schema="1bad"), id="bad-schema"),
    pytest.param(with_password().replace("postgresql", "postgresq", 1), id="unknown-scheme"),
    pytest.param(with_password().replace("postgresql", "postgresql+psycopg", 1), id="dialect"),
    pytest.param(
        urlunsplit(urlsplit(POSTGRES_URL)._replace(query=f"password={PASSWORD}&port=1")),
        id="password-option",
    ),
]


@pytest.mark.parametrize("url", MALFORMED)
def test_a_bad_or_unreachable_url_is_refused_without_its_password(url: str) -> None:
    done = wio("instances", "--journal", url, env={**os.environ, "WIO_LOG_LEVEL": "DEBUG"})
    assert done.returncode == 1 and done.stderr.startswith("wio: error: "), done.stderr
    assert_no_password(done.stdout, done.stderr)


def test_every_command_keeps_the_password_out_of_its_output(schema: str) -> None:
    """Each command on an unreachable server, a missing journal, and a working one."""
    env = {**os.environ, "WIO_LOG_LEVEL": "DEBUG"}
    unreachable = with_password(host="127.0.0.1:1")
    missing = with_password(schema=f"{schema}_none")
    working = with_password(schema=schema)
    commands = [
        ("instances",),
        ("inspect", "A-1", "--workflows", ORDER),
        ("start", ORDER, "--id", "A-1", "--input", order_input("A-1")),
        ("signal", "A-1", "Nothing", "--request", "{}", "--workflows", ORDER),
        ("worker", "--workflows", ORDER, "--once"),
        ("retry", "A-1"),
        ("cancel", "A-1"),
        ("fork", "A-1", "--at", "1", "--as", "A-2"),
        ("cancel", "--status", "running", "--yes"),
        (
            "migrate",
            "--workflow",
            "order_workflow",
            "--to",
            "1",
            "--workflows",
            ORDER,
            "--all",
            "--yes",
        ),
        ("replay", "--workflows", ORDER),
        ("prune", "--finished-before", "2020-01-01T00:00:00+00:00"),
        ("serve", "--workflows", ORDER, "--port", str(free_port())),
        ("db", "upgrade"),
    ]
    outputs = []
    for url in (unreachable, missing, working):
        for command in commands:
            if url != unreachable and command[0] not in ("instances", "start", "db", "prune"):
                continue  # serve would serve on (the test below stops one); the rest ran
            done = wio(*command, "--journal", url, env=env)
            outputs.append((url, command, done.returncode, done.stdout + done.stderr))
    for url, command, returncode, output in outputs:
        assert_no_password(output)
        if url == unreachable:
            assert returncode == 1 and "***" in output, (command, output)
    working_started = [o for u, c, _, o in outputs if u == working and c[0] == "start"]
    assert "instance 'A-1'" in working_started[0]


class CuttableProxy:
    """Forwards TCP connections to PostgreSQL until cut: then the database is unreachable
    to everything that connected through it, as when the network fails."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.cut_off = threading.Event()
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self) -> None:
        while not self.cut_off.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.cut_off.is_set():
                client.close()
                return
            server = socket.create_connection(self.target)
            self.sockets += [client, server]
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self.pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def resume(self) -> None:
        """The network is back: new connections go through again."""
        self.cut_off.clear()
        self.listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self.accept, daemon=True).start()

    def cut(self) -> None:
        self.cut_off.set()
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self.listener.close()
        for end in self.sockets:
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()


def call(port: int, method: str, path: str, body: Any = None) -> tuple[int, str]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=data,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError as error:  # refused or reset: no answer
        return 0, str(error)


def test_serve_and_worker_answer_and_log_without_the_password_when_the_journal_goes(
    schema: str, tmp_path: Path
) -> None:
    parts = urlsplit(POSTGRES_URL)
    proxy = CuttableProxy((parts.hostname or "127.0.0.1", parts.port or 5432))
    url = with_password(host=f"127.0.0.1:{proxy.port}", schema=schema)
    env = {**os.environ, "WIO_LOG_LEVEL": "DEBUG"}
    api_port, health_port = free_port(), free_port()
    upgraded = wio("db", "upgrade", "--journal", url)  # the schema, before the others start
    assert upgraded.returncode == 0, upgraded.stderr
    serve, worker = (
        subprocess.Popen(
            [sys.executable, "-m", "wio.cli", *args, "--journal", url, "--workflows", ORDER],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for args in (
            ("serve", "--port", str(api_port)),
            ("worker", "--health-port", str(health_port), "--poll-interval", "0.1"),
        )
    )
    answers: list[tuple[int, str]] = []
    try:
        wait_until(lambda: _answers(api_port, "/health"), "wio serve to answer")
        wait_until(lambda: _answers(health_port, "/health"), "the worker's health port")
        started = call(
            api_port,
            "POST",
            "/workflows/order_workflow/instances",
            {"id": "A-1", "input": json.loads(order_input("A-1"))},
        )
        assert started[0] == 201, started
        proxy.cut()
        requests: list[tuple[int, str, str, Any]] = [
            (api_port, "GET", "/health", None),
            (api_port, "GET", "/instances/A-1", None),
            (api_port, "POST", "/bulk/retry", {"status": "failed", "dry_run": True}),
            (
                api_port,
                "POST",
                "/workflows/order_workflow/instances",
                {"id": "A-2", "input": json.loads(order_input("A-2"))},
            ),
            (health_port, "GET", "/health", None),
        ]
        with ThreadPoolExecutor(len(requests)) as pool:  # each waits out the pool's timeout
            answers += pool.map(lambda request: call(*request), requests)
        # The worker stayed up through the outage, and works again once it is over.
        proxy.resume()
        again = {"id": "A-3", "input": json.loads(order_input("A-3"))}
        wait_until(
            lambda: (
                call(api_port, "POST", "/workflows/order_workflow/instances", again)[0]
                in (200, 201)
            ),
            "wio serve to reach the journal again",
        )
        wait_until(
            lambda: '"status":"finished"' in call(api_port, "GET", "/instances/A-3")[1],
            "the worker to run A-3",
        )
    finally:
        proxy.cut()
        for process in (serve, worker):
            process.terminate()
    logs = [process.communicate(timeout=60)[0] for process in (serve, worker)]
    assert [status for status, _ in answers] == [503] * 5, (answers, logs)
    assert all("***" in body for status, body in answers if status == 503), answers
    for _, body in answers:
        assert_no_password(body)
    for log in logs:
        assert PASSWORD not in log and "LEAKED" not in log, log
    assert "journal unavailable, retrying with backoff" in logs[1], logs[1]
    assert "journal available again" in logs[1], logs[1]


def _answers(port: int, path: str) -> bool:
    try:
        return call(port, "GET", path)[0] == 200
    except OSError:
        return False
