from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

from wio.journal import Journal, open_journal
from wio.loading import load_module

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "docs" / "examples"


def example(name: str) -> ModuleType:
    """A module of docs/examples, loaded as the CLI loads it."""
    return load_module(str(EXAMPLES / f"{name}.py"))


@pytest.fixture
def order() -> ModuleType:
    module = example("order")
    module.side_effects.clear()
    return module


@pytest.fixture
def shipment() -> ModuleType:
    module = example("shipment")
    module.side_effects.clear()
    return module


# -- journals -------------------------------------------------------------------

POSTGRES_URL = os.environ.get("WIO_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
_postgres_problem: list[str] = []


def postgres_available() -> bool:
    """Whether the test server answers; when CI=true an unreachable server is a failure."""
    if not _postgres_problem:
        import psycopg

        try:
            psycopg.connect(POSTGRES_URL, connect_timeout=5).close()
            _postgres_problem.append("")
        except psycopg.Error as exc:
            _postgres_problem.append(f"PostgreSQL at {POSTGRES_URL} is unreachable: {exc}")
    problem = _postgres_problem[0]
    if problem and os.environ.get("CI") == "true":
        pytest.fail(f"{problem} (CI=true: the PostgreSQL tests must run)")
    if problem:
        pytest.skip(f"SKIPPING POSTGRESQL TESTS: {problem}; set WIO_TEST_POSTGRES_URL")
    return True


def postgres_url(schema: str) -> str:
    separator = "&" if "?" in POSTGRES_URL else "?"
    return f"{POSTGRES_URL}{separator}schema={schema}"


def drop_schema(schema: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def journal_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh journal URL of the kind the test is parametrized with."""
    kind = request.param
    if kind == "memory":
        yield "memory://"
    elif kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'journal.db'}"
    else:
        postgres_available()
        schema = f"wio_test_{uuid.uuid4().hex[:12]}"
        yield postgres_url(schema)
        drop_schema(schema)


@pytest.fixture
def open_fresh(journal_url: str) -> Iterator[Callable[[], Journal]]:
    """Opens the test's journal; every journal opened is closed at the end."""
    opened: list[Journal] = []
    shared: list[Journal] = []

    def opener() -> Journal:
        # memory:// journals live only in their object, so "reopening" shares it.
        if journal_url == "memory://":
            if not shared:
                shared.append(open_journal(journal_url))
            return shared[0]
        journal = open_journal(journal_url)
        opened.append(journal)
        return journal

    yield opener
    for journal in opened + shared:
        journal.close()


ALL_JOURNALS = pytest.mark.parametrize(
    "journal_url",
    ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
    indirect=True,
)
DURABLE_JOURNALS = pytest.mark.parametrize(
    "journal_url",
    ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
    indirect=True,
)


@pytest.fixture
def postgres_journal_url() -> Iterator[str]:
    """The URL of a fresh schema on the test server, dropped afterwards."""
    postgres_available()
    schema = f"wio_test_{uuid.uuid4().hex[:12]}"
    yield postgres_url(schema)
    drop_schema(schema)
