"""How a failing step is tracked: one frozen `RetryState`, replaced whole, so undoing
a commit the journal refused puts the whole failure state back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

from tests.nodes import Ev
from wio import WIO, FailedAttempt, JournalUnavailable, RetryPolicy, Runtime, Workflow
from wio.journal import MemoryJournal
from wio.retry import RetryState

NOW = datetime(2026, 1, 1, tzinfo=UTC)
POLICY = RetryPolicy(max_attempts=3, initial_delay=1.0, multiplier=10.0, retry_on=(OSError,))


def failure(exception: BaseException) -> FailedAttempt:
    return FailedAttempt((0,), "Step", exception)


def test_failures_are_retried_per_the_policy_then_given_up() -> None:
    first = RetryState().after_failure(failure(OSError("a")), POLICY, NOW)
    assert (first.attempts, first.retry_at, first.gave_up) == (1, NOW + timedelta(seconds=1), False)
    assert first.error is not None and str(first.error.exception) == "a"
    second = first.after_failure(failure(OSError("b")), POLICY, NOW)
    assert (second.attempts, second.retry_at, second.gave_up) == (
        2,
        NOW + timedelta(seconds=10),
        False,
    )
    third = second.after_failure(failure(OSError("c")), POLICY, NOW)
    assert (third.attempts, third.retry_at, third.gave_up) == (3, None, True)
    assert str(third.error.exception) == "c"  # type: ignore[union-attr]
    assert first.attempts == 1  # values never change: each failure makes a new one


def test_an_exception_the_policy_does_not_retry_gives_up_at_once() -> None:
    state = RetryState().after_failure(failure(ValueError("bad")), POLICY, NOW)
    assert (state.attempts, state.retry_at, state.gave_up) == (1, None, True)


def test_success_clears_the_state_but_a_given_up_instance_stays_failed() -> None:
    failing = RetryState().after_failure(failure(OSError("a")), POLICY, NOW)
    assert failing.after_success() == RetryState()
    given_up = RetryState().after_failure(failure(ValueError("bad")), POLICY, NOW)
    assert given_up.after_success() == RetryState(gave_up=True)


def test_a_retry_state_is_frozen() -> None:
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        RetryState().attempts = 1  # type: ignore[misc]


class RefusingJournal(MemoryJournal):
    """A journal whose next append fails, as a database that went away would."""

    refuse_next = False

    def append(self, *args: Any, **kwargs: Any) -> int:
        if self.refuse_next:
            self.refuse_next = False
            raise JournalUnavailable("the database went away")
        return super().append(*args, **kwargs)


def test_a_commit_the_journal_refuses_leaves_the_failure_state_as_it_was() -> None:
    calls: list[int] = []

    def flaky(x: int) -> Ev:
        calls.append(x)
        if len(calls) == 1:
            raise OSError("first attempt fails")
        return Ev(x + 1)

    journal = RefusingJournal()
    workflow = Workflow(WIO.run(flaky, lambda _, e: e.value), name="flaky", input_type=int)
    runtime = Runtime(workflow, journal=journal, retry=RetryPolicy(initial_delay=0))
    instance = runtime.create("i", 1)
    assert instance.step() is False and instance.attempts == 1
    failed_at, retry_at = instance.last_error, instance.retry_at
    journal.refuse_next = True
    with pytest.raises(JournalUnavailable):
        instance.step()  # the effect succeeded; recording its event did not
    assert (instance.attempts, instance.last_error, instance.retry_at) == (1, failed_at, retry_at)
    assert instance.events == () and instance.state == 1
    assert instance.step() is True and instance.attempts == 0 and instance.result == 2
