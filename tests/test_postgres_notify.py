"""Workers LISTENing on PostgreSQL hear of new and released work once it is committed."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg import sql

from tests.conftest import POSTGRES_URL
from wio.journal import InstanceRecord, InstanceStatus, open_journal
from wio.journal.postgres import CHANNEL, PostgresJournal

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.postgres
def test_a_notification_follows_the_commit_and_the_notifier_stops_on_close(
    postgres_journal_url: str,
) -> None:
    with open_journal(postgres_journal_url) as journal:
        assert isinstance(journal, PostgresJournal)
        channel = f"{CHANNEL}_{journal.schema}"
        with psycopg.connect(POSTGRES_URL, autocommit=True) as listener:
            listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
            for n in range(3):
                journal.create_instance(
                    InstanceRecord(f"i{n}", "flow", 1, InstanceStatus.RUNNING, 0, NOW, NOW)
                )
            heard = list(listener.notifies(timeout=30, stop_after=1))
            assert heard and heard[0].channel == channel
            # Whoever hears it finds the work committed.
            assert journal.claim_runnable("w", NOW, timedelta(seconds=30), 10)
            journal.release_lease("i0", "w")
            assert list(listener.notifies(timeout=30, stop_after=1))
    assert not [t for t in threading.enumerate() if t.name == "wio-notify"]
