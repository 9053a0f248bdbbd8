"""The stream store in SQLite: one file in WAL mode, the default (nothing to install).

Every SQLite statement of the stream store is here; `postgres.py` is the same for
PostgreSQL. Values are canonical JSON text (`values.canonical`), compared as text to
find what changed; a list of keys is passed as one JSON array parameter (`json_each`),
never spliced into the SQL. An import is one `BEGIN IMMEDIATE` transaction: it takes
SQLite's one write lock before reading anything, so two hub processes importing at once
take turns, and neither numbers a version from what the other is changing.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from edge.hub.sqlite_shared import open_shared
from edge.hub.streams.errors import StreamDatabaseError
from edge.hub.streams.tables import InventoryRow, OrderRow
from edge.sqlite_tx import transaction, translated

_SCHEMA = """
CREATE TABLE IF NOT EXISTS stores (store_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS streams (
    store_id TEXT    NOT NULL,
    stream   TEXT    NOT NULL,
    epoch    TEXT    NOT NULL,
    version  INTEGER NOT NULL,
    PRIMARY KEY (store_id, stream)
);
CREATE TABLE IF NOT EXISTS items (
    store_id TEXT NOT NULL,
    stream   TEXT NOT NULL,
    key      TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (store_id, stream, key)
);
-- changes is NULL for a change set too big for one message: a kiosk missing it resyncs
-- with a snapshot.
CREATE TABLE IF NOT EXISTS change_sets (
    store_id TEXT    NOT NULL,
    stream   TEXT    NOT NULL,
    version  INTEGER NOT NULL,
    changes  TEXT,
    PRIMARY KEY (store_id, stream, version)
);
-- The hub-wide items every store's catalog, reviews and offers streams are made from.
CREATE TABLE IF NOT EXISTS sources (
    stream TEXT NOT NULL,
    key    TEXT NOT NULL,
    value  TEXT NOT NULL,
    PRIMARY KEY (stream, key)
);
CREATE TABLE IF NOT EXISTS skus (sku TEXT PRIMARY KEY, gtin TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS inventory (
    store_code TEXT NOT NULL,
    gtin       TEXT NOT NULL,
    row        TEXT NOT NULL,
    as_of      TEXT NOT NULL,
    PRIMARY KEY (gtin, store_code)
);
-- Kept only to answer staff requests, never published: the customers' profiles and
-- their orders of every channel, found by number and by customer.
CREATE TABLE IF NOT EXISTS profiles (pseudonym TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS orders (
    number    TEXT PRIMARY KEY,
    customer  TEXT NOT NULL,
    placed_at TEXT NOT NULL,
    status    TEXT NOT NULL,
    value     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_by_customer ON orders (customer, placed_at);
"""


class SqliteStreamDatabase:
    """The stream tables in one SQLite file (created if missing): a `StreamDatabase`."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        with translated(StreamDatabaseError, f"opening the stream store {self.path}"):
            # An import's commit is what the kiosks are then told: it must outlive a power cut.
            self._db = open_shared(self.path, _SCHEMA, synchronous="FULL")
        self._tables = SqliteStreamTables(self._db)

    @contextmanager
    def writing(self, what: str) -> Iterator[SqliteStreamTables]:
        """One `BEGIN IMMEDIATE` transaction (see the module's docstring)."""
        with self._lock, translated(StreamDatabaseError, what), transaction(self._db):
            yield self._tables

    @contextmanager
    def reading(self, what: str) -> Iterator[SqliteStreamTables]:
        """One read transaction: what is read together was committed together."""
        with self._lock, translated(StreamDatabaseError, what):
            self._db.execute("BEGIN")
            try:
                yield self._tables
            finally:
                self._db.execute("COMMIT")

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._db.close()


class SqliteStreamTables:
    """The stream store's tables in SQLite (`tables.StreamTables`)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def stores(self) -> list[str]:
        """Every store the hub knows, in order."""
        return [row[0] for row in self._db.execute("SELECT store_id FROM stores ORDER BY 1")]

    def add_store(self, store_id: str) -> None:
        """Register a store (nothing if it is known)."""
        self._db.execute("INSERT OR IGNORE INTO stores VALUES (?)", (store_id,))

    def position(self, store_id: str, stream: str) -> tuple[str, int] | None:
        """A stream's epoch and current version, None when it does not exist yet."""
        row = self._db.execute(
            "SELECT epoch, version FROM streams WHERE store_id = ? AND stream = ?",
            (store_id, stream),
        ).fetchone()
        return None if row is None else (row[0], row[1])

    def create_stream(self, store_id: str, stream: str, epoch: str) -> None:
        """A new stream at version 0 (its first change set makes version 1)."""
        self._db.execute("INSERT INTO streams VALUES (?, ?, ?, 0)", (store_id, stream, epoch))

    def items(self, store_id: str, stream: str) -> dict[str, str]:
        """A stream's current items, key -> value text."""
        return dict(
            self._db.execute(
                "SELECT key, value FROM items WHERE store_id = ? AND stream = ? ORDER BY key",
                (store_id, stream),
            ).fetchall()
        )

    def items_of(self, store_id: str, stream: str, keys: Iterable[str]) -> dict[str, str]:
        """The current items of a stream with these keys (those it holds)."""
        return dict(
            self._db.execute(
                "SELECT key, value FROM items WHERE store_id = ? AND stream = ?"
                " AND key IN (SELECT value FROM json_each(?))",
                (store_id, stream, json.dumps(list(keys))),
            ).fetchall()
        )

    def record(
        self,
        store_id: str,
        stream: str,
        version: int,
        changes: Mapping[str, str | None],
        changes_text: str | None,
    ) -> None:
        """Apply one change set to the items (None: removed) and keep it as `version`."""
        self._db.executemany(
            "DELETE FROM items WHERE store_id = ? AND stream = ? AND key = ?",
            [(store_id, stream, key) for key, value in changes.items() if value is None],
        )
        self._db.executemany(
            "INSERT OR REPLACE INTO items VALUES (?, ?, ?, ?)",
            [(store_id, stream, key, value) for key, value in changes.items() if value is not None],
        )
        self._db.execute(
            "INSERT INTO change_sets VALUES (?, ?, ?, ?)",
            (store_id, stream, version, changes_text),
        )
        self._db.execute(
            "UPDATE streams SET version = ? WHERE store_id = ? AND stream = ?",
            (version, store_id, stream),
        )

    def forget_before(self, store_id: str, stream: str, version: int) -> None:
        """Drop the change sets older than `version`."""
        self._db.execute(
            "DELETE FROM change_sets WHERE store_id = ? AND stream = ? AND version < ?",
            (store_id, stream, version),
        )

    def change_sets(self, store_id: str, stream: str, after: int) -> list[tuple[int, str | None]]:
        """The change sets kept after version `after`, in order: (version, changes text)."""
        return self._db.execute(
            "SELECT version, changes FROM change_sets"
            " WHERE store_id = ? AND stream = ? AND version > ? ORDER BY version",
            (store_id, stream, after),
        ).fetchall()

    def sources(self, stream: str) -> dict[str, str]:
        """The hub-wide items of a stream, key -> value text."""
        return dict(
            self._db.execute(
                "SELECT key, value FROM sources WHERE stream = ? ORDER BY key", (stream,)
            ).fetchall()
        )

    def replace_sources(self, stream: str, items: Mapping[str, str]) -> None:
        """Replace the hub-wide items of a stream (a full feed)."""
        self._db.execute("DELETE FROM sources WHERE stream = ?", (stream,))
        self._db.executemany(
            "INSERT INTO sources VALUES (?, ?, ?)",
            [(stream, key, value) for key, value in items.items()],
        )

    def skus(self) -> dict[str, str]:
        """The retailer's ids of the products imported, id -> GTIN-14."""
        return dict(self._db.execute("SELECT sku, gtin FROM skus").fetchall())

    def skus_of(self, ids: Iterable[str]) -> dict[str, str]:
        """The GTIN-14s of these retailer ids (those imported)."""
        return dict(
            self._db.execute(
                "SELECT sku, gtin FROM skus WHERE sku IN (SELECT value FROM json_each(?))",
                (json.dumps(list(ids)),),
            ).fetchall()
        )

    def replace_skus(self, skus: Mapping[str, str]) -> None:
        """Replace the id -> GTIN map (a product feed is full)."""
        self._db.execute("DELETE FROM skus")
        self._db.executemany("INSERT INTO skus VALUES (?, ?)", list(skus.items()))

    def inventory(self) -> list[InventoryRow]:
        """Every stock row: (GTIN, store code, row text, when it last changed)."""
        return self._db.execute(
            "SELECT gtin, store_code, row, as_of FROM inventory ORDER BY gtin, store_code"
        ).fetchall()

    def inventory_of(self, gtins: Iterable[str]) -> list[InventoryRow]:
        """The stock rows of these products, as `inventory` gives them."""
        return self._db.execute(
            "SELECT gtin, store_code, row, as_of FROM inventory"
            " WHERE gtin IN (SELECT value FROM json_each(?)) ORDER BY gtin, store_code",
            (json.dumps(list(gtins)),),
        ).fetchall()

    def put_inventory(self, rows: Iterable[InventoryRow]) -> None:
        """Set stock rows: (GTIN, store code, row text, when it changed)."""
        self._db.executemany(
            "INSERT OR REPLACE INTO inventory (gtin, store_code, row, as_of) VALUES (?, ?, ?, ?)",
            list(rows),
        )

    def sources_of(self, stream: str, keys: Iterable[str]) -> dict[str, str]:
        """The hub-wide items of a stream with these keys (those it holds)."""
        return dict(
            self._db.execute(
                "SELECT key, value FROM sources WHERE stream = ?"
                " AND key IN (SELECT value FROM json_each(?))",
                (stream, json.dumps(list(keys))),
            ).fetchall()
        )

    def replace_profiles(self, profiles: Mapping[str, str]) -> None:
        """Replace the customers' profiles, pseudonym -> value text."""
        self._db.execute("DELETE FROM profiles")
        self._db.executemany("INSERT INTO profiles VALUES (?, ?)", list(profiles.items()))

    def profile(self, pseudonym: str) -> str | None:
        """A customer's profile text, None when the loyalty feed gave none."""
        row = self._db.execute(
            "SELECT value FROM profiles WHERE pseudonym = ?", (pseudonym,)
        ).fetchone()
        return None if row is None else str(row[0])

    def handed_over(self) -> set[str]:
        """The numbers of the orders the hub marked handed over."""
        rows = self._db.execute("SELECT number FROM orders WHERE status = 'handed_over'")
        return {row[0] for row in rows}

    def replace_orders(self, rows: Iterable[OrderRow]) -> None:
        """Replace every order (a full orders feed)."""
        self._db.execute("DELETE FROM orders")
        self._db.executemany("INSERT OR REPLACE INTO orders VALUES (?, ?, ?, ?, ?)", list(rows))

    def orders_of(self, customer: str) -> list[OrderRow]:
        """A customer's orders, newest first."""
        return self._db.execute(
            "SELECT number, customer, placed_at, status, value FROM orders"
            " WHERE customer = ? ORDER BY placed_at DESC, number",
            (customer,),
        ).fetchall()

    def order(self, number: str) -> OrderRow | None:
        """One order by its number."""
        row = self._db.execute(
            "SELECT number, customer, placed_at, status, value FROM orders WHERE number = ?",
            (number,),
        ).fetchone()
        return None if row is None else (row[0], row[1], row[2], row[3], row[4])

    def set_order(self, number: str, status: str, value: str) -> None:
        """Change an order's status and value text."""
        self._db.execute(
            "UPDATE orders SET status = ?, value = ? WHERE number = ?", (status, value, number)
        )
