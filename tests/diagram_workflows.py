"""Workflows the renderer tests draw, besides the documented examples."""

from __future__ import annotations

from typing import Any

from attrs import frozen

from tests.nodes import Boom, Effects, restore, save
from wio import WIO, Err


@frozen
class Approved:
    by: str


def approve(request: Any) -> Approved:
    return Approved("ops")


def routing() -> WIO[Any, Any, Any]:
    """Forks (nested, with empty and ending branches), a handled section, a checkpoint."""
    effects = Effects()
    inner = (
        WIO.fork("Priority?")
        .branch("Urgent", lambda x: x > 100, effects.step("Page On-Call"))
        .branch("Skip", lambda x: x == 0, WIO.recover(restore))  # empty in BPMN
        .otherwise("Normal", effects.step("Queue Ticket"))
    )
    return (
        WIO.pure_from(lambda x: x).named("Classify")
        >> WIO.fork("Size?")
        .branch("Large", lambda x: x > 50, inner)
        .branch("Invalid", lambda x: x < 0, WIO.end())
        .otherwise("Small", effects.step("Auto Approve").checkpointed(save, restore))
        >> (
            effects.step("Notify")
            >> WIO.pure_from(lambda x: Err(Boom(x)) if x < 0 else x, error=Boom).named("Verify")
        ).handle_error_with(effects.step("Escalate"))
        >> WIO.pure(1).flat_map(lambda v: WIO.pure(v)).named("Choose Next")
    )


HOSTILE = [
    'Say "hello"',
    "Brackets [x] (y) {z} <w>",
    "end",
    "subgraph",
    "#1 priority; a|b & c",
    "<b>bold</b> <script>alert(1)</script>",
    "Ünïcödé ✓ 日本語 — emoji 🚀",
    "back\\slash `tick` 'quote'",
    "style classDef click",
]


def hostile() -> WIO[Any, Any, Any]:
    """Every node kind, each named to break a naive renderer."""
    effects = Effects()
    names = iter(HOSTILE * 3)
    fork = WIO.fork(next(names))
    for label in (next(names), next(names)):
        fork = fork.branch(label, lambda x: x > 0, effects.step(next(names)))
    return (
        WIO.pure(1).named(next(names)).described(next(names))
        >> fork.otherwise(next(names), WIO.pure(0).named(next(names)))
        >> effects.step(next(names)).handle_error_with(effects.step(next(names)))
        >> effects.step(next(names)).checkpointed(save, restore)
        >> WIO.recover(restore)
    )


def timed() -> WIO[Any, Any, Any]:
    """A static timer and one computed from the input."""
    from datetime import timedelta

    effects = Effects()
    return (
        effects.step("Remind")
        >> WIO.await_for(timedelta(days=3), name="Three Days")
        >> WIO.await_for(lambda x: timedelta(minutes=x))
        >> effects.step("Escalate")
    )


def looping() -> WIO[Any, Any, Any]:
    """A loop with an on_restart flow, nested in one without, inside a fork."""
    effects = Effects()
    inner = WIO.repeat(effects.step("Poll")).until(lambda x: x > 2, name="Ready?")
    revise = effects.step("Revise") >> inner
    review = WIO.repeat(effects.step("Review", 1)).until(
        lambda x: x > 3, name="Approved?", exit="Approved", restart="Changes", on_restart=revise
    )
    return (
        effects.step("Draft")
        >> WIO.fork("Kind?")
        .branch("Long", lambda x: x > 10, review)
        .otherwise("Short", effects.step("Skim"))
        >> effects.step("Publish")
    )


def interrupted() -> WIO[Any, Any, Any]:
    """A review that a withdrawal interrupts, inside a three-day timeout."""
    from tests.harness import review

    return review.guarded.wio


def parallel() -> WIO[Any, Any, Any]:
    """Parallel sections: nested, with a fork, a timer, a signal, a loop and an
    empty flow (a recovery) inside, and a handled error around."""
    from datetime import timedelta

    from tests.harness import review

    effects = Effects()
    inner = (
        WIO.parallel("Checks")
        .flow("Credit", effects.step("Check Credit"))
        .flow("Fraud", effects.step("Check Fraud") >> WIO.await_for(timedelta(hours=1)))
    )
    routed = (
        WIO.fork("Express?")
        .branch("Express", lambda x: x > 10, effects.step("Book Express"))
        .otherwise("Standard", effects.step("Book Standard"))
    )
    polling = WIO.repeat(effects.step("Poll")).until(lambda x: x > 2, name="Ready?")
    outer = (
        WIO.parallel("Prepare")
        .flow("Checks", inner)
        .flow("Shipping", routed >> polling)
        .flow("Review", review.workflow.wio)
        .flow("Migrated", WIO.recover(restore))
    )
    return (effects.step("Receive") >> outer >> effects.step("Ship")).handle_error_with(
        effects.step("Refund")
    )


def for_each() -> WIO[Any, Any, Any]:
    """For-each sections: one nested in another's body, with a fork and a timer
    inside, one inside a parallel flow, and a handled error around. (No signal:
    SpiffWorkflow delivers none inside a multi-instance subprocess; see
    docs/renderers/bpmn.md.)"""
    from datetime import timedelta

    effects = Effects()
    cells = WIO.for_each(lambda row: row, effects.step("Fill Cell"), name="Cells")
    routed = (
        WIO.fork("Needs Review?")
        .branch("Review", lambda x: x > 10, WIO.await_for(timedelta(hours=1)))
        .otherwise("Skip", effects.step("Auto Accept"))
    )
    rows = WIO.for_each(lambda grid: grid, cells >> routed, key=lambda row: row[0], name="Rows")
    side = WIO.parallel("Side").flow("Rows", rows).flow("Audit", effects.step("Audit"))
    return (effects.step("Load") >> side >> effects.step("Publish")).handle_error_with(
        effects.step("Roll Back")
    )
