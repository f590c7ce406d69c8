"""Small events and steps shared by the tests."""

from __future__ import annotations

from attrs import frozen

from wio import WIO, Err


@frozen
class Ev:
    value: int


@frozen
class Other:
    value: int


@frozen
class Saved:
    value: int


@frozen
class Boom:
    code: int


class Effects:
    """Counts side effects so tests can tell a replayed step from a re-run one."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def step(self, name: str, add: int = 0) -> WIO[int, Boom, int]:
        def effect(x: int) -> Ev:
            self.calls.append(name)
            return Ev(x + add)

        def handle(x: int, ev: Ev) -> int | Err[Boom]:
            return Err(Boom(ev.value)) if ev.value < 0 else ev.value

        return WIO.run(effect, handle, error=Boom).named(name)


def save(_input: int, output: int) -> Saved:
    return Saved(output)


def restore(_input: int, event: Saved) -> int:
    return event.value
