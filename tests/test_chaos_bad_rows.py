"""Chaos: bad rows written straight into the journal under running workers (issue 12).

Five instances get a row no worker can use: a payload that does not decode, an
unknown event type, an event for the wrong step, a workflow no worker serves, and
a gap in the sequence. Real `wio worker --strict` processes run them with twenty
good instances: each bad one fails with a precise reason (or, for the workflow no
one serves, is logged once and listed with its reason), every good one finishes,
and no event row changes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import DURABLE_JOURNALS, ROOT
from tests.journal_rows import event_rows, raw
from tests.processes import harness_env, start_worker, stop, wait_until, wio
from wio.journal import InstanceRecord, InstanceStatus, open_journal
from wio.loading import load_definition
from wio.runtime import Runtime

HARNESS = "tests/harness/bad_rows.py:workflow"
GOOD = [f"good-{n:02}" for n in range(20)]
NOW = datetime.now(UTC)


@pytest.mark.chaos
@DURABLE_JOURNALS
def test_bad_rows_fail_their_instances_precisely_and_change_nothing(
    journal_url: str, tmp_path: Path
) -> None:
    definition = load_definition(str(ROOT / HARNESS))
    codec = definition.codec
    # The three steps' events, as the workers record them.
    drafted, reviewed, published = (
        codec.encode(codec.event_class(name)(1))  # type: ignore[misc]
        for name in ("Drafted", "Reviewed", "Published")
    )
    on_sqlite = journal_url.startswith("sqlite")
    with open_journal(journal_url) as journal:
        runtime = Runtime(definition, journal=journal)
        for instance_id in GOOD:
            runtime.create(instance_id, 1)

        def planted(instance_id: str, events: list[object], workflow: str = "steps") -> None:
            record = InstanceRecord(instance_id, workflow, 1, InstanceStatus.RUNNING, 1, NOW, NOW)
            journal.create_instance(record, events)  # type: ignore[arg-type]

        planted("undecodable", [drafted])
        planted("unknown-type", [drafted])
        planted("wrong-step", [drafted, published])  # Review's turn, not Publish's
        planted("unserved", [], workflow="ghost")
        planted("gap", [drafted, reviewed])
    # PostgreSQL stores JSON only: there, undecodable is JSON the event class refuses.
    raw(journal_url, "UPDATE events SET payload = ? WHERE instance_id = 'undecodable'",
        ("{not json" if on_sqlite else '{"value": "one"}',))  # fmt: skip
    raw(journal_url, "UPDATE events SET type = 'NoSuchEvent' WHERE instance_id = 'unknown-type'")
    raw(journal_url, "DELETE FROM events WHERE instance_id = 'gap' AND seq = 1")
    bad = ["undecodable", "unknown-type", "wrong-step", "unserved", "gap"]
    before = event_rows(journal_url, bad)

    log = tmp_path / "worker.log"
    workers = [start_worker(journal_url, harness_env(log), "--strict", workflows=HARNESS)
               for _ in range(2)]  # fmt: skip
    with open_journal(journal_url) as journal:
        try:
            wait_until(
                lambda: (
                    all(journal.get_instance(i).status == "finished" for i in GOOD)
                    and all(
                        journal.get_instance(i).status == "failed" for i in bad if i != "unserved"
                    )
                ),
                "the good instances to finish and the bad ones to fail",
                timeout=120,
            )
        finally:
            codes = [stop(worker) for worker in workers]
            outputs = [worker.stdout.read() if worker.stdout else "" for worker in workers]
        errors = {i: journal.get_instance(i).last_error or "" for i in bad}
        assert journal.get_instance("unserved").status == "running"
    assert codes == [0, 0], outputs

    undecodable = (
        "UndecodablePayload: instance 'undecodable': event #1 of type"
        if on_sqlite
        else "EventDecodeError: instance 'undecodable': event #1 of type"
    )
    assert undecodable in errors["undecodable"]
    assert "instance 'unknown-type': event #1 of type 'NoSuchEvent'" in errors["unknown-type"]
    assert "no event class is registered" in errors["unknown-type"]
    assert "UnmatchedEventError: instance 'wrong-step': event #2" in errors["wrong-step"]
    assert "JournalSequenceError: instance 'gap': event #2" in errors["gap"]
    assert "events #1 to #1 are missing" in errors["gap"]
    assert errors["unserved"] == ""
    # Each worker logged the unserved instance once, whatever how often it looked.
    for output in outputs:
        assert output.count("instance 'unserved' runs ghost v1, which no worker serves") == 1
    listed = wio("instances", "--journal", journal_url).stdout.splitlines()
    assert any(line.startswith("unserved") and "no worker serves ghost v1" in line
               for line in listed)  # fmt: skip
    assert event_rows(journal_url, bad) == before  # no row changed, none was added
    print(f"\nbad rows on {journal_url.split(':')[0]}: 5 planted, 4 failed precisely, "
          f"1 reported as unserved, {len(GOOD)} good instances finished, 0 rows changed")  # fmt: skip
