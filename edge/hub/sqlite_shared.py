"""Opening a SQLite file that several hub processes share, its tables made safely.

Several hub processes open the same file at once (and one may be restarting after a
`kill -9`, its log to recover): switching to WAL and a first read that becomes a write
are refused at once with "database is locked", without the busy timeout's wait. So the
tables are made under BEGIN IMMEDIATE, and the open is tried again until the timeout.
The event store (`edge.hub.store.sqlite`) and the stream store share this need.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

BUSY_TIMEOUT = 30.0  # seconds a process waits for another one's transaction to commit
_RETRY_PAUSE = 0.05  # seconds between two attempts to open a locked file


def open_shared(
    path: Path | str,
    schema: str,
    *,
    synchronous: str = "FULL",
    busy_timeout: float = BUSY_TIMEOUT,
    sleep: Callable[[float], None] = time.sleep,
    migrate: Callable[[sqlite3.Connection], None] | None = None,
) -> sqlite3.Connection:
    """A connection in autocommit mode to the file at `path`, WAL on, `schema` applied,
    then `migrate` (bringing older tables up to date) in the same transaction.

    `synchronous` is SQLite's setting: FULL when a commit must survive a power cut.
    Raises sqlite3.Error when the file cannot be opened, or stays locked past
    `busy_timeout`; the caller translates it into its own error.
    """
    deadline = time.monotonic() + busy_timeout
    while True:
        db = sqlite3.connect(
            path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={_synchronous(synchronous)}")
            db.executescript(f"BEGIN IMMEDIATE;{schema}")
            try:
                if migrate is not None:
                    migrate(db)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        except sqlite3.OperationalError as error:
            db.close()
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            sleep(_RETRY_PAUSE)
            continue
        except BaseException:
            db.close()
            raise
        return db


def _synchronous(setting: str) -> str:
    """One of SQLite's synchronous settings (it is spliced into a PRAGMA)."""
    if setting.upper() not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
        raise ValueError(f"not a SQLite synchronous setting: {setting!r}")
    return setting.upper()
