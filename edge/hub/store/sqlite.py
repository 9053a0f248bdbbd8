"""The hub's default event store: one SQLite file in WAL mode, nothing to install.

Several hub processes may share the file: each batch is a `BEGIN IMMEDIATE`
transaction, which takes SQLite's one write lock before reading any figure, so
two batches never account for the same device at once.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from edge.hub.store.errors import HubStoreError, UnknownDeviceError
from edge.hub.store.incoming import IncomingEvent, RawEvent
from edge.hub.store.ingest import validate_batch
from edge.hub.store.ledger import Dialect, SqlLedger, ingest_batch
from edge.hub.store.model import DeviceStatus, Gap, IngestResult
from edge.hub.store.ranges import GapState
from edge.sqlite_tx import transaction, translated

BUSY_TIMEOUT = 30.0  # seconds a process waits for another one's batch to commit

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    source    TEXT    NOT NULL,
    id        TEXT    NOT NULL,
    device_id TEXT    NOT NULL,
    type      TEXT    NOT NULL,
    sequence  INTEGER NOT NULL,
    time      TEXT    NOT NULL,
    event     TEXT    NOT NULL,
    PRIMARY KEY (source, id)
);
CREATE INDEX IF NOT EXISTS events_by_device ON events (device_id, sequence);
CREATE TABLE IF NOT EXISTS devices (
    device_id          TEXT    PRIMARY KEY,
    store_id           TEXT,
    highest            INTEGER NOT NULL DEFAULT 0,
    last_contiguous    INTEGER NOT NULL DEFAULT 0,
    events_stored      INTEGER NOT NULL DEFAULT 0,
    duplicates_dropped INTEGER NOT NULL DEFAULT 0,
    state              TEXT,
    boot               INTEGER,
    state_at           TEXT
);
CREATE TABLE IF NOT EXISTS gaps (
    device_id      TEXT    NOT NULL,
    first_sequence INTEGER NOT NULL,
    last_sequence  INTEGER NOT NULL,
    state          TEXT    NOT NULL CHECK (state IN ('open', 'shed', 'recovered')),
    PRIMARY KEY (device_id, first_sequence)
);
CREATE TABLE IF NOT EXISTS shed_reported (
    device_id      TEXT    NOT NULL,
    first_sequence INTEGER NOT NULL,
    last_sequence  INTEGER NOT NULL,
    PRIMARY KEY (device_id, first_sequence)
);
"""

# sqlite3's own datetime adapters are deprecated: times are ISO 8601 text here.
_DIALECT = Dialect(lock_rows="", time_in=datetime.isoformat, time_out=datetime.fromisoformat)


class SqliteEventStore:
    """The `EventStore` in one SQLite file (created if missing)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        with translated(HubStoreError, f"opening the event store {self.path}"):
            self._db = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
            )
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")  # WAL: durable at checkpoint
                self._db.executescript(_SCHEMA)
            except BaseException:
                self._db.close()
                raise
        self._ledger = SqlLedger(self._execute, _DIALECT)

    def _execute(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        return self._db.execute(sql, params).fetchall()

    def ingest(self, events: Sequence[RawEvent | IncomingEvent]) -> IngestResult:
        """Store a batch in one transaction; malformed events are refused alone."""
        valid, refused = validate_batch(events)
        if not valid:
            return IngestResult(stored=0, duplicates=0, refused=refused)
        with translated(HubStoreError, "storing events"), transaction(self._db):
            stored, duplicates = ingest_batch(self._ledger, valid)
        return IngestResult(stored=stored, duplicates=duplicates, refused=refused)

    def set_device_state(self, device_id: str, state: str, boot: int | None, at: datetime) -> None:
        """Record a device's retained online/offline state, unless a later one is known."""
        with translated(HubStoreError, "recording a device's state"), transaction(self._db):
            self._ledger.set_state(device_id, state, boot, at)

    def device_status(self, device_id: str) -> DeviceStatus:
        """One device's figures; `UnknownDeviceError` if never heard of."""
        with translated(HubStoreError, "reading a device's figures"):
            found = self._ledger.statuses(device_id)
        if not found:
            raise UnknownDeviceError(device_id)
        return found[0]

    def devices(self) -> list[DeviceStatus]:
        """Every device's figures, by device id."""
        with translated(HubStoreError, "reading the devices' figures"):
            return self._ledger.statuses()

    def gaps(self, device_id: str) -> list[Gap]:
        """Every run of a device's missing sequences, in order, whatever its state."""
        with translated(HubStoreError, "reading a device's gaps"):
            return self._ledger.gaps(device_id, None)

    def open_gaps(self) -> list[Gap]:
        """What to ask the devices for again, by device then sequence."""
        with translated(HubStoreError, "reading the open gaps"):
            return self._ledger.gaps(None, GapState.OPEN)

    def close(self) -> None:
        """Close the database."""
        self._db.close()
