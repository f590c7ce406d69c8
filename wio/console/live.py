"""Live pages: what changes is pushed to the console's open pages as Server-Sent Events.

One watcher per server, running while a page listens: it reads the journal's change
cursor (`Journal.last_updated`, one index lookup) every `TICK` seconds, and at once
when PostgreSQL NOTIFYs the workers' channel (an instance created, released or due),
and then wakes the streams. Each stream reads its own registry row and sends the
page's parts only if the row changed. Every `RECHECK` seconds a stream reads its row
anyway, for what the cursor does not show (events appended without a registry change,
a writer whose clock is behind), and sends a comment, which keeps proxies from closing
an idle stream.

At most `MAX_STREAMS` streams are open at once; a page refused one (503) polls
instead. `close` ends every stream, so that the server stops promptly:
`uvicorn_server` calls it as the shutdown begins, since uvicorn waits for open
responses before it tells the application.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import anyio
import uvicorn
from litestar.response import ServerSentEventMessage

from wio.errors import WioError
from wio.journal import Journal, JournalError

log = logging.getLogger("wio.console")

TICK = 1.0  # seconds between two reads of the change cursor, while a page listens
RECHECK = 5.0  # seconds after which a stream reads its row whatever the cursor says
MAX_STREAMS = 32
RETRY_MS = 2000  # how long a browser waits before it opens a dropped stream again

# What a stream sends when it looks: an event, or None when nothing is new. An event
# named "gone" ends the stream (the page then stops following).
Look = Callable[[], ServerSentEventMessage | None]


class Changes:
    """The streams of one server's live pages, and the watcher that wakes them."""

    def __init__(self, journal: Journal, max_streams: int = MAX_STREAMS) -> None:
        self.journal = journal
        self.max_streams = max_streams
        self.streams = 0
        self._watcher: asyncio.Task[None] | None = None
        self.open()

    def open(self) -> None:
        """Ready for streams, on the running event loop (the application's start-up:
        an event waited on in one loop cannot be in another's)."""
        self._closing = False
        self._changed = asyncio.Event()  # replaced at each change: a stream waits on one
        self._closed = asyncio.Event()

    @property
    def full(self) -> bool:
        return self.streams >= self.max_streams

    def close(self) -> None:
        """End every stream (and the watcher with them); no stream opens after."""
        self._closing = True
        self._closed.set()
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def stream(self, look: Look, pause: float = 0.0) -> AsyncIterator[ServerSentEventMessage]:
        """Events from ``look`` (blocking, run in a thread): at once, then after each
        change (``pause`` seconds at least after the last look), until the server
        closes or the browser goes."""
        if self.full or self._closing:  # several let in at once, past the bound after all
            yield event("busy", {"detail": "too many live pages are open: this one polls"})
            return
        self.streams += 1
        try:
            if self._watcher is None or self._watcher.done():
                self._watcher = asyncio.get_running_loop().create_task(self._watch())
            yield ServerSentEventMessage(data=None, retry=RETRY_MS)
            while not self._closing:
                changed = self._changed  # before looking: no change is missed between
                found = await anyio.to_thread.run_sync(self._safely, look)
                if found is not None:
                    yield found
                    if found.event == "gone":
                        return
                else:
                    yield ServerSentEventMessage(data=None, comment="unchanged")
                if pause:
                    with anyio.move_on_after(pause):
                        await self._closed.wait()
                with anyio.move_on_after(RECHECK):
                    await changed.wait()
        finally:
            self.streams -= 1

    def _safely(self, look: Look) -> ServerSentEventMessage | None:
        try:
            return look()
        except (JournalError, WioError) as exc:  # the journal is down, say: the page says so
            return event("problem", {"detail": str(exc)})
        except Exception:
            log.exception("a live page could not be brought up to date")
            return event("problem", {"detail": "internal error (see the server's log)"})

    async def _watch(self) -> None:
        listener = await anyio.to_thread.run_sync(self._listen)
        try:
            cursor = await anyio.to_thread.run_sync(self._cursor)
            while self.streams and not self._closing:
                notified = await self._wait(listener)
                latest = await anyio.to_thread.run_sync(self._cursor)
                if notified or latest != cursor:
                    cursor = latest
                    self._wake()
        finally:
            if listener is not None:
                with contextlib.suppress(Exception):
                    listener.close()

    def _cursor(self) -> datetime | str | None:
        try:
            return self.journal.last_updated()
        except Exception as exc:  # each stream reports it when it looks
            return f"unavailable: {type(exc).__name__}"

    def _listen(self) -> Any:
        """A connection LISTENing to the journal's work channel, on PostgreSQL."""
        try:
            from wio.journal.postgres import PostgresJournal, work_channel
        except ImportError:  # no psycopg: not a PostgreSQL journal either
            return None
        if not isinstance(self.journal, PostgresJournal):
            return None
        import psycopg
        from psycopg import sql

        try:
            listener = psycopg.connect(self.journal.conninfo, autocommit=True, connect_timeout=5)
            channel = sql.Identifier(work_channel(self.journal.schema))
            listener.execute(sql.SQL("LISTEN {}").format(channel))
        except psycopg.Error as exc:  # its text may quote the connection string: not logged
            log.info(
                "live pages on %s follow the change cursor alone: cannot LISTEN (%s)",
                self.journal.url,
                type(exc).__name__,
            )
            return None
        return listener

    async def _wait(self, listener: Any) -> bool:
        """Whether a NOTIFY came within `TICK` seconds (False on other journals)."""
        if listener is None:
            await anyio.sleep(TICK)
            return False

        def notified() -> bool:
            try:
                return any(True for _ in listener.notifies(timeout=TICK, stop_after=1))
            except Exception:  # the connection dropped: the cursor is read regardless
                return False

        return await anyio.to_thread.run_sync(notified)


def event(name: str, data: Any, id: str | None = None) -> ServerSentEventMessage:
    return ServerSentEventMessage(data=json.dumps(data), event=name, id=id)


def uvicorn_server(app: Any, **settings: Any) -> Any:
    """A uvicorn server for ``app`` (`wio.server.app.create_app`) that ends the
    console's streams as it shuts down: uvicorn waits for open responses first,
    and a stream is open until its page goes."""
    changes: Changes = app.state.console_changes

    class Server(uvicorn.Server):
        async def shutdown(self, sockets: Any = None) -> None:
            changes.close()
            await super().shutdown(sockets)

    return Server(uvicorn.Config(app, **settings))
