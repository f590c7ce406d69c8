"""`wio replay` and `wio.testing.assert_replays`: stored instances replayed against
code, strictly, with a verdict per instance; the journal is only read."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import DURABLE_JOURNALS, ROOT
from tests.processes import wio
from tests.shipping_stages import V1, V2, rows, start_v1_at_every_stage
from wio.loading import load_definition
from wio.testing import ReplayDiverged, assert_replays

VARIANTS = "tests/harness/shipping_variants.py"


def sqlite_bytes(url: str) -> dict[str, bytes]:
    """The SQLite journal's files, byte for byte (nothing for PostgreSQL)."""
    if not url.startswith("sqlite:///"):
        return {}
    path = Path(url.removeprefix("sqlite:///"))
    return {f.name: f.read_bytes() for f in sorted(path.parent.glob(path.name + "*"))}


FORGETFUL = f"{VARIANTS}:forgetful"
INSIDE_DIVERGES = (
    "inside: shipping v2: diverges at seq 1: event StockReserved, node /0/0/0, expected an "
    "event it can decode (no event class is registered under this name (known: "
    "ParcelShipped, PaymentSettled, wio.Cancelled, wio.Migrated); if a newer version "
    "removed it, list it in Workflow(..., retired_events=...))"
)


@DURABLE_JOURNALS
def test_replay_against_v2_gives_a_verdict_per_instance_and_writes_nothing(
    journal_url: str,
) -> None:
    start_v1_at_every_stage(journal_url)
    before = rows(journal_url)
    files = sqlite_bytes(journal_url)
    # `inside` replays too: its reservation waits, held, for v2's recovery event.
    done = wio("replay", "--journal", journal_url, "--workflows", V2)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "before: shipping v2: ok",
        "inside: shipping v2: ok",
        "past: shipping v2: ok",
        "finished: shipping v2: ok",
        "replayed 4 instance(s): 4 ok, 0 diverge",
    ]
    # v2 without its retired events: the checkpoint still covers `past` and `finished`
    # (their removed section's events are skipped undecoded); `inside` does not decode.
    forgetful = wio("replay", "--journal", journal_url, "--workflows", FORGETFUL)
    assert forgetful.returncode == 1, forgetful.stderr
    assert forgetful.stdout.splitlines() == [
        "before: shipping v2: ok",
        INSIDE_DIVERGES,
        "past: shipping v2: ok",
        "finished: shipping v2: ok",
        "replayed 4 instance(s): 3 ok, 1 diverge",
    ]
    assert sqlite_bytes(journal_url) == files  # byte-identical, for SQLite
    assert rows(journal_url) == before  # row-identical: registry, events, workflows


@DURABLE_JOURNALS
def test_replay_selects_by_status_and_instance_and_exits_0_when_all_replay(
    journal_url: str,
) -> None:
    start_v1_at_every_stage(journal_url)
    finished = wio("replay", "--journal", journal_url, "--workflows", V2, "--status", "finished")
    assert (finished.returncode, finished.stdout.splitlines()) == (
        0,
        ["finished: shipping v2: ok", "replayed 1 instance(s): 1 ok, 0 diverge"],
    )
    one = wio("replay", "--journal", journal_url, "--workflows", FORGETFUL, "--instance", "inside")
    assert (one.returncode, one.stdout.splitlines()[0]) == (1, INSIDE_DIVERGES)
    # Each instance replays against the version it runs when that version is given.
    both = wio("replay", "--journal", journal_url, "--workflows", V1, V2)
    assert both.returncode == 0, both.stdout
    assert both.stdout.splitlines()[-1] == "replayed 4 instance(s): 4 ok, 0 diverge"


@DURABLE_JOURNALS
def test_replay_names_an_event_that_no_longer_decodes_and_a_handler_that_raises(
    journal_url: str,
) -> None:
    start_v1_at_every_stage(journal_url)
    forgetful = wio("replay", "--journal", journal_url, "--workflows", FORGETFUL)
    assert forgetful.returncode == 1
    assert forgetful.stdout.splitlines()[1] == INSIDE_DIVERGES
    broken = wio(
        "replay", "--journal", journal_url, "--workflows", f"{VARIANTS}:broken_handler",
        "--instance", "inside",
    )  # fmt: skip
    assert broken.returncode == 1
    assert broken.stdout.splitlines()[0] == (
        "inside: shipping v3: diverges at seq 1: event StockReserved, node /0/0/0, expected "
        "its handler to accept it, but it raised ValueError: reservations are handled "
        "elsewhere now"
    )
    reordered = wio("replay", "--journal", journal_url, "--workflows", f"{VARIANTS}:reordered")
    assert reordered.stdout.splitlines()[2] == (
        "past: shipping v4: diverges at seq 1: event StockReserved, node /0/0/0, expected "
        "giving it to node /0, not to node /0/0/0 that recorded it"
    )


@DURABLE_JOURNALS
def test_replay_reports_an_instance_without_its_code_and_refuses_bad_targets(
    journal_url: str,
) -> None:
    start_v1_at_every_stage(journal_url)
    order = "docs/examples/order.py:order_workflow"
    other = wio("replay", "--journal", journal_url, "--workflows", order, "--instance", "past")
    assert (other.returncode, other.stdout.splitlines()) == (
        1,
        [
            "past: shipping v1: does not replay: no code of 'shipping' given "
            "(given: order_workflow)",
            "replayed 1 instance(s): 0 ok, 1 diverge",
        ],
    )
    missing = wio("replay", "--journal", journal_url, "--workflows", "docs/examples/order.py:nope")
    assert missing.returncode == 1
    assert missing.stderr.startswith("wio: error: ") and "has no attribute 'nope'" in missing.stderr
    unknown = wio("replay", "--journal", journal_url, "--workflows", V2, "--instance", "ghost")
    assert (unknown.returncode, unknown.stderr.strip()) == (
        1,
        "wio: error: no instance 'ghost' in the journal",
    )


@DURABLE_JOURNALS
def test_assert_replays_passes_on_matching_code_and_names_each_divergence(
    journal_url: str,
) -> None:
    start_v1_at_every_stage(journal_url)
    before = rows(journal_url)
    v1 = load_definition(str(ROOT / V1))
    v2 = load_definition(str(ROOT / V2))
    forgetful = load_definition(str(ROOT / FORGETFUL))
    assert [v.instance_id for v in assert_replays(journal_url, v1)] == [
        "before",
        "inside",
        "past",
        "finished",
    ]
    assert_replays(journal_url, v2)
    with pytest.raises(ReplayDiverged) as diverged:
        assert_replays(journal_url, forgetful)
    assert [v.instance_id for v in diverged.value.diverged] == ["inside"]
    assert isinstance(diverged.value, AssertionError)  # fails a pytest test as it should
    assert "1 of 4 instance(s) do not replay" in str(diverged.value)
    assert "inside: diverges at seq 1: event StockReserved, node /0/0/0" in str(diverged.value)
    assert_replays(journal_url, forgetful, statuses=[], instance_ids=["past", "finished"])
    assert rows(journal_url) == before
