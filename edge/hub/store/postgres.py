"""The hub's production event store: PostgreSQL through psycopg 3.

Several hub processes share the database: each batch is one transaction that
locks the rows of the devices it touches (`SELECT ... FOR UPDATE`, always in
device order, so two batches never deadlock), and events are inserted with
`ON CONFLICT DO NOTHING`, so an event two processes received is stored once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import psycopg

from edge.hub.store.errors import HubStoreError, UnknownDeviceError
from edge.hub.store.incoming import IncomingEvent, RawEvent
from edge.hub.store.ingest import validate_batch
from edge.hub.store.ledger import Dialect, SqlLedger, ingest_batch
from edge.hub.store.model import DeviceStatus, Gap, IngestResult
from edge.hub.store.ranges import GapState

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
        state          TEXT   NOT NULL CHECK (state IN ('open', 'shed', 'recovered')),
        PRIMARY KEY (device_id, first_sequence)
    )""",
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


class PostgresEventStore:
    """The `EventStore` in a PostgreSQL database (tables created if missing)."""

    def __init__(self, dsn: str) -> None:
        with _translated("opening the PostgreSQL event store"):
            self._db = psycopg.connect(dsn, autocommit=True)
            try:
                with self._db.transaction():
                    self._db.execute("SELECT pg_advisory_xact_lock(%s)", [_SCHEMA_LOCK])
                    for statement in _SCHEMA:
                        self._db.execute(statement)
            except BaseException:
                self._db.close()
                raise
        self._ledger = SqlLedger(self._execute, _DIALECT)

    def _execute(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        # The shared SQL uses sqlite3's `?`; nothing else in it holds '?' or '%'.
        cursor = self._db.execute(sql.replace("?", "%s"), params)
        return cursor.fetchall() if cursor.description is not None else []

    def ingest(self, events: Sequence[RawEvent | IncomingEvent]) -> IngestResult:
        """Store a batch in one transaction; malformed events are refused alone."""
        valid, refused = validate_batch(events)
        if not valid:
            return IngestResult(stored=0, duplicates=0, refused=refused)
        with _translated("storing events"), self._db.transaction():
            stored, duplicates = ingest_batch(self._ledger, valid)
        return IngestResult(stored=stored, duplicates=duplicates, refused=refused)

    def set_device_state(self, device_id: str, state: str, boot: int | None, at: datetime) -> None:
        """Record a device's retained online/offline state, unless a later one is known."""
        with _translated("recording a device's state"), self._db.transaction():
            self._ledger.set_state(device_id, state, boot, at)

    def device_status(self, device_id: str) -> DeviceStatus:
        """One device's figures; `UnknownDeviceError` if never heard of."""
        with _translated("reading a device's figures"):
            found = self._ledger.statuses(device_id)
        if not found:
            raise UnknownDeviceError(device_id)
        return found[0]

    def devices(self) -> list[DeviceStatus]:
        """Every device's figures, by device id."""
        with _translated("reading the devices' figures"):
            return self._ledger.statuses()

    def gaps(self, device_id: str) -> list[Gap]:
        """Every run of a device's missing sequences, in order, whatever its state."""
        with _translated("reading a device's gaps"):
            return self._ledger.gaps(device_id, None)

    def open_gaps(self) -> list[Gap]:
        """What to ask the devices for again, by device then sequence."""
        with _translated("reading the open gaps"):
            return self._ledger.gaps(None, GapState.OPEN)

    def close(self) -> None:
        """Close the connection."""
        self._db.close()
