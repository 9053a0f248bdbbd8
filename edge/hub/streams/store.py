"""`StreamStore`: the hub's versioned streams per store, made from imported feeds.

Every import is one transaction, alone against other processes' imports: the feeds'
rows, the items of every store's streams and their new versions commit together or not
at all, so a kiosk never sees half a feed. Each affected (store, stream) gets one new
version holding only what changed; a store's stream is created (version 1, all current
items) the first time the hub hears of the store.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from edge.hub.feeds import (
    Customer,
    FeedKind,
    FeedResult,
    LocalInventory,
    OrderRecord,
    Product,
    Promotion,
    Review,
    StaffRecord,
)
from edge.hub.streams import documents, sources
from edge.hub.streams.errors import (
    InvalidStoreIdError,
    StreamStoreError,
    UnknownStreamError,
)
from edge.hub.streams.sql import SqliteStreamDatabase
from edge.hub.streams.tables import StreamDatabase, StreamTables
from edge.hub.streams.values import (
    ONLINE_STORE,
    JsonObject,
    canonical,
    inventory_row_value,
    rfc3339,
    staff_item,
    stock_value,
)
from edge.ids import UUIDv7Generator
from edge.staff.wire import TOPIC_LEVEL
from edge.sync.messages import MAX_ITEMS, Stream

_R = TypeVar("_R", Product, LocalInventory, Review, Promotion, Customer, StaffRecord, OrderRecord)

STREAMS = (
    Stream.CATALOG,
    Stream.STOCK,
    Stream.REVIEWS,
    Stream.OFFERS,
    Stream.CUSTOMERS,
    Stream.STAFF,
)
RETAINED_VERSIONS = 1_000  # change sets kept per stream; a kiosk further behind resyncs whole
# A store id names a topic level: no MQTT wildcard, no level separator, no control character.
# The hub-wide source of each stream made the same for every store (stock is per store).
_SHARED = {
    FeedKind.PRODUCTS: Stream.CATALOG,
    FeedKind.REVIEWS: Stream.REVIEWS,
    FeedKind.PROMOTIONS: Stream.OFFERS,
    FeedKind.CUSTOMERS: Stream.CUSTOMERS,  # every store's kiosks know every customer
    FeedKind.STAFF: Stream.STAFF,  # each store's kiosks are given that store's staff
}


class StreamPosition(NamedTuple):
    """Where a stream stands: its epoch and its current version."""

    epoch: str
    version: int


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import did: the new versions, and what it left out and why."""

    versions: Mapping[tuple[str, Stream], int]  # (store, stream) -> its new version
    without_gtin: int = 0  # products skipped
    unknown_ids: tuple[str, ...] = ()  # inventory and promotion ids of no imported product
    refused_store_codes: tuple[str, ...] = ()  # inventory store codes that cannot be a store
    spam: int = 0
    unmatched_reviews: int = 0
    unknown_offers: int = 0  # loyalty offers of products the catalog does not hold


@dataclass(slots=True)
class _Batch:
    """What the feeds of one import changed, gathered before the streams are updated."""

    shared: set[Stream] = field(default_factory=set)
    stock_gtins: set[str] = field(default_factory=set)
    without_gtin: int = 0
    unknown_ids: list[str] = field(default_factory=list)
    refused_store_codes: list[str] = field(default_factory=list)
    spam: int = 0
    unmatched_reviews: int = 0
    unknown_offers: int = 0


def _new_epoch() -> str:
    return str(UUIDv7Generator()())


def _now() -> datetime:
    return datetime.now(UTC)


class StreamStore:
    """Per (store, stream): the current items, the epoch, the version, the last change sets.

    `database` is a `StreamDatabase` (`PostgresStreamDatabase` in production), or the path
    of a SQLite file (created if missing). Either is shared safely by threads and by hub
    processes. `new_epoch` and `clock` are injectable for tests.
    """

    def __init__(
        self,
        database: StreamDatabase | Path | str,
        *,
        new_epoch: Callable[[], str] = _new_epoch,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self._database: StreamDatabase = (
            SqliteStreamDatabase(database) if isinstance(database, Path | str) else database
        )
        self._new_epoch = new_epoch
        self._clock = clock

    @property
    def database(self) -> StreamDatabase:
        """The database (the staff look-ups read it: edge.hub.streams.lookups)."""
        return self._database

    def close(self) -> None:
        """Close the database."""
        self._database.close()

    def _writing(self, what: str) -> AbstractContextManager[StreamTables]:
        return self._database.writing(what)

    def _reading(self, what: str) -> AbstractContextManager[StreamTables]:
        return self._database.reading(what)

    # --- importing -------------------------------------------------------------------

    def add_store(self, store_id: str) -> ImportReport:
        """Register a store; its streams are created with every current item (version 1)."""
        _check_store_id(store_id)
        with self._writing(f"adding store {store_id!r}") as tables:
            tables.add_store(store_id)
            return self._publish(tables, _Batch())

    def import_feed(self, result: FeedResult) -> ImportReport:
        """Apply one feed in one transaction; one new version per (store, stream) it changed."""
        return self.import_feeds([result])

    def import_feeds(self, results: Sequence[FeedResult]) -> ImportReport:
        """Apply several feeds in one transaction, with one new version per stream changed.

        A product feed among them is applied first (the others in their order): the
        other feeds find products by the retailer's ids it maps to GTINs.
        """
        in_order = sorted(results, key=lambda result: result.kind is not FeedKind.PRODUCTS)
        with self._writing("importing feeds") as tables:
            batch = _Batch()
            for result in in_order:
                self._take(tables, batch, result)
            return self._publish(tables, batch)

    def _take(self, tables: StreamTables, batch: _Batch, result: FeedResult) -> None:
        """Store one feed's rows in the hub-wide tables, noting what they touch."""
        if result.kind is FeedKind.PRODUCTS:
            made = sources.catalog(_only(result, Product))
            tables.replace_sources(Stream.CATALOG, made.items)
            tables.replace_skus(made.skus)
            batch.without_gtin += made.without_gtin
        elif result.kind is FeedKind.REVIEWS:
            found = sources.reviews(_only(result, Review), tables.skus())
            tables.replace_sources(Stream.REVIEWS, found.items)
            batch.spam += found.spam
            batch.unmatched_reviews += found.unmatched
        elif result.kind is FeedKind.PROMOTIONS:
            offers = sources.offers(_only(result, Promotion), tables.skus())
            tables.replace_sources(Stream.OFFERS, offers.items)
            batch.unknown_ids.extend(offers.unknown_ids)
        elif result.kind is FeedKind.CUSTOMERS:
            known = set(tables.skus().values())
            found_customers = sources.customers(_only(result, Customer), known)
            tables.replace_sources(Stream.CUSTOMERS, found_customers.items)
            # Profiles stay in the hub for staff answers: no stream is made of them.
            tables.replace_profiles(sources.profiles(_only(result, Customer)))
            batch.unknown_offers += found_customers.unknown_offers
        elif result.kind is FeedKind.STAFF:
            tables.replace_sources(Stream.STAFF, sources.staff(_only(result, StaffRecord)))
        elif result.kind is FeedKind.ORDERS:
            # Orders answer staff requests only: they change no stream.
            tables.replace_orders(sources.orders(_only(result, OrderRecord), tables.handed_over()))
            return
        else:
            self._take_inventory(tables, batch, _only(result, LocalInventory))
            return
        batch.shared.add(_SHARED[result.kind])

    def _take_inventory(
        self, tables: StreamTables, batch: _Batch, rows: Sequence[LocalInventory]
    ) -> None:
        """Incremental: only the rows given change; a row's time moves only when it does."""
        skus = tables.skus_of({row.id for row in rows})
        latest: dict[tuple[str, str], str] = {}  # a later row of a file wins
        for row in rows:
            gtin = skus.get(row.id)
            if gtin is None:
                batch.unknown_ids.append(row.id)
                continue
            if row.store_code != ONLINE_STORE and not TOPIC_LEVEL.fullmatch(row.store_code):
                batch.refused_store_codes.append(row.store_code)
                continue
            latest[(gtin, row.store_code)] = canonical(inventory_row_value(row))
        # Once per store, not per row: on PostgreSQL each is a round trip to the server.
        for store_id in sorted({code for _, code in latest} - {ONLINE_STORE}):
            tables.add_store(store_id)
        rows_held = tables.inventory_of({gtin for gtin, _ in latest})
        held = {(gtin, code): row for gtin, code, row, _ in rows_held}
        changed = {place: text for place, text in latest.items() if held.get(place) != text}
        now = rfc3339(self._clock())
        tables.put_inventory((gtin, code, text, now) for (gtin, code), text in changed.items())
        batch.stock_gtins.update(gtin for gtin, _ in changed)

    def _publish(self, tables: StreamTables, batch: _Batch) -> ImportReport:
        """Bring every store's streams to what the hub-wide tables now hold."""
        versions: dict[tuple[str, Stream], int] = {}
        stock = _StockRows(tables, batch.stock_gtins)
        for store_id in tables.stores():
            for stream in STREAMS:
                position = tables.position(store_id, stream)
                if position is None:
                    tables.create_stream(store_id, stream, self._new_epoch())
                    version, full = 0, True
                elif stream in batch.shared or (stream is Stream.STOCK and batch.stock_gtins):
                    version, full = position[1], stream is not Stream.STOCK
                else:
                    continue  # nothing this stream is made of changed
                wanted: Mapping[str, str | None]
                if stream is Stream.STOCK:
                    wanted = stock.items(store_id, full=full)
                elif stream is Stream.STAFF:
                    wanted = _staff_of(store_id, tables.sources(stream))
                else:
                    wanted = tables.sources(stream)
                held = (
                    tables.items(store_id, stream)
                    if full
                    else tables.items_of(store_id, stream, wanted)
                )
                changes = _diff(held, wanted, full=full)
                if changes or version == 0:  # a new stream starts at 1, even empty
                    _record(tables, store_id, stream, version + 1, changes)
                    versions[(store_id, stream)] = version + 1
        return ImportReport(
            versions=versions,
            without_gtin=batch.without_gtin,
            unknown_ids=tuple(batch.unknown_ids),
            refused_store_codes=tuple(batch.refused_store_codes),
            spam=batch.spam,
            unmatched_reviews=batch.unmatched_reviews,
            unknown_offers=batch.unknown_offers,
        )

    # --- reading ---------------------------------------------------------------------

    def stores(self) -> list[str]:
        """Every store the hub knows."""
        with self._reading("listing stores") as tables:
            return tables.stores()

    def position(self, store_id: str, stream: Stream) -> StreamPosition:
        """A stream's epoch and current version; UnknownStreamError if it does not exist."""
        with self._reading(f"reading {stream} of {store_id!r}") as tables:
            return _position(tables, store_id, stream)

    def items(self, store_id: str, stream: Stream) -> dict[str, JsonObject]:
        """A stream's current items, key -> value."""
        with self._reading(f"reading {stream} of {store_id!r}") as tables:
            _position(tables, store_id, stream)
            return {key: json.loads(text) for key, text in tables.items(store_id, stream).items()}

    def changes_since(
        self, store_id: str, stream: Stream, version: int, epoch: str | None = None
    ) -> list[dict[str, Any]] | None:
        """The change set messages after `version`, in order ([] when it is current).

        None when the caller must take a snapshot instead: those change sets are no
        longer kept (or one was too big for a message), `version` is ahead of the
        stream, or `epoch` is given and is not the stream's.
        """
        with self._reading(f"reading changes of {stream} of {store_id!r}") as tables:
            current_epoch, current = _position(tables, store_id, stream)
            if (epoch is not None and epoch != current_epoch) or not 0 <= version <= current:
                return None
            kept = tables.change_sets(store_id, stream, after=version)
        if len(kept) != current - version or any(text is None for _, text in kept):
            return None
        return [
            documents.change_set_document(store_id, stream, current_epoch, number, text)
            for number, text in kept
            if text is not None
        ]

    def snapshot(
        self, store_id: str, stream: Stream, page_size: int = 1_000
    ) -> list[dict[str, Any]]:
        """The whole stream as of its current version, as snapshot page messages."""
        if not 1 <= page_size <= MAX_ITEMS:
            raise StreamStoreError(f"page size {page_size}: expected 1 to {MAX_ITEMS}")
        with self._reading(f"reading a snapshot of {stream} of {store_id!r}") as tables:
            epoch, version = _position(tables, store_id, stream)
            items = tables.items(store_id, stream)
        return documents.snapshot_documents(store_id, stream, epoch, version, items, page_size)


def _staff_of(store_id: str, directory: Mapping[str, str]) -> dict[str, str]:
    """The staff stream's items for one store, from the hub-wide directory."""
    items: dict[str, str] = {}
    for key, text in directory.items():
        item = staff_item(json.loads(text), store_id)
        if item is not None:
            items[key] = canonical(item)
    return items


def _check_store_id(store_id: str) -> None:
    if store_id == ONLINE_STORE:
        raise InvalidStoreIdError(f"{ONLINE_STORE!r} is the web shop's stock, not a store")
    if not TOPIC_LEVEL.fullmatch(store_id):
        raise InvalidStoreIdError("1-64 characters, none of '/', '+', '#' or control")


def _only(result: FeedResult, kind: type[_R]) -> list[_R]:
    """The feed's records, all of the kind its feed holds."""
    return [record for record in result.records if isinstance(record, kind)]


def _position(tables: StreamTables, store_id: str, stream: Stream) -> StreamPosition:
    position = tables.position(store_id, stream)
    if position is None:
        raise UnknownStreamError(store_id, stream)
    return StreamPosition(*position)


class _StockRows:
    """The stock rows an import needs, read once: of every product, or of those it changed."""

    def __init__(self, tables: StreamTables, changed: set[str]) -> None:
        self._tables = tables
        self._changed = changed
        self._rows: dict[str, dict[str, tuple[JsonObject, str]]] | None = None
        self._complete = False

    def items(self, store_id: str, *, full: bool) -> dict[str, str | None]:
        """Store `store_id`'s stock items, of every product or of the changed ones.

        None for a product no store has a row of.
        """
        if self._rows is None or (full and not self._complete):
            read = self._tables.inventory() if full else self._tables.inventory_of(self._changed)
            self._rows, self._complete = defaultdict(dict), full
            for gtin, code, text, as_of in read:
                self._rows[gtin][code] = (json.loads(text), as_of)
        wanted: dict[str, str | None] = {}
        for gtin in sorted(self._rows if full else self._changed):
            value = stock_value(store_id, self._rows.get(gtin, {}))
            wanted[gtin] = None if value is None else canonical(value)
        return wanted


def _diff(
    held: Mapping[str, str], wanted: Mapping[str, str | None], *, full: bool
) -> dict[str, str | None]:
    """The changes from `held` to `wanted` (key -> new text, None: removed).

    Full: `wanted` is the whole stream, keys it lacks are removed. Otherwise only its
    keys change. A value whose text is the same is not a change.
    """
    changes = {
        key: value
        for key, value in wanted.items()
        if held.get(key) != value and not (value is None and key not in held)
    }
    if full:
        changes.update((key, None) for key in held if key not in wanted)
    return dict(sorted(changes.items()))


def _record(
    tables: StreamTables,
    store_id: str,
    stream: Stream,
    version: int,
    changes: Mapping[str, str | None],
) -> None:
    """Keep one change set as `version`, and forget those past the retention."""
    tables.record(store_id, stream, version, changes, documents.changes_text(changes))
    tables.forget_before(store_id, stream, version - RETAINED_VERSIONS + 1)
