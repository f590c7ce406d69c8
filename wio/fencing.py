"""The fencing token of the step being run, for side effects that must be safe
against a stale worker.

A worker holds an instance by its lease. Each time the lease changes hands its
epoch grows, and the journal refuses an append fenced with an older epoch; a
worker that lost its lease therefore never records the event of a step it ran
too late. The step's side effect happened, though. A step that passes
`current_lease` to the system it changes (a column it compares, a header the
other side checks) lets that system refuse it too:

```python
from wio.fencing import current_lease

def charge(order):
    lease = current_lease()  # None outside a journaled run
    token = None if lease is None else lease.epoch
    ...  # e.g. UPDATE payments SET ... WHERE order_id = ... AND fence <= token
```
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from attrs import frozen


@frozen
class StepLease:
    """The lease a step runs under: its instance, the worker (owner) and the epoch.

    A larger epoch for the same instance always means a later holder."""

    instance_id: str
    owner: str
    epoch: int


_current: ContextVar[Callable[[], StepLease | None] | None] = ContextVar(
    "wio_step_lease", default=None
)


def current_lease() -> StepLease | None:
    """The lease of the step running now; None outside a step, or for an instance
    kept in memory only (nothing to fence against)."""
    source = _current.get()
    return None if source is None else source()


def current_lease_epoch() -> int | None:
    """The epoch of `current_lease`, or None."""
    lease = current_lease()
    return None if lease is None else lease.epoch


@contextmanager
def running_under(source: Callable[[], StepLease | None]) -> Iterator[None]:
    """Make ``source`` answer `current_lease` for the steps run inside the block."""
    token = _current.set(source)
    try:
        yield
    finally:
        _current.reset(token)
