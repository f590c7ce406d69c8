"""Retry policies for steps that raise (technical failures, not business errors)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from attrs import Attribute, field, frozen

from wio.errors import DefinitionError, DeterministicError

if TYPE_CHECKING:  # the interpreter imports this module: no cycle at run time
    from wio.interpreter.cursor import FailedAttempt


def _at_least(minimum: float, *, integer: bool = False) -> Any:
    """An attrs validator raising `DefinitionError` (a `WioError`), naming the field."""
    kinds = int if integer else int | float
    what = "an integer" if integer else "a number"

    def check(_policy: object, attribute: Attribute[Any], value: float) -> None:
        if not isinstance(value, kinds) or isinstance(value, bool) or value < minimum:
            raise DefinitionError(
                f"RetryPolicy.{attribute.name} must be {what} of at least {minimum:g}, "
                f"got {value!r}"
            )

    return check


@frozen
class RetryPolicy:
    """How often and how soon a step that raises is tried again.

    Attempt ``n`` (counting from 1) that fails is followed, after
    ``initial_delay * multiplier ** (n - 1)`` seconds (at most ``max_delay``),
    by attempt ``n + 1``, up to ``max_attempts`` in all. Exceptions that are
    not instances of ``retry_on`` fail the instance at once, and so do wio's
    `DeterministicError`s (a malformed definition, a fork no branch of which
    matches, an input or event that does not decode, a value no journal can
    store): the same data would raise them again.
    """

    max_attempts: int = field(default=5, validator=_at_least(1, integer=True))
    initial_delay: float = field(default=1.0, validator=_at_least(0))
    multiplier: float = field(default=2.0, validator=_at_least(1))
    max_delay: float = field(default=300.0, validator=_at_least(0))
    retry_on: tuple[type[BaseException], ...] = (Exception,)

    def delay_after(self, attempt: int) -> float | None:
        """Seconds to wait after failed attempt ``attempt``, or None to give up."""
        if attempt >= self.max_attempts:
            return None
        return float(min(self.max_delay, self.initial_delay * self.multiplier ** (attempt - 1)))

    def retries(self, exception: BaseException) -> bool:
        return isinstance(exception, self.retry_on) and not isinstance(
            exception, DeterministicError
        )


DEFAULT_RETRY = RetryPolicy()


@frozen
class RetryState:
    """How an instance's current step is failing: the empty value while it is not.

    The runtime replaces it whole on every change, so undoing a change is
    putting the previous value back.
    """

    attempts: int = 0  # failed attempts of the current step
    retry_at: datetime | None = None  # when the failed step is tried again
    gave_up: bool = False  # the last attempt failed: the instance has failed
    error: FailedAttempt | None = None  # what stopped the last attempt

    def after_failure(
        self, failure: FailedAttempt, policy: RetryPolicy, now: datetime
    ) -> RetryState:
        """The state after one more failed attempt: retried later, or given up."""
        attempts = self.attempts + 1
        retried = policy.retries(failure.exception)
        delay = policy.delay_after(attempts) if retried else None
        if delay is None:
            return RetryState(attempts, None, True, failure)
        return RetryState(attempts, now + timedelta(seconds=delay), self.gave_up, failure)

    def after_success(self) -> RetryState:
        """The state once the current step has recorded its event."""
        # An instance that gave up stays failed, even if an event is delivered to it.
        return RetryState(gave_up=self.gave_up)
