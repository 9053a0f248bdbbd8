"""The hub's production event store: PostgreSQL through psycopg 3.

Several hub processes share the database: each batch is one transaction that
locks the rows of the devices it touches (`SELECT ... FOR UPDATE`, always in
device order, so two batches never deadlock), and events are inserted with
`ON CONFLICT DO NOTHING`, so an event two processes received is stored once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
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
        epoch     TEXT        NOT NULL DEFAULT '',
        PRIMARY KEY (source, id)
    )""",
    "ALTER TABLE events ADD COLUMN IF NOT EXISTS epoch TEXT NOT NULL DEFAULT ''",
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
        state_at           TIMESTAMPTZ,
        epoch              TEXT   NOT NULL DEFAULT '',
        twins              TEXT,
        twins_at           DOUBLE PRECISION
    )""",
    "ALTER TABLE devices ADD COLUMN IF NOT EXISTS epoch TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE devices ADD COLUMN IF NOT EXISTS twins TEXT",
    "ALTER TABLE devices ADD COLUMN IF NOT EXISTS twins_at DOUBLE PRECISION",
    """CREATE TABLE IF NOT EXISTS streams (
        device_id       TEXT   NOT NULL,
        epoch           TEXT   NOT NULL,
        rank            BIGINT NOT NULL,
        highest         BIGINT NOT NULL DEFAULT 0,
        last_contiguous BIGINT NOT NULL DEFAULT 0,
        first_seen_at   DOUBLE PRECISION,
        advanced_at     DOUBLE PRECISION,
        closed_by       TEXT,
        previous        TEXT,
        PRIMARY KEY (device_id, epoch)
    )""",
    # A device heard before stream epochs has one stream, the epoch "" (its old figures).
    """INSERT INTO streams (device_id, epoch, rank, highest, last_contiguous)
        SELECT device_id, '', 1, highest, last_contiguous FROM devices d WHERE highest > 0
        AND NOT EXISTS (SELECT 1 FROM streams s WHERE s.device_id = d.device_id)""",
    """CREATE TABLE IF NOT EXISTS gaps (
        device_id      TEXT   NOT NULL,
        epoch          TEXT   NOT NULL DEFAULT '',
        first_sequence BIGINT NOT NULL,
        last_sequence  BIGINT NOT NULL,
        state          TEXT   NOT NULL
            CHECK (state IN ('open', 'shed', 'recovered', 'expired', 'superseded')),
        PRIMARY KEY (device_id, epoch, first_sequence)
    )""",
    """CREATE TABLE IF NOT EXISTS asks (
        device_id  TEXT             PRIMARY KEY,
        noticed_at DOUBLE PRECISION NOT NULL,
        asked_at   DOUBLE PRECISION,
        asked_by   TEXT,
        asks       BIGINT           NOT NULL DEFAULT 0
    )""",
    # A store made before gaps could expire or be superseded gets the new check (named
    # as PostgreSQL named the old one).
    """DO $$ BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'gaps_state_check'
                       AND pg_get_constraintdef(oid) LIKE '%superseded%') THEN
            ALTER TABLE gaps DROP CONSTRAINT IF EXISTS gaps_state_check;
            ALTER TABLE gaps ADD CONSTRAINT gaps_state_check
                CHECK (state IN ('open', 'shed', 'recovered', 'expired', 'superseded'));
        END IF;
    END $$""",
    """CREATE TABLE IF NOT EXISTS shed_reported (
        device_id      TEXT   NOT NULL,
        epoch          TEXT   NOT NULL DEFAULT '',
        first_sequence BIGINT NOT NULL,
        last_sequence  BIGINT NOT NULL,
        PRIMARY KEY (device_id, epoch, first_sequence)
    )""",
    # A store made before stream epochs: its gaps and shed spans go to the epoch "",
    # and are keyed by epoch from now on.
    *(
        f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS epoch TEXT NOT NULL DEFAULT ''"
        for table in ("gaps", "shed_reported")
    ),
    *(
        f"""DO $$ BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = '{table}_pkey'
                       AND pg_get_constraintdef(oid) LIKE '%epoch%') THEN
            ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {table}_pkey;
            ALTER TABLE {table} ADD CONSTRAINT {table}_pkey
                PRIMARY KEY (device_id, epoch, first_sequence);
        END IF;
    END $$"""  # noqa: S608 - two constant table names
        for table in ("gaps", "shed_reported")
    ),
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

    def __init__(self, dsn: str, *, clock: Callable[[], float] = time.time) -> None:
        self._dsn = dsn
        self._lock = threading.Lock()
        self._closed = False
        self._db = self._connect()
        super().__init__(SqlLedger(self._execute, _DIALECT), clock)

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
