"""A damaged outbox is moved aside and what can still be read is salvaged.

A few overwritten pages must not stop a kiosk: SQLite's `quick_check` finds them at
open; the file (with its write-ahead log) is renamed `<name>.damaged-<UTC time>` and
left beside the new one for a person to look at; the rows that can still be read
are taken out of it: through SQLite, reading the events table in small runs of
sequences and skipping the runs that fail, then by reading the file's pages
directly (edge.outbox_pages), which finds the rows a damaged interior page hides.

(The sqlite3 tool's `.recover` would do the second part, but Debian's build lacks
the `sqlite_dbpage` table it needs: "no such table: sqlite_dbpage".)
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.outbox_pages import SalvagedRow, scan_pages
from edge.outbox_sqlite import companions

log = logging.getLogger(__name__)

_RUN = 64  # sequences read at once by the fallback; a failing run is read one by one
_MAX_SPAN = 1_000_000  # sequences tried when the pages found none (a counter may be wrong)
_MAX_ONE_BY_ONE = 100_000  # single-sequence reads, in all, after runs that failed


@dataclass(frozen=True, slots=True)
class Salvage:
    """What a damaged outbox still held."""

    damaged_path: Path  # where the damaged file now is
    rows: list[SalvagedRow]  # in sequence order
    meta: dict[str, Any]  # its meta table, as far as it could be read
    from_pages: int  # rows only the page scan found (under a damaged interior page)

    @property
    def lost(self) -> int:
        """Sequences after the first salvaged waiting event that were not salvaged.

        Some of them may have been delivered and deleted before the damage: this is
        the most that can have been lost, not a count of what was.
        """
        waiting = [row.sequence for row in self.rows if not row.delivered]
        if not waiting:
            return 0
        last = self.meta.get("last_sequence")
        last = max(last if isinstance(last, int) else 0, self.rows[-1].sequence)
        held = {row.sequence for row in self.rows if row.sequence >= waiting[0]}
        return last - waiting[0] + 1 - len(held)


def integrity_problem(db: sqlite3.Connection) -> str | None:
    """SQLite's quick check of the whole file: None when it is intact, else what it said."""
    rows = db.execute("PRAGMA quick_check(5)").fetchall()
    found = [str(row[0]) for row in rows]
    return None if found == ["ok"] else "; ".join(found)


def move_aside(path: Path, now: float) -> Path:
    """Rename a damaged file and its companions `<name>.damaged-<UTC time>`; the new path."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    target = path.with_name(f"{path.name}.damaged-{stamp}")
    extra = 1
    while target.exists():  # damaged twice within a second
        extra += 1
        target = path.with_name(f"{path.name}.damaged-{stamp}-{extra}")
    path.rename(target)
    for companion, moved in zip(companions(path), companions(target), strict=True):
        if companion.exists():
            companion.rename(moved)
    return target


def salvage(damaged: Path) -> Salvage:
    """Read what can be read out of the damaged outbox at `damaged`."""
    pages = scan_pages(damaged)
    # The pages say where the rows are: reading through SQLite beyond them (up to a
    # counter the damage may have changed) would only be failing queries.
    seen = [row.sequence for row in pages.events]
    through_sqlite = _read_in_runs(damaged, (min(seen), max(seen)) if seen else None)
    found = {row.sequence: row for row in through_sqlite.rows}
    extra = [row for row in pages.events if row.sequence not in found]
    for row in extra:
        found[row.sequence] = row
    meta = {**pages.meta, **through_sqlite.meta}
    rows = [found[sequence] for sequence in sorted(found)]
    return Salvage(damaged, rows, meta, len(extra))


def _read_in_runs(damaged: Path, span: tuple[int, int] | None) -> Salvage:
    """Salvage by reading the events table in runs of sequences within `span` (else
    from 1 to the file's counter, at most _MAX_SPAN), one by one where a run fails, so
    a damaged page costs only the rows on it; at most _MAX_ONE_BY_ONE single reads, so
    a damaged table root (every read failing) cannot keep the kiosk from starting."""
    db = sqlite3.connect(f"{damaged.resolve().as_uri()}?mode=ro", uri=True)
    rows: list[SalvagedRow] = []
    try:
        meta = _readable_meta(db)
        low, high = span or (1, min(_last_sequence(db, meta), _MAX_SPAN))
        singles = 0
        for first in range(low, high + 1, _RUN):
            run = (first, min(first + _RUN - 1, high))
            try:
                rows += _event_rows(db, run)
            except sqlite3.Error:
                for sequence in range(run[0], run[1] + 1):
                    singles += 1
                    if singles > _MAX_ONE_BY_ONE:
                        break
                    try:
                        rows += _event_rows(db, (sequence, sequence))
                    except sqlite3.Error:
                        continue
    except sqlite3.Error as error:
        log.warning("reading %s: %s", damaged, error)
    finally:
        db.close()
    return Salvage(damaged, rows, meta, 0)


def _readable_meta(db: sqlite3.Connection) -> dict[str, Any]:
    try:
        return _meta(db)
    except sqlite3.Error:
        return {}


def _last_sequence(db: sqlite3.Connection, meta: dict[str, Any]) -> int:
    """The highest sequence the file may hold: its counter, or the table's last row."""
    known = meta.get("last_sequence")
    if isinstance(known, int) and known > 0:
        return known
    try:
        row = db.execute("SELECT MAX(sequence) FROM events").fetchone()
    except sqlite3.Error:
        return 0
    return int(row[0] or 0)


def _meta(db: sqlite3.Connection) -> dict[str, Any]:
    return {str(key): value for key, value in db.execute("SELECT key, value FROM meta")}


def _event_rows(
    db: sqlite3.Connection, run: tuple[int, int] | None = None
) -> Iterator[SalvagedRow]:
    """The readable event rows (within `run`), in order; rows .recover found mangled
    (a wrong type where a value must be) are skipped."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(events)")}
    checksum = "checksum" if "checksum" in columns else "NULL"
    delivered = "delivered_at IS NOT NULL" if "delivered_at" in columns else "0"
    where = "WHERE sequence BETWEEN ? AND ?" if run else ""
    query = (
        f"SELECT sequence, id, topic, payload, priority, created_at, {checksum}, {delivered} "  # noqa: S608
        f"FROM events {where} ORDER BY sequence"
    )
    found = db.execute(query, run or ()).fetchall()
    for sequence, event_id, topic, payload, priority, created_at, digest, done in found:
        if not (
            isinstance(sequence, int)
            and isinstance(event_id, str)
            and isinstance(topic, str)
            and isinstance(payload, bytes)
            and isinstance(priority, int)
            and isinstance(created_at, int | float)
        ):
            continue
        yield SalvagedRow(
            sequence,
            event_id,
            topic,
            payload,
            priority,
            float(created_at),
            digest if isinstance(digest, str) else None,
            bool(done),
        )
