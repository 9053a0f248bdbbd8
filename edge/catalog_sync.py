"""The kiosk's catalog kept up with the platform's streams.

The downlink says which streams a commit changed (from its worker thread). A change of
the catalog, reviews or offers makes the catalog again from the streams
(`edge.catalog_streams`) and loads it (`Catalog.load_source`: a big one in a child
process, the previous catalog answering until the new one is committed). Changes come
in bursts (an import is one change set per stream, a resync many): a rebuild starts
once they have settled for `settle` seconds, and changes during a rebuild make one
more after it. Stock is read live by the catalog, so a stock change only asks the
screen to show the product again.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from edge.catalog import Catalog
from edge.catalog_streams import StreamSource, source_document, utc_now
from edge.errors import BorneError, CatalogError
from edge.sync.cache import StreamCache
from edge.sync.messages import Stream

log = logging.getLogger(__name__)

REBUILT_BY = frozenset({Stream.CATALOG, Stream.REVIEWS, Stream.OFFERS})
SHOWN_LIVE = frozenset({Stream.STOCK})  # read by the catalog at each look-up

Refresh = Callable[[], Coroutine[Any, Any, None]]


@dataclass(frozen=True, slots=True)
class CatalogPlace:
    """Where the catalog made from the streams is written, and whose store it is."""

    source: Path  # the document made from the streams, loaded like a source file
    pictures: Path | None  # `<gtin-13>.png`; None: the `images` folder beside `source`
    store_id: str
    store_names: Mapping[str, str]


class CatalogFollower:
    """Rebuilds the catalog from the streams after changes; see the module's docstring."""

    MAX_DELAY = 10.0  # seconds a rebuild waits at most for a burst to settle

    def __init__(
        self,
        cache: StreamCache,
        catalog: Catalog,
        place: CatalogPlace,
        *,
        settle: float = 0.5,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self._cache = cache
        self._catalog = catalog
        self._place = place
        self._settle = settle
        self._now = now
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wanted = asyncio.Event()
        self._wanted.set()  # the streams may have changed while the kiosk was off
        self._next_start: datetime | None = None
        self._on_stock: Refresh | None = None
        self._shown: set[asyncio.Task[None]] = set()  # refreshes under way, kept alive
        self.rebuilds = 0  # catalogs loaded since the kiosk started

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

        Raises CatalogError if the catalog refused it, SyncError if the streams could
        not be read: the catalog then answers as before.
        """
        made = self.document()
        self._next_start = made.next_start
        place = self._place
        _write_atomically(place.source, made.text)
        loaded = self._catalog.load_source(place.source, place.pictures)
        if loaded:
            self.rebuilds += 1
            log.info(
                "catalog rebuilt from the streams: %d products (%d left out, not showable)",
                made.products,
                made.skipped,
            )
        return loaded

    def document(self) -> StreamSource:
        """The catalog source the streams make now."""
        cache = self._cache
        return source_document(
            store_id=self._place.store_id,
            store_names=self._place.store_names,
            catalog=cache.items(Stream.CATALOG),
            reviews=cache.items(Stream.REVIEWS),
            offers=cache.items(Stream.OFFERS),
            stock=cache.items(Stream.STOCK),
            now=self._now(),
        )


def _write_atomically(path: Path, text: bytes) -> None:
    """Replace `path` whole: a crash leaves the old document or the new one."""
    partial = path.with_name(path.name + ".partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial.write_bytes(text)
        os.replace(partial, path)
    except OSError as error:
        raise CatalogError(f"{path}: cannot be written ({error.strerror})") from None
