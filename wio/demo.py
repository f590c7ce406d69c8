"""``wio demo``: the order example, run end to end."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from wio.errors import WioError
from wio.interpreter import format_path
from wio.loading import load_module, load_workflow
from wio.runtime import Instance, Runtime

EXAMPLE = Path(__file__).resolve().parent.parent / "docs" / "examples" / "order.py"


def run_demo(say: Callable[[str], None]) -> int:
    if not EXAMPLE.is_file():
        raise WioError(f"the demo runs {EXAMPLE}, which needs a source checkout of wio")
    example: Any = load_module(str(EXAMPLE))
    workflow = load_workflow(f"{EXAMPLE}:order_workflow")
    runtime: Runtime[Any, Any] = Runtime(workflow)
    orders = [
        example.Order("A-1", "ada@example.com", 4_200, ("book", "lamp")),
        example.Order("B-2", "bob@example.com", 250_000, ("piano",)),
    ]
    for order in orders:
        items = ", ".join(order.items)
        say(f"== order {order.order_id}: {order.amount_cents / 100:.2f} for {items}")
        example.side_effects.clear()
        instance = runtime.create(order.order_id, order)
        status = instance.run()
        _show(say, instance)
        say(f"   side effects: {'; '.join(example.side_effects)}")
        say(f"   -> {status}: order is {instance.state.status}\n")

    say("== replaying order A-1's journal in a fresh runtime (no side effects run)")
    example.side_effects.clear()
    original = runtime.get("A-1")
    replayed = Runtime(workflow, strict=True).recover("A-1", original.input, original.events)
    same = replayed.state == original.state and replayed.progress == original.progress
    say(f"   {len(original.events)} events replayed, side effects run: {len(example.side_effects)}")
    say(f"   state and progress equal to the live run: {same}")
    return 0 if same else 1


def _show(say: Callable[[str], None], instance: Instance[Any, Any]) -> None:
    for record in instance.progress:
        name = record.name or record.kind
        where = f"event #{record.event_seq}" if record.event_seq else "pure"
        outcome = "ok" if record.ok else f"error {record.value!r}"
        say(f"   {format_path(record.path):10} {name:18} {where:10} {outcome}")
