"""Versions of a workflow side by side, and the record of an instance's move between them.

Every instance runs the version it was started on, until `wio migrate` moves
it. A worker serves several versions at once; a new instance starts on the
newest one unless a version is named.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from attrs import frozen

from wio.codec import event
from wio.errors import DefinitionError, UnknownVersion

if TYPE_CHECKING:
    from wio.definition import Workflow


@event("wio.Migrated")
@frozen
class Migrated:
    """Recorded in an instance's journal when it moved to another version.

    Replay skips it: it is a fact about the instance, not an event of its workflow.
    """

    from_version: int
    to_version: int
    migrated_at: datetime


class WorkflowVersions:
    """Definitions by name and version: what a worker serves, or a command is given."""

    def __init__(self, definitions: Iterable[Workflow[Any, Any, Any]]) -> None:
        self._by_key: dict[tuple[str, int], Workflow[Any, Any, Any]] = {}
        for definition in definitions:
            key = (definition.name, definition.version)
            if key in self._by_key:
                raise DefinitionError(
                    f"workflow {definition.name!r} version {definition.version} is given twice"
                )
            self._by_key[key] = definition

    def __iter__(self) -> Iterator[Workflow[Any, Any, Any]]:
        return iter(self._by_key.values())

    def keys(self) -> list[tuple[str, int]]:
        return list(self._by_key)

    def names(self) -> list[str]:
        return sorted({name for name, _ in self._by_key})

    def versions(self, name: str) -> list[int]:
        return sorted(version for n, version in self._by_key if n == name)

    def get(self, name: str, version: int) -> Workflow[Any, Any, Any] | None:
        return self._by_key.get((name, version))

    def pick(self, name: str | None = None, version: int | None = None) -> Workflow[Any, Any, Any]:
        """The named version of workflow ``name``, else its newest one.

        ``name`` may be left out when only one workflow is given.
        """
        names = self.names()
        if name is None:
            if len(names) != 1:
                raise UnknownVersion(
                    f"name the workflow: several are given ({', '.join(names) or 'none'})"
                )
            name = names[0]
        versions = self.versions(name)
        if not versions:
            raise UnknownVersion(
                f"no workflow {name!r} is given (given: {', '.join(names) or 'none'})"
            )
        chosen = versions[-1] if version is None else version
        definition = self.get(name, chosen)
        if definition is None:
            given = ", ".join(f"v{v}" for v in versions)
            raise UnknownVersion(f"workflow {name!r} has no version {chosen} here (given: {given})")
        return definition
