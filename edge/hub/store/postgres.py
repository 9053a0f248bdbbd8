"""The hub's production event store: PostgreSQL through psycopg 3.

Several hub processes share the database: each batch is one transaction that
locks the rows of the devices it touches (`SELECT ... FOR UPDATE`, always in
device order, so two batches never deadlock), and events are inserted with
`ON CONFLICT DO NOTHING`, so an event two processes received is stored once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import TupleRow

from edge.hub.postgres_shared import connect_with_schema
from edge.hub.store.base import SqlEventStore
from edge.hub.store.errors import HubStoreError
from edge.hub.store.ledger import ASSIST_INDEX, STAFF_SESSION_INDEX, Dialect, SqlLedger

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS events (
        source    TEXT        NOT NULL,
        id        UUID        NOT NULL,
        device_id TEXT        NOT NULL,
        type      TEXT        NOT NULL,
        sequence  BIGINT      NOT NULL,
        time      TIMESTAMPTZ NOT NULL,
        event     JSON        NOT NULL,
        PRIMARY KEY (source, id)
    )""",
    "CREATE INDEX IF NOT EXISTS events_by_device ON events (device_id, sequence)",
    ASSIST_INDEX,
    STAFF_SESSION_INDEX,
    """CREATE TABLE IF NOT EXISTS devices (
        device_id          TEXT   PRIMARY KEY,
        store_id           TEXT,
        highest            BIGINT NOT NULL DEFAULT 0,
        last_contiguous    BIGINT NOT NULL DEFAULT 0,
        events_stored      BIGINT NOT NULL DEFAULT 0,
        duplicates_dropped BIGINT NOT NULL DEFAULT 0,
        state              TEXT,
        boot               BIGINT,
        state_at           TIMESTAMPTZ
    )""",
    """CREATE TABLE IF NOT EXISTS gaps (
        device_id      TEXT   NOT NULL,
        first_sequence BIGINT NOT NULL,
        last_sequence  BIGINT NOT NULL,
        state          TEXT   NOT NULL CHECK (state IN ('open', 'shed', 'recovered', 'expired')),
        PRIMARY KEY (device_id, first_sequence)
    )""",
    """CREATE TABLE IF NOT EXISTS asks (
        device_id  TEXT             PRIMARY KEY,
        noticed_at DOUBLE PRECISION NOT NULL,
        asked_at   DOUBLE PRECISION,
        asked_by   TEXT,
        asks       BIGINT           NOT NULL DEFAULT 0
    )""",
    # A store made before gaps could expire gets the new check (named as PostgreSQL
    # named the old one).
    """DO $$ BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'gaps_state_check'
                       AND pg_get_constraintdef(oid) LIKE '%expired%') THEN
            ALTER TABLE gaps DROP CONSTRAINT IF EXISTS gaps_state_check;
            ALTER TABLE gaps ADD CONSTRAINT gaps_state_check
                CHECK (state IN ('open', 'shed', 'recovered', 'expired'));
        END IF;
    END $$""",
    """CREATE TABLE IF NOT EXISTS shed_reported (
        device_id      TEXT   NOT NULL,
        first_sequence BIGINT NOT NULL,
        last_sequence  BIGINT NOT NULL,
        PRIMARY KEY (device_id, first_sequence)
    )""",
)
# CREATE ... IF NOT EXISTS is not safe against a concurrent CREATE of the same
# table: hub processes starting together take turns on this advisory lock.
_SCHEMA_LOCK = 0x626F726E65  # "borne"


def _same_time(moment: Any) -> datetime:
    if not isinstance(moment, datetime):
        raise TypeError(f"expected a timestamptz, got {type(moment).__name__}")
    return moment


_DIALECT = Dialect(lock_rows=" FOR UPDATE", time_in=lambda moment: moment, time_out=_same_time)


@contextmanager
def _translated(what: str) -> Iterator[None]:
    """Raise psycopg's exceptions inside as `HubStoreError`, saying `what` failed."""
    try:
        yield
    except psycopg.Error as cause:
        raise HubStoreError(f"{what} failed: {cause}") from cause


class PostgresEventStore(SqlEventStore):
    """The `EventStore` in a PostgreSQL database (tables created if missing).

    A connection the server dropped (a restart, a failover) fails the call that
    meets it with a retryable `HubStoreError`; the next call connects again.
    """

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._lock = threading.Lock()
        self._closed = False
        self._db = self._connect()
        super().__init__(SqlLedger(self._execute, _DIALECT))

    def _connect(self) -> psycopg.Connection[TupleRow]:
        with _translated("opening the PostgreSQL event store"):
            return connect_with_schema(self._dsn, _SCHEMA, _SCHEMA_LOCK)

    def _connection(self) -> psycopg.Connection[TupleRow]:
        if self._closed:
            raise HubStoreError("the PostgreSQL event store is closed")
        if self._db.broken or self._db.closed:
            self._db = self._connect()
        return self._db

    def _execute(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        # The shared SQL uses sqlite3's `?`; nothing else in it holds '?' or '%'.
        cursor = self._db.execute(sql.replace("?", "%s"), params)
        return cursor.fetchall() if cursor.description is not None else []

    @contextmanager
    def _writing(self, what: str) -> Iterator[None]:
        with self._lock:
            db = self._connection()
            with _translated(what), db.transaction():
                yield

    @contextmanager
    def _reading(self, what: str) -> Iterator[None]:
        with self._lock:
            self._connection()
            with _translated(what):
                yield

    def close(self) -> None:
        """Close the connection; the store cannot be used afterwards."""
        with self._lock:
            self._closed = True
            self._db.close()
