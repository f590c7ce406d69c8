"""Three steps, each recording its own event type, for the chaos test that writes bad
rows into the journal (tests/test_chaos_bad_rows.py)."""

from __future__ import annotations

from attrs import frozen

from wio import WIO, Workflow


@frozen
class Drafted:
    value: int


@frozen
class Reviewed:
    value: int


@frozen
class Published:
    value: int


def draft(x: int) -> Drafted:
    return Drafted(x + 1)


def review(x: int) -> Reviewed:
    return Reviewed(x + 10)


def publish(x: int) -> Published:
    return Published(x + 100)


workflow = Workflow(
    WIO.run(draft, lambda x, e: e.value).named("Draft")
    >> WIO.run(review, lambda x, e: e.value).named("Review")
    >> WIO.run(publish, lambda x, e: e.value).named("Publish"),
    name="steps",
)
