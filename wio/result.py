"""Business errors: the typed failures a step may return instead of its output.

A step returns its output, or ``Err(error)`` to fail with a business error.
Technical failures (exceptions) are different: they are retried by the runtime
and never recorded as results.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from attrs import frozen

E_co = TypeVar("E_co", covariant=True)


@frozen
class Err(Generic[E_co]):
    """A business error returned by a step, e.g. ``return Err(PaymentDeclined(...))``."""

    error: E_co
