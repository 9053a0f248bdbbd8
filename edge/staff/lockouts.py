"""Badges locked after wrong PINs, kept in the kiosk's data folder.

A lockout must survive a restart (pulling the plug must not give five more guesses), so
failures and lockouts are in SQLite, by badge pseudonym, with a wall-clock end: a
monotonic clock starts again at boot. A wall clock set back (a day, say) would make a
lockout last that much longer: a lockout never ends later than its own length from
now, and is written back so when the clock set back catches up.

A lockout that recurs lasts twice as long as the one before (15 min, 30, 60...): a PIN
of a few digits is not guessed by waiting out fixed lockouts. Only the right PIN or a
manager's unlock starts the badge afresh.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edge.sqlite_tx import transaction, translated
from edge.staff.directory import StaffError

log = logging.getLogger(__name__)
# SQLite's primary result codes for a disk that takes no more: FULL, and IOERR (a full
# disk leaves no room for the write-ahead log's index). Not CANTOPEN: a file this user
# may not open is a setup to fix, not a reason to forget lockouts at every restart.
_NO_ROOM = frozenset({sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR})

LOCKOUTS_FILE = "staff.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS badges (
    badge TEXT PRIMARY KEY,          -- the badge's pseudonym, never its id
    failures INTEGER NOT NULL,       -- wrong PINs in a row
    locked_until REAL,               -- Unix time, or NULL
    lockouts INTEGER NOT NULL DEFAULT 0  -- times locked since the right PIN or an unlock
)
"""
# Files written before lockouts grew lack the count: each of their badges starts at 0.
_ADD_LOCKOUTS = "ALTER TABLE badges ADD COLUMN lockouts INTEGER NOT NULL DEFAULT 0"
# Doubling stops here (about 1.7 years for 15 minutes): a manager unlocks long before.
_MAX_DOUBLINGS = 16


@dataclass(frozen=True, slots=True)
class Failure:
    """What one wrong PIN did to its badge."""

    failures: int  # wrong PINs in a row, this one included
    locked_until: float | None  # set when this one locked the badge
    lockouts: int = 0  # times the badge was locked, this one included


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
            try:
                self._db = self._open(path)
            except sqlite3.OperationalError as error:
                if error.sqlite_errorcode & 0xFF not in _NO_ROOM:
                    raise
                # A full disk must not keep the kiosk from starting (it still sends what
                # it queued): lockouts then hold for this run only, and it is said.
                log.warning(
                    "badge lockouts kept in memory for this run: %s cannot be written (%s)",
                    path,
                    error,
                )
                self._db = self._open(Path(":memory:"))

    @staticmethod
    def _open(path: Path) -> sqlite3.Connection:
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(_SCHEMA)
            columns = {row[1] for row in db.execute("PRAGMA table_info(badges)")}
            if "lockouts" not in columns:
                db.execute(_ADD_LOCKOUTS)
        except BaseException:
            db.close()
            raise
        return db

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._db.close()

    def locked_until(self, badge: str) -> float | None:
        """When the badge's lockout ends, or None if it is not locked now."""
        now = self._clock()
        with self._lock, translated(StaffError, "badge lockout read"), transaction(self._db):
            self._pull_back(now)
            row = self._db.execute(
                "SELECT locked_until FROM badges WHERE badge = ?", (badge,)
            ).fetchone()
        if row is None or row[0] is None or row[0] <= now:
            return None
        return float(row[0])

    def _pull_back(self, now: float) -> None:
        """Lockouts that end further from `now` than they last (the clock was set back)
        end their length from now. Inside the caller's transaction."""
        rows = self._db.execute(
            "SELECT badge, locked_until, lockouts FROM badges WHERE locked_until > ?", (now,)
        ).fetchall()
        for badge, until, lockouts in rows:
            longest = now + self.lockout_for(lockouts)
            if until > longest:
                self._db.execute(
                    "UPDATE badges SET locked_until = ? WHERE badge = ?", (longest, badge)
                )

    def lockout_for(self, lockouts: int) -> float:
        """How long the badge's `lockouts`-th lockout in a row lasts: twice the last."""
        return float(self.lockout_seconds * 2 ** min(max(lockouts, 1) - 1, _MAX_DOUBLINGS))

    def failed(self, badge: str) -> Failure:
        """Count a wrong PIN; the badge is locked when it is one too many, for longer
        each time it is locked again."""
        now = self._clock()
        with self._lock, translated(StaffError, "badge lockout write"), transaction(self._db):
            self._pull_back(now)
            row = self._db.execute(
                "SELECT failures, locked_until, lockouts FROM badges WHERE badge = ?", (badge,)
            ).fetchone()
            failures, lockouts = 1, 0
            if row is not None:
                lockouts = row[2]
                if row[1] is None or row[1] > now:  # a lockout that ended counts afresh
                    failures = row[0] + 1
            until = None
            if failures >= self.max_failures:
                lockouts += 1
                until = now + self.lockout_for(lockouts)
            self._db.execute(
                "INSERT OR REPLACE INTO badges (badge, failures, locked_until, lockouts)"
                " VALUES (?, ?, ?, ?)",
                (badge, failures, until, lockouts),
            )
        return Failure(failures, until, lockouts)

    def clear(self, badge: str) -> bool:
        """Forget the badge's failures and lockout (its PIN was right, or a manager
        unlocked it); whether it was locked."""
        locked = self.locked_until(badge) is not None
        with self._lock, translated(StaffError, "badge lockout write"), transaction(self._db):
            self._db.execute("DELETE FROM badges WHERE badge = ?", (badge,))
        return locked

    def locked(self) -> list[tuple[str, float]]:
        """The badges locked now and until when, the soonest freed first."""
        now = self._clock()
        with self._lock, translated(StaffError, "badge lockout read"), transaction(self._db):
            self._pull_back(now)
            rows = self._db.execute(
                "SELECT badge, locked_until FROM badges WHERE locked_until > ?"
                " ORDER BY locked_until",
                (now,),
            ).fetchall()
        return [(str(badge), float(until)) for badge, until in rows]
