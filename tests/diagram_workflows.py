"""Workflows the renderer tests draw, besides the documented examples."""

from __future__ import annotations

from typing import Any

from attrs import frozen

from tests.nodes import Boom, Effects, Ev, restore, save
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
    # Mermaid directives, comments and style-line preprocessing:
    "Start A %%{init: {'theme':'dark'}}%% end B",
    "%%{init: {'theme':'dark'}}%%",
    "Freestyle:#1",
    "Check style:A&B",
    "ﬂ°°35¶ß classDef x:#1;",
    # Entities Graphviz would decode:
    "&amp; &lt; &#35;",
]


def hostile() -> WIO[Any, Any, Any]:
    """Every node kind and every label context (steps, forks and branches,
    parallel sections and flows, loops and their exits, timers, errors), each
    named to break a naive renderer."""
    from datetime import timedelta

    effects = Effects()
    names = iter(HOSTILE * 3)
    fork = WIO.fork(next(names))
    for label in (next(names), next(names)):
        fork = fork.branch(label, lambda x: x > 0, effects.step(next(names)))
    start = (
        WIO.pure(1).named(next(names)).described(next(names))
        >> fork.otherwise(next(names), WIO.pure(0).named(next(names)))
        >> effects.step(next(names)).handle_error_with(effects.step(next(names)))
        >> effects.step(next(names)).checkpointed(save, restore)
        >> WIO.recover(restore)
    )
    section = (
        WIO.parallel(next(names))
        .flow(next(names), effects.step(next(names)))
        .flow(next(names), effects.step(next(names)))
    )
    body = effects.step(next(names))
    loop = WIO.repeat(body).until(
        lambda x: x > 2, name=next(names), exit=next(names), restart=next(names)
    )
    timer = WIO.await_for(timedelta(hours=1), name=next(names))
    error = raising(next(names), type(next(names), (), {}))
    return start >> section >> loop >> timer >> error.handle_error_with(effects.step(next(names)))


def raising(name: str, error: type[Any]) -> WIO[int, Any, int]:
    """A run step named ``name`` that may raise ``error``."""
    return WIO.run(lambda x: Ev(x), lambda x, e: x, error=error, event=Ev).named(name)


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


# -- the shapes of issue 16's findings ---------------------------------------------

ERRORS_NAMED_ALIKE = ["Ошибка", "Провал", "Pay-Error", "Pay_Error"]


def errors_named_alike() -> WIO[Any, Any, Any]:
    """Four errors whose names an ASCII-only id would merge in pairs, two per handler."""
    first, second, third, fourth = (type(name, (), {}) for name in ERRORS_NAMED_ALIKE)
    effects = Effects()
    return (raising("Check", first) >> raising("Verify", second)).handle_error_with(
        effects.step("Report")
    ) >> (raising("Pay", third) >> raising("Settle", fourth)).handle_error_with(
        effects.step("Refund")
    )


def compensated() -> WIO[Any, Any, Any]:
    """A parallel section inside a handler of several errors; one flow handles its
    own error: Reserve's OutOfStock never reaches Compensate."""
    out_of_stock, pay_failed, rejected = (
        type(name, (), {}) for name in ("OutOfStock", "PayFailed", "Rejected")
    )
    effects = Effects()
    section = (
        WIO.parallel("Order")
        .flow(
            "Stock",
            raising("Reserve", out_of_stock).handle_error_with(WIO.pure(0).named("Restock")),
        )
        .flow("Payment", raising("Pay", pay_failed) >> raising("Approve", rejected))
    )
    return effects.step("Receive") >> section.handle_error_with(WIO.pure(0).named("Compensate"))


def evolved() -> WIO[Any, Any, Any]:
    """A v2 workflow after a checkpointed, handled section was replaced: the
    handler stays around its recovery; an interruptible section follows."""
    from tests.harness.review import await_withdrawal

    effects = Effects()
    return (
        effects.step("Receive")
        >> WIO.recover(restore).handle_error_with(effects.step("Refund"))
        >> (effects.step("Pack") >> effects.step("Ship")).interrupted_by(await_withdrawal)
    )


def degenerate() -> dict[str, WIO[Any, Any, Any]]:
    """Shapes with nothing, or only one way, inside."""
    from datetime import timedelta

    effects = Effects()
    six_way = WIO.fork("Six?")
    for n in range(5):
        content = WIO.recover(restore) if n in (1, 3) else effects.step(f"Step {n}")
        six_way = six_way.branch(f"B{n}", lambda x, n=n: x == n, content)
    return {
        "two-empty-flows": effects.step("Before")
        >> WIO.parallel("Nothing").flow("A", WIO.recover(restore)).flow("B", WIO.recover(restore))
        >> effects.step("After"),
        "one-branch-fork": effects.step("Before")
        >> WIO.fork("Only").branch("Yes", lambda x: True, effects.step("Inside"))
        >> effects.step("After"),
        "one-flow-parallel": effects.step("Before")
        >> WIO.parallel("Alone").flow("Only", effects.step("Inside"))
        >> effects.step("After"),
        "empty-and-full-flows": WIO.parallel("Mixed")
        .flow("A", WIO.recover(restore))
        .flow("B", effects.step("Work"))
        .flow("C", WIO.recover(restore)),
        "six-way-fork": six_way.otherwise("B5", WIO.recover(restore)),
        "all-flows-empty": effects.step("Before")
        >> WIO.parallel("Idle")
        .flow("A", WIO.recover(restore))
        .flow("B", WIO.recover(restore))
        .flow("C", WIO.recover(restore)),
        "every-branch-ends": effects.step("Before")
        >> WIO.fork("Stop?")
        .branch("Now", lambda x: x > 0, WIO.end())
        .otherwise("Later", WIO.end()),
        "empty-sections": effects.step("Before")
        >> WIO.recover(restore).handle_error_with(effects.step("Never"))
        >> WIO.recover(restore).timeout(timedelta(hours=1))
        >> WIO.repeat(WIO.recover(restore)).until(lambda x: True, name="Again?")
        >> effects.step("After"),
    }


# -- an instance's progress ------------------------------------------------------------


def approval_signal() -> Any:
    from wio import Signal

    return Signal("Approval", request=int, response=int)


def tracked(signal: Any) -> WIO[Any, Any, Any]:
    """A loop that goes round three times from 0, then a parallel section whose
    second flow waits for ``signal``, then one more step. A negative input fails
    the first step with Boom."""
    effects = Effects()
    approve = WIO.handle_signal(
        signal, lambda x, request: Ev(request), lambda x, ev: x, lambda x, ev, r: ev.value, event=Ev
    ).named("Await Approval")
    return (
        effects.step("Receive")
        >> WIO.repeat(effects.step("Poll", 1)).until(lambda x: x > 2, name="Ready?")
        >> WIO.parallel("Prepare")
        .flow("Packing", effects.step("Pack"))
        .flow("Approval", approve)
        .combine(lambda x, outputs: x)
        >> effects.step("Ship")
    )


def long_names() -> WIO[Any, Any, Any]:
    """Names far longer than a shape: a 200-character step, long branch, flow,
    loop, timer and error names."""
    from datetime import timedelta

    effects = Effects()
    long = "Reconcile the customer's outstanding invoices " * 5  # 230 characters
    error = type("InvoiceReconciliationFailedBecauseTheLedgerWasLocked", (), {})
    return (
        effects.step(long.strip())
        >> WIO.fork("Which reconciliation strategy applies to this customer?")
        .branch("Automatic reconciliation", lambda x: x > 0, effects.step("Auto"))
        .otherwise("Manual reconciliation by accounting", effects.step("Manual"))
        >> WIO.repeat(effects.step("Poll the ledger until it settles", 1)).until(
            lambda x: x > 2,
            name="Has the ledger settled completely?",
            exit="Settled and balanced",
            restart="Still moving, poll again",
        )
        >> raising("Book the reconciliation", error).handle_error_with(
            effects.step("Escalate to the head of accounting")
        )
        >> effects.step("Archive").timeout(
            timedelta(days=2), name="Two business days without an answer"
        )
    )


def nested_at_random(seed: int, depth: int = 3) -> WIO[Any, Any, Any]:
    """A workflow no one drew by hand: every construct nested in every other, up
    to ``depth``, with short and long names, declared errors, empty sections,
    one-armed forks and parallel sections. The same seed, the same workflow."""
    import random
    from datetime import timedelta

    rng = random.Random(seed)
    effects = Effects()
    errors = [type(f"Failure{n}", (), {}) for n in range(3)]
    count = iter(range(10_000))

    def name() -> str:
        words = rng.choice(["Step", "Charge the customer's card", "X", "Reconcile ledgers now"])
        return f"{words} {next(count)}"

    def leaf() -> WIO[Any, Any, Any]:
        kind = rng.randrange(5)
        if kind == 0:
            return effects.step(name())
        if kind == 1:
            return WIO.pure(0).named(name())
        if kind == 2:
            return raising(name(), rng.choice(errors))
        if kind == 3:
            return WIO.await_for(timedelta(hours=1), name=name())
        return WIO.recover(restore)

    def node(level: int) -> WIO[Any, Any, Any]:
        if level == 0 or rng.random() < 0.3:
            return leaf()
        inner = level - 1
        kind = rng.randrange(7)
        if kind == 0:
            return node(inner) >> node(inner)
        if kind == 1:
            fork = WIO.fork(name())
            for n in range(rng.randrange(1, 4)):
                fork = fork.branch(f"b{n} {name()}", lambda x: True, node(inner))
            return fork.otherwise("other", node(inner)) if rng.random() < 0.7 else fork
        if kind == 2:
            section = WIO.parallel(name())
            for n in range(rng.randrange(1, 4)):
                section = section.flow(f"f{n}", node(inner))
            return section
        if kind == 3:
            return node(inner).handle_error_with(node(inner))
        if kind == 4:
            restart = node(inner) if rng.random() < 0.5 else None
            return WIO.repeat(effects.step(name()) >> node(inner)).until(
                lambda x: True, name=name(), exit="done", restart="again", on_restart=restart
            )
        if kind == 5:
            then = node(inner) if rng.random() < 0.5 else None
            return node(inner).timeout(timedelta(hours=2), then=then, name=name())
        return (effects.step(name()) >> node(inner)).checkpointed(save, restore)

    return node(depth)
