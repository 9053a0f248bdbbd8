"""The nonces of the commands already run, on disk, so that no command runs twice.

A nonce is kept until a day past its command's expiry: after that the command is
refused as expired anyway, and the day covers a clock set back a little (a kiosk
that boots before it has the time). The ledger is opened for each check (a few a day)
and used from a worker thread, never from the loop.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from edge.errors import BorneError

NONCES_FILE = "command-nonces.sqlite"
KEEP_AFTER_EXPIRY = 86_400  # seconds


class NonceLedgerError(BorneError):
    """The ledger cannot be read or written: no command can be run safely."""


class NonceLedger:
    """Nonces seen, with the expiry of their command."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def first_use(self, nonce: str, expires_at: int, now: float) -> bool:
        """Record `nonce`; whether it was new (False: a replay). Atomic."""
        try:
            database = sqlite3.connect(self._path, isolation_level=None)
        except sqlite3.Error as error:
            raise NonceLedgerError(f"the command nonces cannot be opened: {error}") from error
        try:
            database.execute("PRAGMA synchronous = FULL")  # recorded before it runs
            database.execute(
                "CREATE TABLE IF NOT EXISTS nonces"
                " (nonce TEXT PRIMARY KEY, expires_at INTEGER NOT NULL) WITHOUT ROWID"
            )
            database.execute("BEGIN IMMEDIATE")
            database.execute(
                "DELETE FROM nonces WHERE expires_at < ?", (int(now) - KEEP_AFTER_EXPIRY,)
            )
            inserted = database.execute(
                "INSERT OR IGNORE INTO nonces (nonce, expires_at) VALUES (?, ?)",
                (nonce, expires_at),
            ).rowcount
            database.execute("COMMIT")
        except sqlite3.Error as error:
            raise NonceLedgerError(f"the command nonces cannot be written: {error}") from error
        finally:
            database.close()
        return inserted == 1
