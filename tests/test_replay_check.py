"""`wio.runtime.check_replay`: strict replay of stored instances against some code,
with a verdict per instance, on real journals."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.conftest import DURABLE_JOURNALS
from tests.nodes import Saved
from tests.test_checkpoint_shielding import v1_shipping, v2_shipping
from wio import WIO, InstanceStatus, Runtime, Workflow
from wio.journal import NewEvent, StoredEvent, open_journal
from wio.runtime import Divergence, check_replay


def verdicts(journal_url: str, workflow: Workflow[int, int]) -> dict[str, str]:
    with open_journal(journal_url) as journal:
        return {
            record.id: check_replay(
                workflow, record.id, record.input, journal.read(record.id)
            ).describe()
            for record in journal.list_instances()
        }


@DURABLE_JOURNALS
def test_stored_instances_get_a_verdict_each(journal_url: str) -> None:
    with Runtime(v1_shipping(), journal=journal_url, owner="ops") as runtime:
        runtime.create("before", 1)
        runtime.create("inside", 2).step()
        past = runtime.create("past", 3)
        past.step(), past.step()
        assert runtime.create("finished", 4).advance() == InstanceStatus.FINISHED
        foreign = runtime.create("foreign", 5)
        foreign.step()
    with open_journal(journal_url) as journal:
        now = datetime.now(UTC)
        journal.append("foreign", 1, [NewEvent("Saved", 1, {"value": 9}, node="/5")], now)
        journal.append("finished", 3, [NewEvent("Saved", 1, {"value": "x"}, node="/0")], now)

    assert verdicts(journal_url, v1_shipping()) == {
        "before": "ok",
        "inside": "ok",
        "past": "ok",
        "finished": "diverges at seq 4: event Saved, node /0, expected an event it can decode "
        '(expected int, got "x" @ payload.value)',
        "foreign": "diverges at seq 2: event Saved, node /5, expected giving it to node /0, "
        "not to node /5 that recorded it",
    }
    v2 = verdicts(journal_url, v2_shipping())
    assert v2["before"] == "ok"  # it will wait at the recovery
    assert v2["past"] == "ok"
    # Its Paid waits, held, for the recovery event an operator delivers.
    assert v2["inside"] == "ok"


def test_a_pure_step_that_raises_on_replay_is_a_divergence() -> None:
    def broken(x: int) -> int:
        raise ValueError("v2 cannot")

    def restore(x: int, e: Saved) -> int:
        return e.value

    v1 = Workflow(WIO.recover(restore) >> WIO.pure_from(str), name="w")
    v2 = Workflow(WIO.recover(restore) >> WIO.pure_from(broken), name="w")
    events = [StoredEvent("i", 1, "Saved", 1, {"value": 1}, None, "/0")]
    assert check_replay(v1, "i", 0, events).ok
    verdict = check_replay(v2, "i", 0, events)
    assert verdict.divergence == Divergence(
        0, "none", "/1", "step None at /1 to run, but it raised ValueError: v2 cannot"
    )
    assert not check_replay(v1, "i", "zero", events).ok  # an input that does not decode
