"""The hub's default event store: one SQLite file in WAL mode, nothing to install.

Several hub processes may share the file: each batch is a `BEGIN IMMEDIATE`
transaction, which takes SQLite's one write lock before reading any figure, so
two batches never account for the same device at once.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
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
    state_at           TEXT
);
CREATE TABLE IF NOT EXISTS gaps (
    device_id      TEXT    NOT NULL,
    first_sequence INTEGER NOT NULL,
    last_sequence  INTEGER NOT NULL,
    state          TEXT    NOT NULL CHECK (state IN ('open', 'shed', 'recovered', 'expired')),
    PRIMARY KEY (device_id, first_sequence)
);
CREATE TABLE IF NOT EXISTS asks (
    device_id  TEXT    PRIMARY KEY,
    noticed_at REAL    NOT NULL,
    asked_at   REAL,
    asked_by   TEXT,
    asks       INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS shed_reported (
    device_id      TEXT    NOT NULL,
    first_sequence INTEGER NOT NULL,
    last_sequence  INTEGER NOT NULL,
    PRIMARY KEY (device_id, first_sequence)
);
""".replace("{assist_index}", ASSIST_INDEX).replace("{staff_index}", STAFF_SESSION_INDEX)

# A store made before gaps could expire: its gaps table is rebuilt with the new check.
_ALLOW_EXPIRED = (
    "ALTER TABLE gaps RENAME TO gaps_before_expired;"  # noqa: S608 - constant text only
    + _SCHEMA
    + "INSERT INTO gaps SELECT * FROM gaps_before_expired; DROP TABLE gaps_before_expired;"
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
    (gaps,) = db.execute("SELECT sql FROM sqlite_master WHERE name = 'gaps'").fetchone()
    if "'expired'" not in gaps:
        for statement in _ALLOW_EXPIRED.split(";"):
            if statement.strip():
                db.execute(statement)


class SqliteEventStore(SqlEventStore):
    """The `EventStore` in one SQLite file (created if missing)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        with translated(HubStoreError, f"opening the event store {self.path}"):
            self._db = _open(self.path)
        super().__init__(SqlLedger(self._execute, _DIALECT))

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
