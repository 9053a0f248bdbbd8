"""The stream store in PostgreSQL (psycopg 3), for production: the same tables as SQLite's.

Every PostgreSQL statement of the stream store is here. Several hub processes share the
database: an import takes a transaction-scoped advisory lock before reading anything, so
imports take turns as SQLite's `BEGIN IMMEDIATE` makes them, and two never number a
version from the same state (no version skipped, none given twice). Reads run in one
REPEATABLE READ, READ ONLY transaction: what is read together was committed together.
Keys are ordered by their bytes (`COLLATE "C"`), as SQLite orders them, whatever the
database's locale.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from edge.hub.postgres_shared import connect_with_schema
from edge.hub.streams.errors import StreamDatabaseError
from edge.hub.streams.tables import InventoryRow, OrderRow

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS stores (store_id TEXT PRIMARY KEY)",
    """CREATE TABLE IF NOT EXISTS streams (
        store_id TEXT   NOT NULL,
        stream   TEXT   NOT NULL,
        epoch    TEXT   NOT NULL,
        version  BIGINT NOT NULL,
        PRIMARY KEY (store_id, stream)
    )""",
    """CREATE TABLE IF NOT EXISTS items (
        store_id TEXT NOT NULL,
        stream   TEXT NOT NULL,
        key      TEXT NOT NULL,
        value    TEXT NOT NULL,
        PRIMARY KEY (store_id, stream, key)
    )""",
    # changes is NULL for a change set too big for one message (see sql.py).
    """CREATE TABLE IF NOT EXISTS change_sets (
        store_id TEXT   NOT NULL,
        stream   TEXT   NOT NULL,
        version  BIGINT NOT NULL,
        changes  TEXT,
        PRIMARY KEY (store_id, stream, version)
    )""",
    """CREATE TABLE IF NOT EXISTS sources (
        stream TEXT NOT NULL,
        key    TEXT NOT NULL,
        value  TEXT NOT NULL,
        PRIMARY KEY (stream, key)
    )""",
    "CREATE TABLE IF NOT EXISTS skus (sku TEXT PRIMARY KEY, gtin TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS inventory (
        store_code TEXT NOT NULL,
        gtin       TEXT NOT NULL,
        row        TEXT NOT NULL,
        as_of      TEXT NOT NULL,
        PRIMARY KEY (gtin, store_code)
    )""",
    # Kept only to answer staff requests, never published (see sql.py).
    "CREATE TABLE IF NOT EXISTS profiles (pseudonym TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS orders (
        number    TEXT PRIMARY KEY,
        customer  TEXT NOT NULL,
        placed_at TEXT NOT NULL,
        status    TEXT NOT NULL,
        value     TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS orders_by_customer ON orders (customer, placed_at)",
)
# CREATE ... IF NOT EXISTS is not safe against a concurrent CREATE of the same table,
# and two imports must not interleave: both take turns on an advisory lock. Its own
# number, so that the event store's (edge.hub.store.postgres) never waits on an import.
_SCHEMA_LOCK = 0x626F726E6573  # "bornes"
_IMPORT_LOCK = 0x626F726E6569  # "bornei"
# The primary key of each table written by `_upsert`.
_KEYS = {"items": ("store_id", "stream", "key"), "inventory": ("gtin", "store_code")}
_FEW_ROWS = 64  # up to this many, rows are upserted one statement each (no staging table)


@contextmanager
def _translated(what: str) -> Iterator[None]:
    """Raise psycopg's exceptions inside as `StreamDatabaseError`, saying `what` failed."""
    try:
        yield
    except psycopg.Error as cause:
        raise StreamDatabaseError(f"{what} failed: {cause}") from cause


class PostgresStreamDatabase:
    """The stream tables in a PostgreSQL database (created if missing): a `StreamDatabase`.

    A connection the server dropped (a restart, a failover) fails the call that meets it
    with a retryable `StreamDatabaseError`; the next call connects again.
    """

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._lock = threading.Lock()
        self._closed = False
        self._db = self._connect()

    def _connect(self) -> psycopg.Connection[TupleRow]:
        # The DSN may hold a password: errors name the store, never the DSN.
        with _translated("opening the PostgreSQL stream store"):
            return connect_with_schema(self._dsn, _SCHEMA, _SCHEMA_LOCK)

    def _connection(self) -> psycopg.Connection[TupleRow]:
        if self._closed:
            raise StreamDatabaseError("the PostgreSQL stream store is closed")
        if self._db.broken or self._db.closed:
            self._db = self._connect()
        return self._db

    @contextmanager
    def writing(self, what: str) -> Iterator[PostgresStreamTables]:
        """One transaction, alone against every other import (see the module's docstring)."""
        with self._lock:
            db = self._connection()
            with _translated(what), db.transaction():
                db.execute("SELECT pg_advisory_xact_lock(%s)", [_IMPORT_LOCK])
                yield PostgresStreamTables(db)

    @contextmanager
    def reading(self, what: str) -> Iterator[PostgresStreamTables]:
        """One REPEATABLE READ, READ ONLY transaction."""
        with self._lock:
            db = self._connection()
            with _translated(what), db.transaction():
                db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                yield PostgresStreamTables(db)

    def close(self) -> None:
        """Close the connection; the store cannot be used afterwards."""
        with self._lock:
            self._closed = True
            self._db.close()


class PostgresStreamTables:
    """The stream store's tables in PostgreSQL (`tables.StreamTables`)."""

    def __init__(self, db: psycopg.Connection[TupleRow]) -> None:
        self._db = db

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[TupleRow]:
        return self._db.execute(sql, params).fetchall()

    def _upsert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Insert rows, or update those whose key is there (each key once in `rows`).

        A few rows go as one statement each; many are copied into a staging table first
        and merged by one statement: row by row, a whole catalog would take minutes.
        """
        keys = _KEYS[table]
        listed = sql.SQL(", ").join(map(sql.Identifier, columns))
        merge = sql.SQL("ON CONFLICT ({keys}) DO UPDATE SET {updates}").format(
            keys=sql.SQL(", ").join(map(sql.Identifier, keys)),
            updates=sql.SQL(", ").join(
                sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(column))
                for column in columns
                if column not in keys
            ),
        )
        if len(rows) <= _FEW_ROWS:
            insert = sql.SQL("INSERT INTO {table} ({listed}) VALUES ({values}) {merge}").format(
                table=sql.Identifier(table),
                listed=listed,
                values=sql.SQL(", ").join(sql.Placeholder() * len(columns)),
                merge=merge,
            )
            with self._db.cursor() as cursor:
                cursor.executemany(insert, rows)
            return
        staging = sql.Identifier(f"incoming_{table}")
        self._db.execute(
            sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {}) ON COMMIT DELETE ROWS").format(
                staging, sql.Identifier(table)
            )
        )
        self._copy(f"incoming_{table}", columns, rows)
        self._db.execute(
            sql.SQL("INSERT INTO {table} ({listed}) SELECT {listed} FROM {staging} {merge}").format(
                table=sql.Identifier(table), listed=listed, staging=staging, merge=merge
            )
        )
        # The staging rows last until the commit: the next merge of this transaction
        # must not find them again.
        self._db.execute(sql.SQL("TRUNCATE {}").format(staging))

    def stores(self) -> list[str]:
        """Every store the hub knows, in order."""
        return [
            row[0]
            for row in self._rows('SELECT store_id FROM stores ORDER BY store_id COLLATE "C"')
        ]

    def add_store(self, store_id: str) -> None:
        """Register a store (nothing if it is known)."""
        self._db.execute("INSERT INTO stores VALUES (%s) ON CONFLICT DO NOTHING", [store_id])

    def position(self, store_id: str, stream: str) -> tuple[str, int] | None:
        """A stream's epoch and current version, None when it does not exist yet."""
        rows = self._rows(
            "SELECT epoch, version FROM streams WHERE store_id = %s AND stream = %s",
            [store_id, stream],
        )
        return None if not rows else (rows[0][0], rows[0][1])

    def create_stream(self, store_id: str, stream: str, epoch: str) -> None:
        """A new stream at version 0 (its first change set makes version 1)."""
        self._db.execute("INSERT INTO streams VALUES (%s, %s, %s, 0)", [store_id, stream, epoch])

    def items(self, store_id: str, stream: str) -> dict[str, str]:
        """A stream's current items, key -> value text, in key order."""
        return dict(
            self._rows(
                "SELECT key, value FROM items WHERE store_id = %s AND stream = %s"
                ' ORDER BY key COLLATE "C"',
                [store_id, stream],
            )
        )

    def items_of(self, store_id: str, stream: str, keys: Iterable[str]) -> dict[str, str]:
        """The current items of a stream with these keys (those it holds)."""
        return dict(
            self._rows(
                "SELECT key, value FROM items WHERE store_id = %s AND stream = %s"
                " AND key = ANY(%s)",
                [store_id, stream, list(keys)],
            )
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
        removed = [key for key, value in changes.items() if value is None]
        if removed:
            self._db.execute(
                "DELETE FROM items WHERE store_id = %s AND stream = %s AND key = ANY(%s)",
                [store_id, stream, removed],
            )
        self._upsert(
            "items",
            ("store_id", "stream", "key", "value"),
            [(store_id, stream, key, value) for key, value in changes.items() if value is not None],
        )
        self._db.execute(
            "INSERT INTO change_sets VALUES (%s, %s, %s, %s)",
            [store_id, stream, version, changes_text],
        )
        self._db.execute(
            "UPDATE streams SET version = %s WHERE store_id = %s AND stream = %s",
            [version, store_id, stream],
        )

    def forget_before(self, store_id: str, stream: str, version: int) -> None:
        """Drop the change sets older than `version`."""
        self._db.execute(
            "DELETE FROM change_sets WHERE store_id = %s AND stream = %s AND version < %s",
            [store_id, stream, version],
        )

    def change_sets(self, store_id: str, stream: str, after: int) -> list[tuple[int, str | None]]:
        """The change sets kept after version `after`, in order: (version, changes text)."""
        return [
            (row[0], row[1])
            for row in self._rows(
                "SELECT version, changes FROM change_sets"
                " WHERE store_id = %s AND stream = %s AND version > %s ORDER BY version",
                [store_id, stream, after],
            )
        ]

    def sources(self, stream: str) -> dict[str, str]:
        """The hub-wide items of a stream, key -> value text, in key order."""
        return dict(
            self._rows(
                'SELECT key, value FROM sources WHERE stream = %s ORDER BY key COLLATE "C"',
                [stream],
            )
        )

    def replace_sources(self, stream: str, items: Mapping[str, str]) -> None:
        """Replace the hub-wide items of a stream (a full feed)."""
        self._db.execute("DELETE FROM sources WHERE stream = %s", [stream])
        self._copy(
            "sources", ("stream", "key", "value"), ((stream, k, v) for k, v in items.items())
        )

    def skus(self) -> dict[str, str]:
        """The retailer's ids of the products imported, id -> GTIN-14."""
        return dict(self._rows("SELECT sku, gtin FROM skus"))

    def skus_of(self, ids: Iterable[str]) -> dict[str, str]:
        """The GTIN-14s of these retailer ids (those imported)."""
        return dict(self._rows("SELECT sku, gtin FROM skus WHERE sku = ANY(%s)", [list(ids)]))

    def replace_skus(self, skus: Mapping[str, str]) -> None:
        """Replace the id -> GTIN map (a product feed is full)."""
        self._db.execute("DELETE FROM skus")
        self._copy("skus", ("sku", "gtin"), skus.items())

    def inventory(self) -> list[InventoryRow]:
        """Every stock row, by GTIN then store code."""
        return self._inventory(
            self._rows(
                "SELECT gtin, store_code, row, as_of FROM inventory"
                ' ORDER BY gtin COLLATE "C", store_code COLLATE "C"'
            )
        )

    def inventory_of(self, gtins: Iterable[str]) -> list[InventoryRow]:
        """The stock rows of these products, as `inventory` gives them."""
        return self._inventory(
            self._rows(
                "SELECT gtin, store_code, row, as_of FROM inventory WHERE gtin = ANY(%s)"
                ' ORDER BY gtin COLLATE "C", store_code COLLATE "C"',
                [list(gtins)],
            )
        )

    @staticmethod
    def _inventory(rows: Iterable[TupleRow]) -> list[InventoryRow]:
        return [(row[0], row[1], row[2], row[3]) for row in rows]

    def put_inventory(self, rows: Iterable[InventoryRow]) -> None:
        """Set stock rows (a row of the same product and store is replaced)."""
        self._upsert("inventory", ("gtin", "store_code", "row", "as_of"), list(rows))

    def sources_of(self, stream: str, keys: Iterable[str]) -> dict[str, str]:
        """The hub-wide items of a stream with these keys (those it holds)."""
        return dict(
            self._rows(
                "SELECT key, value FROM sources WHERE stream = %s AND key = ANY(%s)",
                [stream, list(keys)],
            )
        )

    def replace_profiles(self, profiles: Mapping[str, str]) -> None:
        """Replace the customers' profiles, pseudonym -> value text."""
        self._db.execute("DELETE FROM profiles")
        self._copy("profiles", ("pseudonym", "value"), profiles.items())

    def profile(self, pseudonym: str) -> str | None:
        """A customer's profile text, None when the loyalty feed gave none."""
        rows = self._rows("SELECT value FROM profiles WHERE pseudonym = %s", [pseudonym])
        return None if not rows else str(rows[0][0])

    def handed_over(self) -> set[str]:
        """The numbers of the orders the hub marked handed over."""
        found = self._rows("SELECT number FROM orders WHERE status = 'handed_over'")
        return {row[0] for row in found}

    def replace_orders(self, rows: Iterable[OrderRow]) -> None:
        """Replace every order (a full orders feed); a number given twice: the last wins."""
        self._db.execute("DELETE FROM orders")
        latest = {row[0]: row for row in rows}
        self._copy(
            "orders", ("number", "customer", "placed_at", "status", "value"), latest.values()
        )

    def orders_of(self, customer: str) -> list[OrderRow]:
        """A customer's orders, newest first."""
        return [
            (row[0], row[1], row[2], row[3], row[4])
            for row in self._rows(
                "SELECT number, customer, placed_at, status, value FROM orders"
                ' WHERE customer = %s ORDER BY placed_at DESC, number COLLATE "C"',
                [customer],
            )
        ]

    def order(self, number: str) -> OrderRow | None:
        """One order by its number."""
        rows = self._rows(
            "SELECT number, customer, placed_at, status, value FROM orders WHERE number = %s",
            [number],
        )
        return None if not rows else (rows[0][0], rows[0][1], rows[0][2], rows[0][3], rows[0][4])

    def set_order(self, number: str, status: str, value: str) -> None:
        """Change an order's status and value text."""
        self._db.execute(
            "UPDATE orders SET status = %s, value = %s WHERE number = %s", [status, value, number]
        )

    def _copy(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """Rows into a table, by COPY: a whole catalog in one round trip."""
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
        )
        with self._db.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
