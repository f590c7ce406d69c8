"""Durable journals of workflow events and the instance registry.

Open one from a URL with `open_journal`:

- ``memory://``: in memory, for tests;
- ``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db``: one file,
  the embedded default (``?synchronous=normal`` trades power-loss safety for speed;
  ``?busy_timeout=SECONDS``, default 30, bounds a wait for another process's write lock);
- ``postgresql://user@host:5432/db?schema=wio``: production; ``schema``
  (default ``wio``), ``pool_min`` and ``pool_max`` are wio's options, the rest
  go to libpq.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .errors import (
    ConcurrencyConflict,
    DeterministicError,
    DuplicateInstance,
    InstanceChanged,
    InvalidJournalURL,
    JournalError,
    JournalNotFound,
    JournalUnavailable,
    LeaseHeld,
    LeaseLost,
    NotPrunable,
    UndecodablePayload,
    UnknownInstance,
    UnstorableValue,
)
from .memory import MemoryJournal
from .protocol import Journal
from .records import (
    FINAL_STATUSES,
    Family,
    InstanceFilter,
    InstanceRecord,
    InstanceStatus,
    Lease,
    NewEvent,
    StatusUpdate,
    StoredEvent,
    WorkflowRecord,
)
from .urls import redact_url

__all__ = [
    "ConcurrencyConflict",
    "DeterministicError",
    "DuplicateInstance",
    "FINAL_STATUSES",
    "Family",
    "InstanceChanged",
    "InstanceFilter",
    "InstanceRecord",
    "InstanceStatus",
    "InvalidJournalURL",
    "redact_url",
    "Journal",
    "JournalError",
    "JournalNotFound",
    "JournalUnavailable",
    "Lease",
    "LeaseHeld",
    "LeaseLost",
    "MemoryJournal",
    "NewEvent",
    "NotPrunable",
    "StatusUpdate",
    "StoredEvent",
    "UndecodablePayload",
    "UnknownInstance",
    "UnstorableValue",
    "WorkflowRecord",
    "open_journal",
]

_POSTGRES_OPTIONS = {"schema", "pool_min", "pool_max", "group_commit", "group_linger_ms"}


def open_journal(url: str, *, upgrade: bool = True, create: bool = True) -> Journal:
    """Open the journal a URL names; raises `InvalidJournalURL` or `JournalUnavailable`.

    Missing schema migrations are applied unless ``upgrade`` is false. With
    ``create=False`` (commands that only use a journal) nothing is created:
    `JournalNotFound` says that no journal is there.
    """
    scheme, _, rest = url.partition("://")
    if scheme == "memory":
        return MemoryJournal(url)
    if scheme == "sqlite":
        return _open_sqlite(url, rest, upgrade and create, create)
    if scheme in ("postgresql", "postgres"):
        return _open_postgres(url, upgrade and create, create)
    raise InvalidJournalURL(
        f"journal URL {redact_url(url)!r}: expected memory://, sqlite:///PATH or postgresql://..."
    )


def _open_sqlite(url: str, rest: str, upgrade: bool, create: bool) -> Journal:
    from .sqlite import SQLiteJournal

    location, _, query = rest.partition("?")
    # As in SQLAlchemy: sqlite:///relative.db and sqlite:////absolute.db.
    if not location.startswith("/") or len(location) < 2:
        raise InvalidJournalURL(f"journal URL {redact_url(url)!r}: expected sqlite:///PATH")
    options = dict(parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)))
    unknown = set(options) - {"synchronous", "busy_timeout"}
    if unknown:
        raise InvalidJournalURL(
            f"journal URL {redact_url(url)!r}: unknown option {sorted(unknown)[0]!r}"
        )
    synchronous = options.get("synchronous", "full")
    try:
        busy_timeout = float(options.get("busy_timeout", 30.0))
    except ValueError:
        busy_timeout = -1.0
    if not 0 <= busy_timeout < float("inf"):
        raise InvalidJournalURL(
            f"journal URL {url!r}: busy_timeout must be a number of seconds, 0 or more"
        )
    return SQLiteJournal(
        location[1:],
        synchronous=synchronous,
        busy_timeout=busy_timeout,
        upgrade=upgrade,
        create=create,
    )


def _check_credentials(url: str) -> None:
    """Refuse a password libpq would misread: an unencoded @, /, ? or # ends the password
    early and libpq then echoes the rest as a host or an option in its errors."""
    rest = url.partition("://")[2]
    if "@" not in rest:
        return
    userinfo = rest.rpartition("@")[0]
    if "=" in userinfo:  # the last @ is in an option (?user=me@corp), not in credentials
        return
    where = f"journal URL {redact_url(url)!r}"
    if any(c in userinfo for c in "@/?#"):
        raise InvalidJournalURL(
            f"{where}: the user or password holds an @, /, ? or #: percent-encode it "
            "(%40, %2F, %3F, %23)"
        )
    if re.search(r"%(?![0-9A-Fa-f]{2})", userinfo):
        raise InvalidJournalURL(
            f"{where}: the user or password holds a % that is not percent-encoding: write it as %25"
        )


def _open_postgres(url: str, upgrade: bool, create: bool) -> Journal:
    from .postgres import PostgresJournal

    _check_credentials(url)
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # such as an unclosed [ of an IPv6 address
        raise InvalidJournalURL(f"journal URL {redact_url(url)!r}: {exc}") from None
    params = parse_qsl(parts.query, keep_blank_values=True)
    ours = {k: v for k, v in params if k in _POSTGRES_OPTIONS}
    libpq = [(k, v) for k, v in params if k not in _POSTGRES_OPTIONS]
    conninfo = urlunsplit(parts._replace(query=urlencode(libpq)))
    try:
        pool_min = int(ours.get("pool_min", 1))
        pool_max = int(ours.get("pool_max", 8))
    except ValueError as exc:
        raise InvalidJournalURL(f"journal URL: pool sizes must be integers ({exc})") from None
    try:
        said = ours.get("group_commit")
        group_commit = None if said is None else int(said)
        group_linger = float(ours.get("group_linger_ms", 0)) / 1000
    except ValueError as exc:
        raise InvalidJournalURL(
            f"journal URL: group_commit and group_linger_ms must be numbers ({exc})"
        ) from None
    return PostgresJournal(
        conninfo,
        schema=ours.get("schema", "wio"),
        pool_min=pool_min,
        pool_max=pool_max,
        group_commit=group_commit,
        group_linger=group_linger,
        upgrade=upgrade,
        create=create,
    )
