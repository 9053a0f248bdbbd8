"""Badges locked after wrong PINs, kept in the kiosk's data folder.

A lockout must survive a restart (pulling the plug must not give five more guesses), so
failures and lockouts are in SQLite, by badge pseudonym, with a wall-clock end: a
monotonic clock starts again at boot.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edge.sqlite_tx import transaction, translated
from edge.staff.directory import StaffError

LOCKOUTS_FILE = "staff.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS badges (
    badge TEXT PRIMARY KEY,          -- the badge's pseudonym, never its id
    failures INTEGER NOT NULL,       -- wrong PINs in a row
    locked_until REAL                -- Unix time, or NULL
)
"""


@dataclass(frozen=True, slots=True)
class Failure:
    """What one wrong PIN did to its badge."""

    failures: int  # wrong PINs in a row, this one included
    locked_until: float | None  # set when this one locked the badge


class BadgeLockouts:
    """Counts wrong PINs per badge and locks a badge after `max_failures` in a row."""

    def __init__(
        self,
        path: Path,
        *,
        max_failures: int = 5,
        lockout_seconds: float = 900.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.max_failures = max_failures
        self.lockout_seconds = lockout_seconds
        self._clock = clock
        self._lock = threading.Lock()  # opened on one thread, used on the session's
        with translated(StaffError, f"badge lockouts {path} open"):
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(_SCHEMA)

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._db.close()

    def locked_until(self, badge: str) -> float | None:
        """When the badge's lockout ends, or None if it is not locked now."""
        with self._lock, translated(StaffError, "badge lockout read"):
            row = self._db.execute(
                "SELECT locked_until FROM badges WHERE badge = ?", (badge,)
            ).fetchone()
        if row is None or row[0] is None or row[0] <= self._clock():
            return None
        return float(row[0])

    def failed(self, badge: str) -> Failure:
        """Count a wrong PIN; the badge is locked when it is one too many."""
        now = self._clock()
        with self._lock, translated(StaffError, "badge lockout write"), transaction(self._db):
            row = self._db.execute(
                "SELECT failures, locked_until FROM badges WHERE badge = ?", (badge,)
            ).fetchone()
            failures = 1
            if row is not None and (row[1] is None or row[1] > now):
                failures = row[0] + 1
            until = now + self.lockout_seconds if failures >= self.max_failures else None
            self._db.execute(
                "INSERT OR REPLACE INTO badges (badge, failures, locked_until) VALUES (?, ?, ?)",
                (badge, failures, until),
            )
        return Failure(failures, until)

    def clear(self, badge: str) -> bool:
        """Forget the badge's failures and lockout (its PIN was right, or a manager
        unlocked it); whether it was locked."""
        locked = self.locked_until(badge) is not None
        with self._lock, translated(StaffError, "badge lockout write"), transaction(self._db):
            self._db.execute("DELETE FROM badges WHERE badge = ?", (badge,))
        return locked

    def locked(self) -> list[tuple[str, float]]:
        """The badges locked now and until when, the soonest freed first."""
        with self._lock, translated(StaffError, "badge lockout read"):
            rows = self._db.execute(
                "SELECT badge, locked_until FROM badges WHERE locked_until > ?"
                " ORDER BY locked_until",
                (self._clock(),),
            ).fetchall()
        return [(str(badge), float(until)) for badge, until in rows]
