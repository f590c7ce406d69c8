"""A warehouse packs an order's lines, each line on its own, at the same time.

`WIO.for_each` runs the line's body (pick, then pack) once per line of the
order; each line's events are routed to it by its SKU, so they replay to the
right line however they interleaved. A line out of stock is a business error:
it fails the whole section, and the order is put on hold. A checker may
approve one line by hand (a signal addressed to that line).

The "warehouse" below stands in for a real one and remembers what it did.
"""

from __future__ import annotations

from typing import Never

from attrs import frozen

from wio import WIO, Err, Signal, Workflow


@frozen
class Line:
    sku: str
    quantity: int


@frozen
class Order:
    order_id: str
    lines: tuple[Line, ...]


@frozen
class OutOfStock:
    sku: str


@frozen
class Picked:
    sku: str
    shelf: str | None  # None: nothing on the shelf


@frozen
class Packed:
    sku: str
    parcel: str


side_effects: list[str] = []
empty_shelves: set[str] = set()


def pick(line: Line) -> Picked:
    side_effects.append(f"pick {line.sku}")
    return Picked(line.sku, None if line.sku in empty_shelves else f"shelf-{line.sku}")


def picked(line: Line, event: Picked) -> Line | Err[OutOfStock]:
    return line if event.shelf is not None else Err(OutOfStock(line.sku))


def pack(line: Line) -> Packed:
    side_effects.append(f"pack {line.sku}")
    return Packed(line.sku, f"parcel-{line.sku}-{line.quantity}")


pack_line = WIO.run(pick, picked, error=OutOfStock) >> WIO.run(pack, lambda line, e: e.parcel)

pack_order: WIO[Order, OutOfStock, str] = WIO.for_each(
    lambda order: order.lines,
    pack_line,
    key=lambda line: line.sku,
    combine=lambda order, parcels: f"{order.order_id}: {', '.join(parcels.values())}",
    name="Order Lines",
)


def put_on_hold(failed: tuple[object, OutOfStock]) -> str:
    return f"on hold: {failed[1].sku} is out of stock"


workflow = Workflow(
    pack_order.handle_error_with(WIO.pure_from(put_on_hold).named("Put On Hold")),
    name="packing",
    input_type=Order,
)

# -- a checker approves some lines by hand: a signal addressed to one line -------


@frozen
class Verdict:
    ok: bool


@frozen
class Checked:
    sku: str
    ok: bool


check = Signal("Check Line", request=Verdict, response=Checked)


def checked(line: Line, verdict: Verdict) -> Checked:
    return Checked(line.sku, verdict.ok)


checked_lines: WIO[Order, Never, dict[str, bool]] = WIO.for_each(
    lambda order: order.lines,
    WIO.handle_signal(check, checked, lambda line, e: e.ok, lambda line, e, r: e),
    key=lambda line: line.sku,
    name="Checked Lines",
)
