"""Reading and writing a journal's rows directly, as an operator or a faulty tool would."""

from __future__ import annotations

import contextlib

import psycopg
from psycopg import sql

from tests.conftest import POSTGRES_URL


def raw(url: str, statement: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Run SQL on the journal's tables directly, as an operator or a bad tool would;
    ``?`` placeholders, the table names unqualified."""
    if url.startswith("sqlite"):
        import sqlite3

        with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as db:
            rows = db.execute(statement, params).fetchall()
            db.commit()
            return rows
    schema = url.rpartition("schema=")[2]
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        cursor = conn.execute(statement.replace("?", "%s"), params)  # type: ignore[arg-type]
        return cursor.fetchall() if cursor.description else []


def event_rows(url: str, instance_ids: list[str]) -> list[tuple[str, ...]]:
    """The event rows of ``instance_ids``, every column but the time, as text."""
    rows = raw(url, "SELECT instance_id, seq, type, version, payload, node FROM events "
               "ORDER BY instance_id, seq")  # fmt: skip
    return [tuple(map(str, row)) for row in rows if row[0] in instance_ids]
