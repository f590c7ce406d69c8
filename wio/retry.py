"""Retry policies for steps that raise (technical failures, not business errors)."""

from __future__ import annotations

from attrs import field, frozen, validators


@frozen
class RetryPolicy:
    """How often and how soon a step that raises is tried again.

    Attempt ``n`` (counting from 1) that fails is followed, after
    ``initial_delay * multiplier ** (n - 1)`` seconds (at most ``max_delay``),
    by attempt ``n + 1``, up to ``max_attempts`` in all. Exceptions that are
    not instances of ``retry_on`` fail the instance at once.
    """

    max_attempts: int = field(default=5, validator=validators.ge(1))
    initial_delay: float = field(default=1.0, validator=validators.ge(0))
    multiplier: float = field(default=2.0, validator=validators.ge(1))
    max_delay: float = field(default=300.0, validator=validators.ge(0))
    retry_on: tuple[type[BaseException], ...] = (Exception,)

    def delay_after(self, attempt: int) -> float | None:
        """Seconds to wait after failed attempt ``attempt``, or None to give up."""
        if attempt >= self.max_attempts:
            return None
        return float(min(self.max_delay, self.initial_delay * self.multiplier ** (attempt - 1)))

    def retries(self, exception: BaseException) -> bool:
        return isinstance(exception, self.retry_on)


DEFAULT_RETRY = RetryPolicy()
