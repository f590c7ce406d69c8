"""For-each sections: element keys, and the envelope that routes each element's events.

A `WIO.for_each` section runs its body once per element of a collection taken
from its input. Every event an element's body records is journaled inside an
`InElement` envelope naming the section (by model path) and the element (by
its key), so replay hands each event back to its element however the
elements' events interleaved, and after the collection changed order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from attrs import frozen

from wio.errors import DefinitionError

IN_ELEMENT = "wio.InElement"


@frozen
class InElement:
    """``event``, recorded by the element ``key`` of the for-each section at model path
    ``section`` (e.g. ``/1``)."""

    section: str
    key: str
    event: Any


@frozen
class ElementHop:
    """One step of an effect's route: the element ``key`` of the section at ``section``."""

    section: str
    key: str


@frozen
class _ByPosition:
    def __repr__(self) -> str:
        return "BY_POSITION"


BY_POSITION: Final = _ByPosition()
"""``key=BY_POSITION``: an element is known by its position in the collection. Only
safe when the collection never changes order or length for an instance."""

ElementKey = Callable[[Any], str | int] | _ByPosition


def element_key(key: ElementKey, element: Any, position: int, where: str) -> str:
    """The stable key of ``element``, as text, for routing its events."""
    if isinstance(key, _ByPosition):
        return str(position)
    if key is default_key and (isinstance(element, bool) or not isinstance(element, (str, int))):
        raise DefinitionError(
            f"for_each at {where}: element {element!r} is not a str or an int: pass "
            "key=lambda element: ... (a stable id of the element), or key=BY_POSITION"
        )
    found = key(element)
    if isinstance(found, bool) or not isinstance(found, (str, int)):
        raise DefinitionError(
            f"for_each at {where}: key of element {position} ({element!r}) is {found!r}; "
            "a key must be a str or an int"
        )
    return str(found)


def default_key(element: Any) -> str | int:
    """An element that is a str or an int is its own key; others need ``key=``
    (`element_key` says so)."""
    return element  # type: ignore[no-any-return]
