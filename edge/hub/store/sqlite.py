"""The hub's default event store: one SQLite file in WAL mode, nothing to install.

Several hub processes may share the file: each batch is a `BEGIN IMMEDIATE`
transaction, which takes SQLite's one write lock before reading any figure, so
two batches never account for the same device at once.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from edge.hub.sqlite_shared import open_shared
from edge.hub.store.base import SqlEventStore
from edge.hub.store.errors import HubStoreError
from edge.hub.store.ledger import ASSIST_INDEX, STAFF_SESSION_INDEX, Dialect, SqlLedger
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
    epoch     TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (source, id)
);
CREATE INDEX IF NOT EXISTS events_by_device ON events (device_id, sequence);
{assist_index};
{staff_index};
CREATE TABLE IF NOT EXISTS devices (
    device_id          TEXT    PRIMARY KEY,
    store_id           TEXT,
    highest            INTEGER NOT NULL DEFAULT 0,
    last_contiguous    INTEGER NOT NULL DEFAULT 0,
    events_stored      INTEGER NOT NULL DEFAULT 0,
    duplicates_dropped INTEGER NOT NULL DEFAULT 0,
    state              TEXT,
    boot               INTEGER,
    state_at           TEXT,
    epoch              TEXT    NOT NULL DEFAULT '',
    twins              TEXT,
    twins_at           REAL
);
CREATE TABLE IF NOT EXISTS streams (
    device_id       TEXT    NOT NULL,
    epoch           TEXT    NOT NULL,
    rank            INTEGER NOT NULL,
    highest         INTEGER NOT NULL DEFAULT 0,
    last_contiguous INTEGER NOT NULL DEFAULT 0,
    first_seen_at   REAL,
    advanced_at     REAL,
    closed_by       TEXT,
    previous        TEXT,
    PRIMARY KEY (device_id, epoch)
);
{gaps_table};
CREATE TABLE IF NOT EXISTS asks (
    device_id  TEXT    PRIMARY KEY,
    noticed_at REAL    NOT NULL,
    asked_at   REAL,
    asked_by   TEXT,
    asks       INTEGER NOT NULL DEFAULT 0
);
{shed_table};
"""

_GAPS_TABLE = """CREATE TABLE IF NOT EXISTS gaps (
    device_id      TEXT    NOT NULL,
    epoch          TEXT    NOT NULL DEFAULT '',
    first_sequence INTEGER NOT NULL,
    last_sequence  INTEGER NOT NULL,
    state          TEXT    NOT NULL
        CHECK (state IN ('open', 'shed', 'recovered', 'expired', 'superseded')),
    PRIMARY KEY (device_id, epoch, first_sequence)
)"""
_SHED_TABLE = """CREATE TABLE IF NOT EXISTS shed_reported (
    device_id      TEXT    NOT NULL,
    epoch          TEXT    NOT NULL DEFAULT '',
    first_sequence INTEGER NOT NULL,
    last_sequence  INTEGER NOT NULL,
    PRIMARY KEY (device_id, epoch, first_sequence)
)"""
_SCHEMA = (
    _SCHEMA.replace("{assist_index}", ASSIST_INDEX)
    .replace("{staff_index}", STAFF_SESSION_INDEX)
    .replace("{gaps_table}", _GAPS_TABLE)
    .replace("{shed_table}", _SHED_TABLE)
)
# Columns added since the first stores: (table, column, its definition).
_ADDED_COLUMNS = (
    ("events", "epoch", "TEXT NOT NULL DEFAULT ''"),
    ("devices", "epoch", "TEXT NOT NULL DEFAULT ''"),
    ("devices", "twins", "TEXT"),
    ("devices", "twins_at", "REAL"),
)
# A device heard before stream epochs has one stream, the epoch "" (its old figures).
_STREAMS_OF_OLD_DEVICES = (
    "INSERT INTO streams (device_id, epoch, rank, highest, last_contiguous)"
    " SELECT device_id, '', 1, highest, last_contiguous FROM devices d WHERE highest > 0"
    " AND NOT EXISTS (SELECT 1 FROM streams s WHERE s.device_id = d.device_id)"
)

# sqlite3's own datetime adapters are deprecated: times are ISO 8601 text here.
_DIALECT = Dialect(lock_rows="", time_in=datetime.isoformat, time_out=datetime.fromisoformat)


def _open(path: Path) -> sqlite3.Connection:
    """A connection to the store at `path`, its tables made (or brought up to date).

    The hub acknowledges an event to the broker once it is committed: a commit must
    survive a power cut, not only a crash (synchronous FULL).
    """
    return open_shared(
        path, _SCHEMA, synchronous="FULL", busy_timeout=BUSY_TIMEOUT, migrate=_migrate
    )


def _migrate(db: sqlite3.Connection) -> None:
    """Bring an older store up to date, inside the caller's write transaction."""
    for table, column, definition in _ADDED_COLUMNS:
        if column not in _columns(db, table):
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")
    # Tables whose key or check changed are made again (SQLite cannot alter either).
    _rebuild(db, "gaps", _GAPS_TABLE, "'superseded'")
    _rebuild(db, "shed_reported", _SHED_TABLE, "epoch")
    db.execute(_STREAMS_OF_OLD_DEVICES)


def _columns(db: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in db.execute(f"PRAGMA table_info({table})")]


def _rebuild(db: sqlite3.Connection, table: str, definition: str, marker: str) -> None:
    """Make `table` again as `definition` says, unless its SQL already holds `marker`;
    rows of an older form go to the epoch ""."""
    (sql,) = db.execute("SELECT sql FROM sqlite_master WHERE name = ?", [table]).fetchone()
    if marker in sql:
        return
    kept = [column for column in _columns(db, table) if column != "epoch"]
    listed = ", ".join(kept)
    db.execute(f"ALTER TABLE {table} RENAME TO {table}_before")
    db.execute(definition)
    db.execute(
        f"INSERT INTO {table} (epoch, {listed}) SELECT '', {listed} FROM {table}_before"  # noqa: S608
    )
    db.execute(f"DROP TABLE {table}_before")


class SqliteEventStore(SqlEventStore):
    """The `EventStore` in one SQLite file (created if missing)."""

    def __init__(self, path: Path | str, *, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        with translated(HubStoreError, f"opening the event store {self.path}"):
            self._db = _open(self.path)
        super().__init__(SqlLedger(self._execute, _DIALECT), clock)

    def _execute(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        return self._db.execute(sql, params).fetchall()

    @contextmanager
    def _writing(self, what: str) -> Iterator[None]:
        with self._lock, translated(HubStoreError, what), transaction(self._db):
            yield

    @contextmanager
    def _reading(self, what: str) -> Iterator[None]:
        with self._lock, translated(HubStoreError, what):
            yield

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()
