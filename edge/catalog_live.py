"""What the catalog reads live from the platform's streams: stock and loyalty customers.

Stock changes by the minute and a customer's points with every purchase: rebuilding the
catalog for either would be slow and pointless. So each product screen reads its
product's stock item, and each card tap its customer, straight from the stream cache
(one indexed read each), and an inventory change is on screen as soon as it is applied.

The items are the platform's (edge/hub/streams/values.py); `stock_from_value` and
`customer_from_value` read them strictly, a malformed one being a CatalogError.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from edge.catalog_types import Stock
from edge.errors import CatalogError
from edge.sqlite_tx import translated
from edge.sync.messages import Stream

log = logging.getLogger(__name__)

STREAM_CACHE = "streams.sqlite"  # the streams' copy, in the kiosk's data folder

_MAX_COUNT = 10**9  # more units than any store holds: a corrupt number, not stock


def _count(value: Mapping[str, Any], field: str) -> int:
    """A number of units; a field left out is none (the hub omits empty fields)."""
    units = value.get(field, 0)
    if isinstance(units, bool) or not isinstance(units, int) or not 0 <= units <= _MAX_COUNT:
        raise CatalogError(f"stock item: {field}: expected a whole number of units")
    return units


def stock_from_value(
    value: Mapping[str, Any],
    store_names: Mapping[str, str],
    *,
    confirmed_at: datetime | None,
    stale: bool,
) -> Stock:
    """The stock a product screen shows, from a stock item of the platform.

    Nearby stores are named by `store_names` (else their code) and listed by name.
    `confirmed_at`: when the platform last brought the stock stream up to date.
    """
    nearby = value.get("nearby", {})
    if not isinstance(nearby, dict):
        raise CatalogError("stock item: nearby: expected stores and their units")
    stores = sorted((store_names.get(code, code), _count(nearby, code)) for code in nearby if code)
    return Stock(
        here=_count(value, "here"),
        nearby=tuple(stores),
        online=_count(value, "online"),
        delivery_days=None,  # the local inventory feed has no delivery time
        as_of=confirmed_at,
        stale=stale,
    )


def customer_from_value(value: Mapping[str, Any]) -> dict[str, Any]:
    """A customers item as the catalog's stored customer document.

    `{"first_name", "points", "personalisation", "offers": [[gtin-14, texts]]}`, where
    an offer's title is its texts by language (French required; a plain text is taken
    as French). The offers' GTINs are checked by the catalog, which drops those it does
    not sell.
    """
    first_name = value.get("first_name", "")
    points = value.get("points", 0)
    personalisation = value.get("personalisation", True)
    offers = value.get("offers", [])
    if not isinstance(first_name, str):
        raise CatalogError("customer item: first_name: expected text")
    if isinstance(points, bool) or not isinstance(points, int) or points < 0:
        raise CatalogError("customer item: points: expected a whole number")
    if not isinstance(personalisation, bool):
        raise CatalogError("customer item: personalisation: expected true or false")
    if not isinstance(offers, list):
        raise CatalogError("customer item: offers: expected a list")
    listed = []
    for index, offer in enumerate(offers):
        gtin = offer.get("gtin") if isinstance(offer, dict) else None
        title = _texts(offer.get("title")) if isinstance(offer, dict) else None
        if not isinstance(gtin, str) or title is None:
            raise CatalogError(
                f"customer item: offers[{index}]: expected a gtin and a title with French"
            )
        listed.append([gtin.zfill(14), title])
    return {
        "first_name": first_name,
        "points": points,
        "personalisation": personalisation,
        "offers": listed,
    }


def _texts(value: Any) -> dict[str, str] | None:
    """Texts by language with a French one, from a text or such texts; else None."""
    if isinstance(value, str):
        return {"fr": value}
    if (
        isinstance(value, dict)
        and isinstance(value.get("fr"), str)
        and all(isinstance(text, str) for text in value.values())
    ):
        return {str(language): text for language, text in value.items()}
    return None


class StreamItems(Protocol):
    """The streams' items as the kiosk holds them (`edge.sync.cache.StreamCache`, or
    `StreamFile` from another process)."""

    def item(self, stream: Stream, key: str) -> dict[str, Any] | None:
        """The item `key` of `stream`, or None."""

    def items(self, stream: Stream) -> dict[str, dict[str, Any]]:
        """Every item of `stream`, by key."""

    def age(self, stream: Stream, now: float) -> float | None:
        """Seconds since `stream` was last confirmed current, or None if never."""


class StreamFile:
    """The kiosk's stream cache read from another process, read-only.

    `StreamCache` is the downlink's and does housekeeping when it opens (snapshots
    being assembled are dropped): another process must never open one while the kiosk
    runs. This reader neither changes nor blocks anything (SQLite WAL).
    """

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise CatalogError(f"no stream cache at {path}")
        with translated(CatalogError, f"stream cache {path} open"):
            uri = f"{path.resolve().as_uri()}?mode=ro"
            self._db = sqlite3.connect(uri, uri=True, check_same_thread=False)

    def close(self) -> None:
        """Close the file."""
        self._db.close()

    def item(self, stream: Stream, key: str) -> dict[str, Any] | None:
        """The item `key` of `stream`, or None."""
        with translated(CatalogError, "stream cache read"):
            row = self._db.execute(
                "SELECT value FROM items WHERE stream = ? AND key = ?", (stream.value, key)
            ).fetchone()
        return None if row is None else _object(row[0])

    def items(self, stream: Stream) -> dict[str, dict[str, Any]]:
        """Every item of `stream`, by key."""
        with translated(CatalogError, "stream cache read"):
            rows = self._db.execute(
                "SELECT key, value FROM items WHERE stream = ? ORDER BY key", (stream.value,)
            ).fetchall()
        return {key: _object(value) for key, value in rows}

    def age(self, stream: Stream, now: float) -> float | None:
        """Seconds since `stream` was last confirmed current, or None if never."""
        with translated(CatalogError, "stream cache read"):
            row = self._db.execute(
                "SELECT synced_at FROM positions WHERE stream = ?", (stream.value,)
            ).fetchone()
        return None if row is None else max(0.0, now - row[0])


def _object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise CatalogError("stream cache damaged: an item is not a JSON object")
    return value


class StreamReads:
    """Stock and customers read from the stream cache, for `Catalog`.

    Stock last confirmed more than `stale_after` seconds ago is marked stale.
    """

    def __init__(
        self,
        cache: StreamItems,
        *,
        store_names: Mapping[str, str],
        stale_after: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._cache = cache
        self._store_names = dict(store_names)
        self._stale_after = stale_after
        self._clock = clock

    def stock(self, gtin: str) -> Stock | None:
        """The product's stock now (none held: nothing counted anywhere); None if the
        platform's item cannot be read (logged), so the catalog keeps its own."""
        now = self._clock()
        age = self._cache.age(Stream.STOCK, now)
        value = self._cache.item(Stream.STOCK, gtin) or {}
        confirmed_at = None if age is None else datetime.fromtimestamp(now - age, UTC)
        stale = age is None or age > self._stale_after
        try:
            return stock_from_value(
                value, self._store_names, confirmed_at=confirmed_at, stale=stale
            )
        except CatalogError as error:
            log.warning("product %s: %s", gtin, error)
            return None

    def customer(self, pseudonym: str) -> dict[str, Any] | None:
        """The loyalty customer's document, or None if the platform has not sent them
        (or sent what cannot be read: logged, greeted as a stranger)."""
        value = self._cache.item(Stream.CUSTOMERS, pseudonym)
        if value is None:
            return None
        try:
            return customer_from_value(value)
        except CatalogError as error:
            log.warning("a loyalty customer cannot be read: %s", error)
            return None
