"""The kiosk's catalog kept up with the platform's streams.

The downlink says which streams a commit changed (from its worker thread). A change of
the catalog, reviews or offers makes the catalog again from the streams
(`edge.catalog_streams`) and loads it into the catalog's cache (`edge.catalog_rebuild`:
a big one in a child process, the previous catalog answering until the new one is
committed). Changes come in bursts (an import is one change set per stream, a resync
many): a rebuild starts once they have settled for `settle` seconds, and changes during
a rebuild make one more after it. Stock is read live by the catalog, so a stock change
only asks the screen to show the product again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

from edge.catalog_rebuild import (
    CHILD_REBUILD_ITEMS,
    CatalogPlace,
    document_from,
    make_and_load,
    make_and_load_in_child,
)
from edge.catalog_streams import StreamSource, utc_now
from edge.errors import BorneError
from edge.sync.cache import StreamCache
from edge.sync.messages import Stream

log = logging.getLogger(__name__)

REBUILT_BY = frozenset({Stream.CATALOG, Stream.REVIEWS, Stream.OFFERS})
SHOWN_LIVE = frozenset({Stream.STOCK})  # read by the catalog at each look-up

Refresh = Callable[[], Coroutine[Any, Any, None]]


class CatalogFollower:
    """Rebuilds the catalog from the streams after changes; see the module's docstring."""

    MAX_DELAY = 10.0  # seconds a rebuild waits at most for a burst to settle

    def __init__(
        self,
        cache: StreamCache,
        place: CatalogPlace,
        *,
        settle: float = 0.5,
        now: Callable[[], datetime] = utc_now,
        child_items: int = CHILD_REBUILD_ITEMS,
    ) -> None:
        self._cache = cache
        self._place = place
        self._child_items = child_items
        self._settle = settle
        self._now = now
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wanted = asyncio.Event()
        self._wanted.set()  # the streams may have changed while the kiosk was off
        self._next_start: datetime | None = None
        self._on_stock: Refresh | None = None
        self._shown: set[asyncio.Task[None]] = set()  # refreshes under way, kept alive
        self.rebuilds = 0  # catalogs made since the kiosk started (loaded or unchanged)

    def streams_changed(self, streams: frozenset[Stream]) -> None:
        """The downlink committed changes to `streams` (from any thread)."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._note, streams)
        # Before `run`: its first rebuild takes whatever was committed.

    def _note(self, streams: frozenset[Stream]) -> None:
        if streams & REBUILT_BY:
            self._wanted.set()
        if streams & SHOWN_LIVE and self._on_stock is not None:
            task = asyncio.create_task(self._on_stock(), name="stock-shown")
            self._shown.add(task)
            task.add_done_callback(self._shown.discard)

    async def run(self, *, on_rebuilt: Refresh, on_stock: Refresh) -> None:
        """Rebuild after changes until cancelled, then call `on_rebuilt`; call
        `on_stock` after each stock change."""
        self._loop = asyncio.get_running_loop()
        self._on_stock = on_stock
        while True:
            await self._wait_for_reason()
            await self._settled()
            self._wanted.clear()  # what comes from here on makes one more rebuild
            try:
                loaded = await asyncio.to_thread(self.rebuild)
            except BorneError as error:
                log.error("catalog not rebuilt from the streams, kept as it was: %s", error)
                continue
            if loaded:
                await on_rebuilt()

    async def _settled(self) -> None:
        """Until no change came for `settle` seconds, or `MAX_DELAY` passed: a kiosk
        whose streams never stop changing still rebuilds now and then."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.MAX_DELAY
        while True:
            self._wanted.clear()
            await asyncio.sleep(self._settle)
            if not self._wanted.is_set() or loop.time() >= deadline:
                return

    async def _wait_for_reason(self) -> None:
        """Until a change asks for a rebuild, or the next known promotion starts."""
        if self._next_start is None:
            await self._wanted.wait()
            return
        delay = (self._next_start - self._now()).total_seconds()
        try:
            await asyncio.wait_for(self._wanted.wait(), timeout=max(0.0, delay))
        except TimeoutError:
            self._wanted.set()

    def rebuild(self) -> bool:
        """Make the catalog from the streams and load it (blocking); True if it changed.

        A big catalog is made by a child process (`edge.catalog_rebuild`). Raises
        CatalogError if the catalog refused it, SyncError if the streams could not be
        read: the catalog then answers as before.
        """
        products = sum(s.count for s in self._cache.status() if s.stream is Stream.CATALOG)
        if products > self._child_items:
            made = make_and_load_in_child(self._place, self._now())
        else:
            made = make_and_load(self._cache, self._place, self._now())
        self._next_start = made.next_start
        self.rebuilds += 1
        if made.loaded:
            log.info(
                "catalog rebuilt from the streams: %d products (%d left out, not showable)",
                made.products,
                made.skipped,
            )
        return made.loaded

    def document(self) -> StreamSource:
        """The catalog source the streams make now."""
        return document_from(self._cache, self._place, self._now())
