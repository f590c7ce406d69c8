"""The `wio` command tried as a new user would: each mistake gets a clear error, never a
traceback, and a read command never creates a journal."""

from __future__ import annotations

import socket
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

from tests.conftest import POSTGRES_URL, ROOT, drop_schema, postgres_available, postgres_url
from tests.processes import wio

ORDER = "docs/examples/order.py:order_workflow"
APPROVAL = "docs/examples/approval.py:workflow"
ORDER_INPUT = '{"order_id": "A-1", "customer_email": "a@example.com", "amount_cents": 10, '


def closed_pipe(*args: str) -> subprocess.Popen[str]:
    """`wio ARGS | head -0`: the reader is gone before wio writes anything."""
    process = subprocess.Popen(
        [sys.executable, "-m", "wio.cli", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    process.stdout.close()
    return process


@pytest.mark.parametrize(
    "args",
    [("render", ORDER, "--format", "mermaid"), ("render", ORDER), ("lint", ORDER)],
)
def test_a_closed_pipe_ends_wio_quietly(args: tuple[str, ...]) -> None:
    process = closed_pipe(*args)
    _, stderr = process.communicate(timeout=120)
    assert stderr == ""
    assert process.returncode == 141  # 128 + SIGPIPE, as for any program killed by it


def test_the_demo_stops_with_its_reader_and_leaves_no_child_behind() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "wio.cli", "demo"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stderr is not None
    child = None
    for line in process.stdout:  # `wio demo | head`: read until the child shows up
        if "| sending the confirmation email" in line:
            child = int(line.split("child ")[1].split()[0])
            break
    assert child is not None
    process.stdout.close()
    process.wait(timeout=120)  # a guard against the old 30 s hang, not a timing assertion
    assert "Traceback" not in process.stderr.read()
    assert not Path(f"/proc/{child}").exists()  # killed and reaped, not orphaned


def test_an_output_file_in_a_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "x.svg"
    done = wio("render", ORDER, "--format", "dot", "-o", str(target))
    assert done.returncode == 1
    assert done.stderr == f"wio: error: -o {target}: cannot write it: No such file or directory\n"


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--health-port", "99999", "expected a port from 0 to 65535, got 99999"),
        ("--health-port", "http", "expected a port number, got 'http'"),
        ("--lease-ttl", "-1", "expected more than 0 seconds, got '-1'"),
        ("--lease-ttl", "0", "expected more than 0 seconds, got '0'"),
        ("--poll-interval", "nan", "expected more than 0 seconds, got 'nan'"),
        ("--shutdown-timeout", "-5", "expected 0 seconds or more, got '-5'"),
    ],
)
def test_worker_settings_out_of_range_are_refused(
    option: str, value: str, message: str, tmp_path: Path
) -> None:
    done = wio("worker", "--journal", f"sqlite:///{tmp_path / 'j.db'}", "--workflows", ORDER,
               option, value, "--once")  # fmt: skip
    assert done.returncode == 2
    assert f"argument {option}: {message}" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_health_port_in_use_and_a_target_given_twice_are_clear_errors(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'j.db'}"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = wio("worker", "--journal", url, "--workflows", ORDER, "--health-port", str(port))
    assert done.returncode == 1
    assert done.stderr == (
        f"wio: error: health endpoint: cannot listen on 127.0.0.1:{port}: Address already in use\n"
    )
    twice = wio("worker", "--journal", url, "--workflows", ORDER, ORDER, "--once")
    assert twice.returncode == 1
    assert twice.stderr == "wio: error: workflow 'order_workflow' version 1 is given twice\n"


def test_a_failing_user_module_shows_the_users_error_not_ours(tmp_path: Path) -> None:
    (tmp_path / "syntax.py").write_text("flow = (\n")
    (tmp_path / "raises.py").write_text(
        "def configure():\n    raise RuntimeError('WIO_API_KEY is not set')\n\nconfigure()\n"
    )
    syntax = wio("render", f"{tmp_path / 'syntax.py'}:flow")
    assert syntax.returncode == 1
    assert f"cannot load {tmp_path / 'syntax.py'}, its code raised:" in syntax.stderr
    assert "SyntaxError: '(' was never closed" in syntax.stderr
    raises = wio("lint", f"{tmp_path / 'raises.py'}:flow")
    assert raises.returncode == 1
    assert raises.stderr.splitlines()[1:] == [
        f'  File "{tmp_path / "raises.py"}", line 4, in <module>',
        "    configure()",
        f'  File "{tmp_path / "raises.py"}", line 2, in configure',
        "    raise RuntimeError('WIO_API_KEY is not set')",
        "RuntimeError: WIO_API_KEY is not set",
    ]
    assert "wio/" not in raises.stderr and "importlib" not in raises.stderr
    assert "Traceback" not in raises.stderr  # the user's frames only, not ours


def test_read_commands_on_a_missing_sqlite_journal_create_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'typo.db'}"
    for args in (
        ("instances",),
        ("inspect", "A-1"),
        ("retry", "A-1"),
        ("signal", "A-1", "Submit", "--request", "{}", "--workflows", APPROVAL),
        ("render", ORDER, "--format", "text", "--instance", "A-1"),
    ):
        done = wio(*args, "--journal", url)
        assert done.returncode == 1, args
        assert done.stderr == (
            f"wio: error: no journal at {url}: the file {tmp_path / 'typo.db'} does not exist\n"
        ), args
    assert list(tmp_path.iterdir()) == []


@pytest.mark.postgres
def test_read_commands_on_a_missing_postgres_schema_create_nothing() -> None:
    postgres_available()
    schema = f"wio_missing_{uuid.uuid4().hex[:8]}"
    try:
        for args in (("instances",), ("inspect", "A-1"), ("cancel", "A-1")):
            done = wio(*args, "--journal", postgres_url(schema))
            assert done.returncode == 1, args
            assert f"(schema {schema}): the schema has no wio tables" in done.stderr
        with psycopg.connect(POSTGRES_URL) as conn:
            row = conn.execute("SELECT to_regnamespace(%s)", (schema,)).fetchone()
        assert row == (None,)  # no DDL ran
    finally:
        drop_schema(schema)


@pytest.mark.parametrize(
    ("input_", "message"),
    [
        (ORDER_INPUT + '"items": "lamp"}', 'expected an array, got "lamp" @ input.items'),
        (ORDER_INPUT + '"items": {"lamp": 1}}', 'expected an array, got {"lamp": 1} @ input.items'),
        ("[1, 2]", "expected an object, got [1, 2] @ input"),
        (ORDER_INPUT + '"items": [1]}', "expected str, got 1 @ input.items[0]"),
    ],
)
def test_inputs_are_structured_strictly(input_: str, message: str, tmp_path: Path) -> None:
    done = wio("start", ORDER, "--id", "A-1", "--input", input_,
               "--journal", f"sqlite:///{tmp_path / 'j.db'}")  # fmt: skip
    assert done.returncode == 1
    assert done.stderr == f"wio: error: --input: the input does not fit Order: {message}\n"


def test_an_empty_id_and_an_empty_schema_are_refused(tmp_path: Path) -> None:
    for blank in ("", "  "):
        done = wio("start", ORDER, "--id", blank, "--input", ORDER_INPUT + '"items": ["x"]}',
                   "--journal", f"sqlite:///{tmp_path / 'j.db'}")  # fmt: skip
        assert done.returncode == 1
        assert done.stderr == (
            f"wio: error: an instance id must be a non-blank string, got {blank!r}\n"
        )
    empty = wio("instances", "--journal", f"{POSTGRES_URL}?schema=")
    assert empty.returncode == 1
    assert "wio: error: schema '' is not a valid SQL identifier" in empty.stderr
    sqlite = wio("instances", "--journal", f"sqlite:///{tmp_path / 'j.db'}?synchronous=")
    assert sqlite.returncode == 1 and "synchronous=''" in sqlite.stderr


def test_an_id_after_the_workflows_list_is_still_the_id(tmp_path: Path) -> None:
    url = ("--journal", f"sqlite:///{tmp_path / 'j.db'}")
    started = wio("start", APPROVAL, "--id", "doc-1", "--advance", *url,
                  "--input", '{"document_id": "doc-1", "author": "ada"}')  # fmt: skip
    assert started.returncode == 0, started.stderr
    shown = wio("inspect", "--workflows", APPROVAL, "doc-1", *url)
    assert shown.returncode == 0, shown.stderr
    assert "waiting for: waiting for signal 'Submit'" in shown.stdout
    signalled = wio("signal", *url, "--request", '{"title": "T"}', "--workflows", APPROVAL,
                    "doc-1", "Submit")  # fmt: skip
    assert signalled.returncode == 0, signalled.stderr
    assert '"status": "submitted"' in signalled.stdout
    missing = wio("inspect", "--workflows", APPROVAL, *url)
    assert missing.returncode == 2
    assert "the following arguments are required: ID" in missing.stderr


@pytest.mark.parametrize("format_", ["json", "bpmn"])
def test_instance_marks_are_refused_where_a_format_cannot_draw_them(
    format_: str, tmp_path: Path
) -> None:
    done = wio("render", ORDER, "--format", format_, "--instance", "A-1",
               "--journal", f"sqlite:///{tmp_path / 'j.db'}")  # fmt: skip
    assert done.returncode == 1
    assert done.stderr == (
        f"wio: error: --instance: the {format_} format cannot mark the nodes an instance ran; "
        "use mermaid, dot, svg, png or text\n"
    )
