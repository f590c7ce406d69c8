"""Events kept as the journal stores them, without a class to decode them into."""

from __future__ import annotations

from typing import Any

from attrs import frozen


@frozen
class UndecodedEvent:
    """A journal event kept as stored: a checkpoint covered it on replay, so it was
    never decoded, or its type is retired (``Workflow(..., retired_events=...)``).

    No node accepts it. Inside a checkpointed section, or before a recovery
    event, it is skipped once the section's checkpoint covers it; anywhere
    else replay reports it as unmatched.
    """

    type: str
    version: int
    payload: Any
