"""Replay pauses Python's cyclic garbage collector, then hands what it built to the
oldest generation; the collector is left as the program had it."""

from __future__ import annotations

import gc

from wio.runtime.core import collector_paused


def test_replayed_objects_go_to_the_oldest_generation_and_cycles_are_still_collected() -> None:
    gc.collect()
    with collector_paused():
        assert not gc.isenabled()
        built = [[n] for n in range(10_000)]
        cycle: list[object] = []
        cycle.append(cycle)
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0
    assert gc.get_count()[0] < 1_000  # not left for the young collections to rescan
    assert any(o is built for o in gc.get_objects(generation=2))
    del cycle
    assert gc.collect() >= 1  # the promoted cycle is garbage a full collection finds


def test_objects_the_program_froze_stay_frozen() -> None:
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with collector_paused():
            pass
        assert gc.get_freeze_count() == frozen
        assert gc.isenabled()
    finally:
        gc.unfreeze()


def test_a_collector_the_program_disabled_stays_disabled() -> None:
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
