"""The durable outbox: every event is committed to SQLite before anyone hears of it.

paho-mqtt keeps unacknowledged messages in memory only, so a `kill -9` would lose
them. Here an event is accepted only once its row is committed (WAL); the uplink
deletes the row when the broker's PUBACK says success. What is left after a crash
is resent on restart: at-least-once, and the platform de-duplicates on the id.

With `keep_delivered` seconds, an acknowledged event is not deleted but marked
delivered and kept that long, so the hub can ask for it again if the broker lost it
on the way (edge.replay). It is never published again on its own, and when room is
needed, kept events are the first to go, before any pending one is shed.

When full, the outbox sheds the lowest-value events first (presence samples) and
commits, in the same transaction, an `io.borne.outbox.shed` event that names the
sequences it dropped: the platform tells a shed gap from a loss, and a shed event
is gone for good (it is never published afterwards).

The disk is what is bounded, not only the events' bytes: the write-ahead log is kept
under `wal_max_bytes`, and while the filesystem's free space is under
`disk_margin_bytes` the outbox sheds as if its byte bound were reached. Damage is
contained (edge.outbox_salvage), every row carries a checksum (edge.outbox_integrity)
and every event its stream epoch (edge.outbox_epoch).

All SQLite work happens on one dedicated thread, so the event loop never blocks on
a disk flush and the connection is only ever used by the thread that opened it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from edge.errors import OutboxDamagedError, OutboxError, OutboxFullError
from edge.events import EventDraft, EventSource, Priority
from edge.ids import UUIDv7Generator
from edge.log_once import RepeatedCondition
from edge.outbox_epoch import (
    DAMAGED,
    WAL_LOST,
    EpochStart,
    OpenLock,
    epoch_report,
    new_stream_epoch,
    reenveloped,
)
from edge.outbox_integrity import (
    CHECKSUM_MISMATCH,
    QUARANTINE_REPORT_TYPE,
    QUARANTINE_SCHEMA,
    UNREADABLE,
    event_checksum,
    intact,
    quarantine_report,
)
from edge.outbox_integrity import (
    runs as shed_ranges,
)
from edge.outbox_pages import SalvagedRow
from edge.outbox_salvage import Salvage, integrity_problem, move_aside, salvage
from edge.outbox_sqlite import (
    FreeSpace,
    companions,
    error_kind,
    free_disk_bytes,
    is_damage,
    is_disk_full,
    is_passing,
    storage_errors,
    wal_path,
    write_transaction,
)
from edge.outbox_status import (
    LinkRecord,
    OutboxStatus,
    describe_status,
    read_status,
    status_of,
)

__all__ = [  # the status's types and readers live in edge.outbox_status
    "LinkRecord",
    "OutboxStatus",
    "OutboxStore",
    "StoredEvent",
    "describe_status",
    "read_status",
    "shed_ranges",
    "shed_report",
]
log = logging.getLogger(__name__)
T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    sequence   INTEGER PRIMARY KEY,
    id         TEXT    NOT NULL,
    topic      TEXT    NOT NULL,
    payload    BLOB    NOT NULL,
    priority   INTEGER NOT NULL,
    created_at REAL    NOT NULL,
    delivered_at REAL  -- NULL while pending; set when acknowledged and kept
);
CREATE INDEX IF NOT EXISTS events_by_value ON events (priority, sequence);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value);
"""  # + QUARANTINE_SCHEMA; the checksum column is added after (older outboxes gain it)
# After the column exists (an outbox made before keep_delivered gains it on open).
_KEPT_INDEX = (
    "CREATE INDEX IF NOT EXISTS events_kept ON events (delivered_at) WHERE delivered_at IS NOT NULL"
)
_COLUMNS = "sequence, id, topic, payload, priority, created_at"
_CHECKED = _COLUMNS + ", checksum"  # read for the uplink: verified first
SHED_REPORT_TYPE = "io.borne.outbox.shed"
_SAMPLE_ID = "00000000-0000-7000-8000-000000000000"  # as long as every UUIDv7 id
_REPORTS = (SHED_REPORT_TYPE, QUARANTINE_REPORT_TYPE)  # they name sequences of their epoch
MIB = 1024 * 1024
_MARK_TRIES = 5  # checkpoints tried at open to carry the open mark into the file
_PAGES_PER_AUTOCHECKPOINT = 4  # an automatic checkpoint at a quarter of the log's cap


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An accepted event as it waits for delivery."""

    sequence: int
    event_id: str
    topic: str
    payload: bytes
    priority: Priority
    created_at: float


@dataclass(slots=True)
class Commit:
    """What one group commit did: per caller, and for everyone listening."""

    results: list[list[StoredEvent] | OutboxError]
    committed: list[StoredEvent] = field(default_factory=list)  # kept, in sequence order
    shed: list[int] = field(default_factory=list)  # sequences dropped to make room


@dataclass(slots=True)
class _Shedding:
    """What one append shed, and what its report must name."""

    started: bool = False
    shed: list[int] = field(default_factory=list)  # dropped to make room
    superseded: list[int] = field(default_factory=list)  # an earlier report, replaced
    earlier: list[int] = field(default_factory=list)  # what that earlier report named

    @property
    def named(self) -> list[int]:
        """Every sequence the report names: the earlier report's, itself, the new ones."""
        return self.earlier + self.superseded + self.shed


def shed_report(sequences: Sequence[int]) -> EventDraft:
    """The event that tells the platform which sequences were shed on purpose."""
    runs = shed_ranges(sequences)
    return EventDraft(
        SHED_REPORT_TYPE,
        {
            "count": len(set(sequences)),
            "first_sequence": runs[0][0],
            "last_sequence": runs[-1][1],
            "ranges": runs,
        },
    )


class OutboxStore:
    """The SQLite side of the outbox; used from a single thread."""

    def __init__(
        self,
        path: Path,
        source: EventSource,
        *,
        max_bytes: int = 64 * MIB,
        synchronous: str = "full",
        keep_delivered: float = 0.0,
        wal_max_bytes: int = 4 * MIB,
        disk_margin_bytes: int = 16 * MIB,
        clock: Callable[[], float] = time.time,
        new_id: Callable[[], object] | None = None,
        new_epoch: Callable[[], str] = new_stream_epoch,
        free_space: FreeSpace = free_disk_bytes,
    ) -> None:
        self.path = path
        self.source = source
        self.max_bytes = max_bytes
        self.keep_delivered = keep_delivered  # seconds; 0: delete on acknowledgement
        self.wal_max_bytes = wal_max_bytes
        self.disk_margin_bytes = disk_margin_bytes
        self._clock = clock
        self._new_epoch = new_epoch
        self._free_space = free_space
        self._synchronous = "FULL" if synchronous == "full" else "NORMAL"
        self._shedding = RepeatedCondition(log, "outbox full: shedding presence samples", "events")
        self._pressure = RepeatedCondition(log, "disk under its free-space margin", "commits")
        with storage_errors("outbox open"):
            path.parent.mkdir(parents=True, exist_ok=True)
        generator = new_id if new_id is not None else UUIDv7Generator()
        self._ids = generator if isinstance(generator, UUIDv7Generator) else None
        self._new_id = generator
        self._epoch = ""
        self._lock = OpenLock(path)
        try:
            self._db = self._open_checked()
            self._epoch = self._meta("stream_epoch", "")
            self._resume_ids()
            self._queued_bytes: int = self._count_bytes()
        except BaseException:
            self._lock.release()
            raise
        self._lock.share()

    # --- opening -----------------------------------------------------------------------

    def _open_checked(self) -> sqlite3.Connection:
        """Open the file, repairing what a crash or damage left, and start an epoch when
        the stream cannot go on."""
        if self._lock.first:
            self._finish_a_salvage()
        wal_was_there = wal_path(self.path).exists()
        existed = self.path.exists() and self.path.stat().st_size > 0
        db: sqlite3.Connection | None = None
        try:
            db = self._connect()
            problem = integrity_problem(db) if existed else None
            if problem is not None:
                raise OutboxDamagedError(f"outbox {self.path} failed its check: {problem}")
            self._prepare(db)
            db.execute("SELECT COALESCE(SUM(LENGTH(payload)), 0) FROM events").fetchone()
        except (sqlite3.Error, OutboxDamagedError) as error:
            if db is not None:
                db.close()
            if not (isinstance(error, OutboxDamagedError) or is_damage(error)):
                raise error_kind(error)(f"outbox open failed: {error}") from error
            if not self._lock.first:  # someone runs on it: the first to open will repair it
                raise OutboxDamagedError(f"outbox {self.path} is damaged: {error}") from error
            return self._replace_damaged(str(error))
        self._db = db
        if self._lock.first:
            try:
                with storage_errors("outbox open"):
                    self._start_if_needed(wal_was_there)
            except BaseException:
                db.close()
                raise
        return db

    def _finish_a_salvage(self) -> None:
        """A salvage cut short (a crash, a full disk): the file it built is put in place
        if the damaged one was already moved aside, else dropped and done again."""
        building = _salvage_path(self.path)
        if not building.exists():
            return
        with storage_errors("outbox open"):
            if self.path.exists():
                for leftover in (building, *companions(building)):
                    leftover.unlink(missing_ok=True)
                return
            building.rename(self.path)
            for companion, target in zip(companions(building), companions(self.path), strict=True):
                if companion.exists():
                    companion.rename(target)

    def _connect(self, path: Path | None = None) -> sqlite3.Connection:
        """Connect in WAL mode with the log capped; alone if the disk has no room for
        the shared index, so the queued events can still be read and sent."""
        path = path or self.path
        with storage_errors("outbox open"):
            db = sqlite3.connect(path, isolation_level=None)
        try:
            self._configure(db)
        except sqlite3.Error as error:
            db.close()
            if not is_disk_full(error):
                raise
            log.warning(
                "outbox %s opened for this process only: no room on the disk for its shared "
                "index (%s)",
                path,
                error,
            )
            db = sqlite3.connect(path, isolation_level=None)
            db.execute("PRAGMA locking_mode=EXCLUSIVE")  # the index in memory, not in -shm
            self._configure(db)
        return db

    def _configure(self, db: sqlite3.Connection) -> None:
        db.execute("PRAGMA busy_timeout=2000")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={self._synchronous}")
        db.execute(f"PRAGMA journal_size_limit={int(self.wal_max_bytes)}")
        page = int(db.execute("PRAGMA page_size").fetchone()[0])
        pages = max(16, self.wal_max_bytes // page // _PAGES_PER_AUTOCHECKPOINT)
        db.execute(f"PRAGMA wal_autocheckpoint={pages}")

    def _prepare(self, db: sqlite3.Connection) -> None:
        """Create or bring the schema up to date; on a full disk, go on with the one there."""
        try:
            db.executescript(_SCHEMA + QUARANTINE_SCHEMA)
            columns = {row[1] for row in db.execute("PRAGMA table_info(events)")}
            if "delivered_at" not in columns:
                db.execute("ALTER TABLE events ADD COLUMN delivered_at REAL")
            if "checksum" not in columns:
                self._add_checksums(db)
            db.execute(_KEPT_INDEX)
        except sqlite3.Error as error:
            if not is_disk_full(error) or not _schema_there(db):
                raise

    @staticmethod
    def _add_checksums(db: sqlite3.Connection) -> None:
        """An outbox made before checksums gains them, computed from the rows as they are."""
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("ALTER TABLE events ADD COLUMN checksum TEXT")
            rows = db.execute("SELECT sequence, topic, payload FROM events").fetchall()
            db.executemany(
                "UPDATE events SET checksum = ? WHERE sequence = ?",
                [(event_checksum(topic, bytes(payload)), seq) for seq, topic, payload in rows],
            )
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def _start_if_needed(self, wal_was_there: bool) -> None:
        """The first opener: start a new epoch if the stream cannot go on, and mark the
        file open (checkpointed into the file itself, so a lost log is seen)."""
        epoch = self._meta("stream_epoch", None)
        start: EpochStart | None = None
        if epoch is None:
            # A new file, or one from before epochs: its stream goes on in a first epoch
            # (the events it holds were sent without one, and keep their sequences).
            with write_transaction(self._db):
                self._set_meta(stream_epoch=self._new_epoch())
        elif self._meta("open_unclean", 0) and not wal_was_there:
            start = EpochStart(WAL_LOST, epoch)
            log.error(
                "outbox %s: the write-ahead log of a run that did not stop cleanly is gone; "
                "the events it held are lost; a new stream epoch starts",
                self.path,
            )
        if start is not None:
            waiting = self._db.execute(
                f"SELECT {_CHECKED}, delivered_at IS NOT NULL FROM events "  # noqa: S608
                "ORDER BY sequence"
            ).fetchall()
            self._begin_epoch(start, [_salvaged(row) for row in waiting])
        try:
            with write_transaction(self._db):
                self._set_meta(open_unclean=1)
            self._checkpoint_the_mark()
        except sqlite3.Error as error:
            if not is_passing(error):
                raise
            # The kiosk starts all the same (it can still send); only a log lost later
            # in this run would go unseen.
            log.warning("outbox %s: cannot mark it open (%s)", self.path, error)

    def _checkpoint_the_mark(self) -> None:
        """Carry the open mark into the file itself: a reader (borne doctor) may hold
        the log for a moment, so try a few times."""
        for _ in range(_MARK_TRIES):
            (busy, _, _) = self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if not busy:
                return
            time.sleep(0.1)
        log.warning("outbox %s: its open mark stays in the log (readers held it)", self.path)

    def _replace_damaged(self, problem: str) -> sqlite3.Connection:
        """Salvage the damaged file's readable rows into a fresh file in a new epoch,
        built beside it and only then put in its place, the damaged file moved aside
        (a crash or a full disk midway leaves the damaged file where it was, to be
        salvaged again at the next start); say where the damaged file is."""
        now = self._clock()
        found = salvage(self.path)
        building = _salvage_path(self.path)
        self._db = self._connect(building)
        try:
            self._prepare(self._db)
            previous = found.meta.get("stream_epoch")
            start = EpochStart(DAMAGED, previous if isinstance(previous, str) else None)
            with write_transaction(self._db):
                self._carry_counters(found)
            carried = self._begin_epoch(start, found.rows)
            lost = found.lost
            with write_transaction(self._db):
                self._set_meta(
                    damage_at=now, damage_salvaged=carried, damage_lost=lost, open_unclean=1
                )
        finally:
            self._db.close()  # the last connection: its log is checkpointed into the file
        damaged = move_aside(self.path, now)
        building.rename(self.path)
        for companion, target in zip(companions(building), companions(self.path), strict=True):
            if companion.exists():  # a log the close could not checkpoint (a full disk)
                companion.rename(target)
        self._db = self._connect()
        try:
            with write_transaction(self._db):
                self._set_meta(damage_path=str(damaged))
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as error:  # the events are safe; only the path is not kept
            log.warning("outbox %s: cannot record where its damaged copy is (%s)", self.path, error)
        log.error(
            "outbox %s was damaged (%s): moved aside to %s; %d waiting events salvaged "
            "(%d found by reading its pages) into a new stream epoch, at most %d lost",
            self.path,
            problem,
            damaged,
            carried,
            found.from_pages,
            lost,
        )
        return self._db

    def _carry_counters(self, found: Salvage) -> None:
        """Counters an operator reads survive the damage when they could be read."""
        kept = {
            key: value
            for key, value in found.meta.items()
            if key in ("boot_count", "delivered_total", "shed_total", "refused_total")
            or key in ("quarantined_total", "last_id_ms", "last_delivered_at")
        }
        if kept:
            self._set_meta(**kept)

    def _begin_epoch(self, start: EpochStart | None, rows: Sequence[SalvagedRow]) -> int:
        """Start a new epoch: its first event says why (unless it is the file's first),
        then the waiting `rows`, renumbered in order and keeping their ids; delivered
        rows and the reports that named the old epoch's sequences are dropped. Rows that
        no longer match their checksum are quarantined and reported. Events carried."""
        epoch = self._new_epoch()
        now = self._clock()
        carried = 0
        self._resume_ids()
        with write_transaction(self._db):
            self._db.execute("DELETE FROM events")
            self._set_meta(stream_epoch=epoch)
            self._db.execute("DELETE FROM meta WHERE key = 'shed_report'")
            self._epoch = epoch
            sequence = 0
            if start is not None:
                report = epoch_report(start.previous, start.reason)
                self._insert([report], sequence, now)
                sequence += 1
            bad: dict[str, list[int]] = {}
            for row in rows:
                if row.delivered or _names_old_sequences(row):
                    continue
                sequence += 1
                payload, reason = _renumbered(row, sequence, epoch)
                if payload is None:
                    self._keep_aside(dataclasses.replace(row, sequence=sequence), reason, now)
                    bad.setdefault(reason, []).append(sequence)
                    continue
                self._db.execute(
                    f"INSERT INTO events ({_CHECKED}) VALUES (?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
                    (
                        sequence,
                        row.event_id,
                        row.topic,
                        payload,
                        _priority(row.priority),
                        row.created_at,
                        event_checksum(row.topic, payload),
                    ),
                )
                carried += 1
            for reason, sequences in bad.items():
                self._insert([quarantine_report(sequences, reason)], sequence, now)
                sequence += 1
            self._set_meta(last_sequence=sequence, **self._id_meta())
        return carried

    def _resume_ids(self) -> None:
        """Ids never go back, even after a restart with the clock set back."""
        if self._ids is not None:
            self._ids.resume_after(int(self._meta("last_id_ms", -1)))

    def close(self) -> None:
        """Close the database; committed events stay on disk. The last process to close
        marks the file closed cleanly (a lost log is no loss then)."""
        last = self._lock.last()
        try:
            if last:
                with write_transaction(self._db):
                    self._set_meta(open_unclean=0)
        except sqlite3.Error as error:
            log.warning("outbox %s: cannot mark it closed (%s)", self.path, error)
        finally:
            self._db.close()
            self._lock.release(last=last)

    def _meta(self, key: str, default: Any = 0) -> Any:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else row[0]

    def _set_meta(self, **values: Any) -> None:
        self._db.executemany(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            values.items(),
        )

    def _keep_aside(self, row: SalvagedRow, reason: str, now: float) -> None:
        """Move a row into quarantine (inside the caller's transaction)."""
        self._db.execute(
            "INSERT INTO quarantine (epoch, sequence, id, topic, payload, checksum, reason, "
            "quarantined_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                self._epoch,
                row.sequence,
                row.event_id,
                row.topic,
                row.payload,
                row.checksum,
                reason,
                now,
            ),
        )
        self._set_meta(quarantined_total=self._meta("quarantined_total") + 1)

    def next_boot(self) -> int:
        """Count one more start of the runtime and return the new count."""
        with storage_errors("outbox count boot"), write_transaction(self._db):
            boot: int = self._meta("boot_count") + 1
            self._set_meta(boot_count=boot)
        return boot

    def append(self, drafts: Sequence[EventDraft]) -> list[StoredEvent]:
        """Give each draft its id and sequence and commit them all in one transaction."""
        (result,) = self.append_groups([drafts]).results
        if isinstance(result, OutboxError):
            raise result
        return result

    def append_groups(self, groups: Sequence[Sequence[EventDraft]]) -> Commit:
        """Append several callers' drafts in one commit (group commit).

        Each group is all-or-nothing: a group refused for lack of room gets its
        OutboxFullError, takes no sequence numbers and is counted as refused; the
        others are committed. A group that needed room sheds low-value events and
        is followed by the report of what it shed. While the disk is under its
        free-space margin, groups shed as if the byte bound were reached; events that
        are never shed, once nothing else is left, grow into the margin. The whole commit
        raises OutboxBusyError or OutboxDiskFullError (transient: the callers try again,
        in the same order) when SQLite is locked by another process or the disk is full.
        """
        now = self._clock()
        commit = Commit(results=[])
        try:
            with storage_errors("outbox append"), write_transaction(self._db):
                limit = self._room_limit()
                sequence: int = self._meta("last_sequence")
                refused = 0
                shed_count = 0
                for drafts in groups:
                    self._db.execute("SAVEPOINT grp")
                    try:
                        stored, shedding, added = self._insert_fitting(drafts, sequence, now, limit)
                    except OutboxFullError as error:
                        self._db.execute("ROLLBACK TO grp")
                        commit.results.append(error)
                        refused += len(drafts)
                    else:
                        sequence += len(stored)
                        self._queued_bytes += added
                        gone = set(shedding.shed) | set(shedding.superseded)
                        commit.results.append(stored[: len(drafts)])
                        commit.committed += [e for e in stored if e.sequence not in gone]
                        commit.shed += sorted(gone)
                        shed_count += len(shedding.shed)
                    self._db.execute("RELEASE grp")
                self._set_meta(last_sequence=sequence, **self._id_meta())
                if shed_count:
                    self._set_meta(shed_total=self._meta("shed_total") + shed_count)
                if refused:
                    self._set_meta(refused_total=self._meta("refused_total") + refused)
        except BaseException:
            self._queued_bytes = self._count_bytes()  # what the rollback left
            raise
        if shed_count:
            bound = f"outbox bound {limit} bytes"
            if limit < self.max_bytes:
                bound += f" (disk under its {self.disk_margin_bytes}-byte free margin)"
            self._shedding.occurred(shed_count, bound)
        elif any(not isinstance(result, OutboxError) for result in commit.results):
            self._shedding.cleared()
        self._keep_wal_small()
        return commit

    def _room_limit(self) -> int:
        """The bytes events may take in this commit: the byte bound, or while the disk is
        under its margin, what they take now plus the free pages inside the file (the
        file must not grow)."""
        try:
            free = self._free_space(self.path.parent)
        except OSError as error:
            log.warning("outbox: cannot read the disk's free space: %s", error)
            return self.max_bytes
        if free >= self.disk_margin_bytes:
            self._pressure.cleared()
            return self.max_bytes
        self._pressure.occurred(1, f"{free} bytes free, margin {self.disk_margin_bytes}")
        page = int(self._db.execute("PRAGMA page_size").fetchone()[0])
        free_pages = int(self._db.execute("PRAGMA freelist_count").fetchone()[0])
        # Half of each free page: rows, their index entries and page headers share them.
        return min(self.max_bytes, self._queued_bytes + free_pages * page // 2)

    def _keep_wal_small(self) -> None:
        """Checkpoint and truncate the write-ahead log once it is over its cap: the log,
        not the events, filled a 2 MiB disk."""
        try:
            size = wal_path(self.path).stat().st_size
        except OSError:
            return  # no log (opened alone on a full disk keeps it in the file's folder too)
        if size <= self.wal_max_bytes:
            return
        try:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        except sqlite3.Error as error:  # readers hold it, or the disk is full: next time
            log.debug("outbox checkpoint deferred: %s", error)

    def _id_meta(self) -> dict[str, int]:
        """The last id's timestamp, kept so ids never go back across a restart."""
        return {"last_id_ms": self._ids.last_ms} if self._ids is not None else {}

    def _insert_fitting(
        self, drafts: Sequence[EventDraft], last_sequence: int, now: float, limit: int
    ) -> tuple[list[StoredEvent], _Shedding, int]:
        """Insert the drafts, shedding to make room; (stored, what was shed, bytes added).

        The stored events end with the shed report when anything was shed. An earlier
        report still waiting is replaced by it (and named in it): while the broker is
        away, reports do not pile up in the outbox. Raises OutboxFullError when only
        events that must never be shed are left over the byte bound.
        """
        stored, added = self._insert(drafts, last_sequence, now)
        shedding = _Shedding()
        freed = 0
        report_bytes = 0  # the report of what was shed needs room too
        while True:
            over = self._queued_bytes + added + report_bytes - freed - limit
            if over > 0:
                dropped = self._drop_kept(over)
                if dropped:  # delivered already: dropping them needs no report
                    freed += dropped
                    continue
                if not shedding.started:
                    shedding.started = True
                    freed += self._take_previous_report(shedding)
                    continue
                victims = self._victims(over)
                if not victims:
                    held = self._queued_bytes + added - freed
                    if limit < self.max_bytes:
                        # Nothing left to shed under the margin: what is never shed (a
                        # tap, a scan, a call) grows into it, up to the byte bound, until
                        # the disk itself is full (SQLite then says so: a retry).
                        limit = self.max_bytes
                        continue
                    raise OutboxFullError(
                        f"outbox holds {held} bytes of events "
                        f"that are never shed (limit {self.max_bytes})"
                    )
                for victim, size in victims:
                    self._db.execute("DELETE FROM events WHERE sequence = ?", (victim,))
                    shedding.shed.append(victim)
                    freed += size
                continue
            needed = self._report_size(shedding.named, last_sequence + len(stored) + 1, now)
            if needed == report_bytes:
                break
            report_bytes = needed  # more runs to name: check the room again
        if shedding.named:
            report, report_bytes = self._insert(
                [shed_report(shedding.named)], last_sequence + len(stored), now
            )
            stored += report
            added += report_bytes
            self._set_meta(shed_report=report[0].sequence)
        return stored, shedding, added - freed

    def _drop_kept(self, over: int) -> int:
        """Delete the oldest delivered events until `over` bytes are freed (or none is
        left); bytes freed."""
        freed = 0
        cursor = self._db.execute(
            "SELECT sequence, LENGTH(payload) FROM events WHERE delivered_at IS NOT NULL "
            "ORDER BY delivered_at, sequence"
        )
        gone = []
        for sequence, size in cursor:
            gone.append((sequence,))
            freed += size
            if freed >= over:
                break
        cursor.close()
        self._db.executemany("DELETE FROM events WHERE sequence = ?", gone)
        return freed

    def _take_previous_report(self, shedding: _Shedding) -> int:
        """Delete the undelivered shed report, if any, keeping what it named; bytes freed."""
        row = self._db.execute(
            "SELECT sequence, payload FROM events WHERE sequence = ?",
            (self._meta("shed_report", None),),
        ).fetchone()
        if row is None:
            return 0
        sequence, payload = row
        self._db.execute("DELETE FROM events WHERE sequence = ?", (sequence,))
        ranges = json.loads(payload)["data"]["ranges"]
        shedding.earlier = [s for first, last in ranges for s in range(first, last + 1)]
        shedding.superseded.append(sequence)
        return len(payload)

    def _report_size(self, shed: Sequence[int], sequence: int, now: float) -> int:
        """Bytes the shed report will take (ids all have the same length)."""
        if not shed:
            return 0
        report = shed_report(shed)
        return len(
            self.source.envelope(
                report, event_id=_SAMPLE_ID, sequence=sequence, time=now, epoch=self._epoch
            )
        )

    def _victims(self, over: int) -> list[tuple[int, int]]:
        """The lowest-value events whose removal frees at least `over` bytes (or all)."""
        victims: list[tuple[int, int]] = []
        cursor = self._db.execute(
            "SELECT sequence, LENGTH(payload) FROM events "
            "WHERE priority < ? AND delivered_at IS NULL ORDER BY priority, sequence",
            (int(Priority.CRITICAL),),
        )
        for sequence, size in cursor:
            victims.append((sequence, size))
            over -= size
            if over <= 0:
                break
        cursor.close()
        return victims

    def _insert(
        self, drafts: Sequence[EventDraft], last_sequence: int, now: float
    ) -> tuple[list[StoredEvent], int]:
        stored = []
        added = 0
        for sequence, draft in enumerate(drafts, start=last_sequence + 1):
            event_id = str(self._new_id())
            payload = self.source.envelope(
                draft, event_id=event_id, sequence=sequence, time=now, epoch=self._epoch
            )
            topic = self.source.topic(draft)
            self._db.execute(
                f"INSERT INTO events ({_CHECKED}) VALUES (?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
                (
                    sequence,
                    event_id,
                    topic,
                    payload,
                    int(draft.priority),
                    now,
                    event_checksum(topic, payload),
                ),
            )
            added += len(payload)
            stored.append(StoredEvent(sequence, event_id, topic, payload, draft.priority, now))
        return stored, added

    def _count_bytes(self) -> int:
        row = self._db.execute("SELECT COALESCE(SUM(LENGTH(payload)), 0) FROM events").fetchone()
        return int(row[0])

    def pending(self, after_sequence: int, limit: int) -> list[StoredEvent]:
        """Events waiting for delivery with a sequence above `after_sequence`, in order.

        Rows that no longer match their checksum are quarantined, never handed out.
        """
        with storage_errors("outbox read"):
            rows = self._db.execute(
                f"SELECT {_CHECKED}, 0 FROM events "  # noqa: S608 - constant fragments only
                "WHERE sequence > ? AND delivered_at IS NULL ORDER BY sequence LIMIT ?",
                (after_sequence, limit),
            ).fetchall()
        good, moved = self._verified(rows)
        if moved:  # the quarantined ones leave room for the next
            return self.pending(after_sequence, limit)
        return good

    def get(self, sequences: Iterable[int]) -> list[StoredEvent]:
        """The events among `sequences` that are still waiting, in order."""
        return [event for event, delivered in self._read(sequences) if not delivered]

    def kept(self, sequences: Iterable[int]) -> tuple[list[StoredEvent], list[int]]:
        """Among `sequences`: the delivered events still kept, exactly as stored, and
        the sequences still waiting for their first delivery; both in order."""
        kept, waiting = [], []
        for event, delivered in self._read(sequences):
            if delivered:
                kept.append(event)
            else:
                waiting.append(event.sequence)
        return kept, waiting

    def _read(self, sequences: Iterable[int]) -> list[tuple[StoredEvent, bool]]:
        """The intact events held among `sequences`, in order, each with whether it was
        delivered."""
        rows = []
        with storage_errors("outbox read"):
            for sequence in sorted(set(sequences)):
                row = self._db.execute(
                    f"SELECT {_CHECKED}, delivered_at IS NOT NULL FROM events "  # noqa: S608
                    "WHERE sequence = ?",
                    (sequence,),
                ).fetchone()
                if row is not None:
                    rows.append(row)
        delivered = {row[0]: bool(row[-1]) for row in rows}
        good, _ = self._verified(rows)
        return [(event, delivered[event.sequence]) for event in good]

    def _verified(self, rows: Sequence[tuple[Any, ...]]) -> tuple[list[StoredEvent], bool]:
        """The rows (columns _CHECKED + delivered) that still match their checksum, and
        whether others were quarantined (and reported)."""
        good, bad = [], []
        for row in rows:
            if intact(row[2], bytes(row[3]), row[6]):
                good.append(_stored(row[:6]))
            else:
                bad.append(_salvaged(row))
        return good, bool(bad) and self._quarantine(bad)

    def _quarantine(self, rows: Sequence[SalvagedRow]) -> bool:
        """Move rows that no longer match their checksum aside, with the report naming
        them, in one transaction. If that cannot be written (a full disk), they are only
        left out, and tried again at the next read."""
        now = self._clock()
        sequences = [row.sequence for row in rows]
        try:
            with write_transaction(self._db):
                for row in rows:
                    self._keep_aside(row, CHECKSUM_MISMATCH, now)
                    self._db.execute("DELETE FROM events WHERE sequence = ?", (row.sequence,))
                last: int = self._meta("last_sequence")
                self._insert([quarantine_report(sequences, CHECKSUM_MISMATCH)], last, now)
                self._set_meta(last_sequence=last + 1, **self._id_meta())
        except sqlite3.Error as error:
            log.error(
                "outbox: %d events fail their checksum (sequences %s) and cannot be "
                "quarantined yet: %s",
                len(rows),
                quarantine_report(sequences, CHECKSUM_MISMATCH).data["ranges"],
                error,
            )
            return False
        self._queued_bytes = self._count_bytes()
        log.error(
            "outbox: %d events no longer match their checksum (sequences %s): quarantined, "
            "never sent; reported to the platform",
            len(rows),
            quarantine_report(sequences, CHECKSUM_MISMATCH).data["ranges"],
        )
        return True

    def delete_delivered(self, sequences: Sequence[int]) -> None:
        """Forget events the broker acknowledged with a success reason code.

        With `keep_delivered`, they are only marked delivered (never published again
        on their own), and those delivered longer ago than that are deleted.
        A delete need not reach the disk at once: if it is lost in a power cut, the
        event is only sent again (at-least-once). So it skips the flush, and the next
        append's flush carries it to disk.
        """
        with storage_errors("outbox delete"):
            self._db.execute("PRAGMA synchronous=NORMAL")
            try:
                freed = self._delete(sequences)
            finally:
                self._db.execute(f"PRAGMA synchronous={self._synchronous}")
        self._queued_bytes -= freed
        self._keep_wal_small()

    def _delete(self, sequences: Sequence[int]) -> int:
        now = self._clock()
        with write_transaction(self._db):
            freed = self._forget_kept(now)
            done = 0  # an acknowledged event may have been shed meanwhile
            for sequence in sequences:
                if self.keep_delivered > 0:
                    # A replayed event is acknowledged again: it keeps its first time.
                    row = self._db.execute(
                        "UPDATE events SET delivered_at = ? "
                        "WHERE sequence = ? AND delivered_at IS NULL RETURNING 0",
                        (now, sequence),
                    ).fetchone()
                else:
                    row = self._db.execute(
                        "DELETE FROM events WHERE sequence = ? RETURNING LENGTH(payload)",
                        (sequence,),
                    ).fetchone()
                if row is not None:
                    freed += row[0]
                    done += 1
            self._set_meta(
                delivered_total=self._meta("delivered_total") + done,
                last_delivered_at=now,
            )
        return freed

    def _forget_kept(self, now: float) -> int:
        """Delete the events delivered longer than `keep_delivered` ago; bytes freed."""
        ((freed,),) = self._db.execute(
            "SELECT COALESCE(SUM(LENGTH(payload)), 0) FROM events "
            "WHERE delivered_at IS NOT NULL AND delivered_at <= ?",
            (now - self.keep_delivered,),
        ).fetchall()
        if freed:
            self._db.execute(
                "DELETE FROM events WHERE delivered_at IS NOT NULL AND delivered_at <= ?",
                (now - self.keep_delivered,),
            )
        return int(freed)

    def forget_kept(self) -> None:
        """Delete the events delivered longer than `keep_delivered` ago (the write lock
        is taken only when there is something to delete: this runs every minute)."""
        cutoff = self._clock() - self.keep_delivered
        with storage_errors("outbox forget delivered"):
            due = self._db.execute(
                "SELECT 1 FROM events WHERE delivered_at IS NOT NULL AND delivered_at <= ? LIMIT 1",
                (cutoff,),
            ).fetchone()
            if due is None:
                return
            with write_transaction(self._db):
                self._queued_bytes -= self._forget_kept(self._clock())

    def record_link(self, link: LinkRecord) -> None:
        """Keep the uplink's state where `borne outbox status` reads it."""
        with storage_errors("outbox record link"):
            self._db.execute("PRAGMA synchronous=NORMAL")  # a state, not an event: no flush
            try:
                with write_transaction(self._db):
                    self._set_meta(
                        link_state=link.state,
                        link_detail=link.detail,
                        link_since=link.since,
                        link_restarts=link.restarts,
                    )
            finally:
                self._db.execute(f"PRAGMA synchronous={self._synchronous}")

    def status(self) -> OutboxStatus:
        """Counts and ages for operators."""
        with storage_errors("outbox read"):
            return status_of(self._db, self.max_bytes)


def _stored(row: tuple[Any, ...]) -> StoredEvent:
    sequence, event_id, topic, payload, priority, created_at = row
    return StoredEvent(sequence, event_id, topic, bytes(payload), Priority(priority), created_at)


def _salvaged(row: tuple[Any, ...]) -> SalvagedRow:
    """A row read as _CHECKED plus whether it was delivered."""
    sequence, event_id, topic, payload, priority, created_at, checksum, delivered = row
    return SalvagedRow(
        sequence, event_id, topic, bytes(payload), priority, created_at, checksum, bool(delivered)
    )


def _renumbered(row: SalvagedRow, sequence: int, epoch: str) -> tuple[bytes | None, str]:
    """The row's payload in the new epoch, or None and why it must be quarantined."""
    if not intact(row.topic, row.payload, row.checksum):
        return None, CHECKSUM_MISMATCH
    try:
        return reenveloped(row.payload, sequence=sequence, epoch=epoch), ""
    except (ValueError, RecursionError):  # not JSON, or not an envelope any more
        return None, UNREADABLE


def _priority(value: int) -> int:
    """A salvaged row's priority, as one the outbox knows (unknown: kept, never shed)."""
    return value if value in set(Priority) else int(Priority.CRITICAL)


def _names_old_sequences(row: SalvagedRow) -> bool:
    """Reports that name sequences of the epoch they were made in: meaningless in another."""
    short_type = row.topic.rsplit("/", 1)[-1]
    return any(short_type == kind.removeprefix("io.borne.") for kind in _REPORTS)


def _salvage_path(path: Path) -> Path:
    """Where the file salvaged from a damaged outbox is built before it takes its place."""
    return path.with_name(path.name + ".salvaging")


def _schema_there(db: sqlite3.Connection) -> bool:
    names = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    return {"events", "meta", "quarantine"} <= names
