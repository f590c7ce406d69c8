"""Data the journals or the workflow cannot take fails cleanly and precisely (issue 12):
every such case raises or records a `WioError` naming the instance, the seq, the field
or the node path; nothing in the journal is lost or changed, and the worker goes on."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg import sql

from tests.conftest import POSTGRES_URL, drop_schema, postgres_available, postgres_url
from wio.journal import InstanceRecord, InstanceStatus, open_journal
from wio.journal.postgres import PostgresJournal, work_channel

from datetime import UTC, datetime, timedelta

NOW = datetime(2026, 1, 1, tzinfo=UTC)


# -- finding 4: long schema names ------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.parametrize("length", [54, 55, 63])
def test_a_schema_name_of_up_to_63_characters_has_a_working_work_channel(length: int) -> None:
    postgres_available()
    schema = f"wio_t_{uuid.uuid4().hex}".ljust(length, "x")[:length]
    try:
        with open_journal(postgres_url(schema)) as journal:
            assert isinstance(journal, PostgresJournal)
            channel = work_channel(schema)
            assert len(channel.encode()) <= 63
            assert channel == work_channel(schema)  # stable: notifier and listener agree
            with psycopg.connect(POSTGRES_URL, autocommit=True) as listener:
                listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                journal.wait_for_work(0)  # the worker's own LISTEN works too
                journal.create_instance(
                    InstanceRecord("i", "flow", 1, InstanceStatus.RUNNING, 0, NOW, NOW)
                )
                heard = list(listener.notifies(timeout=30, stop_after=1))
                assert [n.channel for n in heard] == [channel]
            journal.wake()
            journal.wait_for_work(30)  # woken by its own notification
            assert journal.claim_runnable("w", NOW, timedelta(seconds=30), 10)
    finally:
        drop_schema(schema)
