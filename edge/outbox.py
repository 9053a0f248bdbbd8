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

from edge.errors import OutboxError, OutboxFullError
from edge.events import EventDraft, EventSource, Priority
from edge.ids import UUIDv7Generator
from edge.log_once import RepeatedCondition
from edge.sqlite_tx import transaction, translated

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
"""
# After the column exists (an outbox made before keep_delivered gains it on open).
_KEPT_INDEX = (
    "CREATE INDEX IF NOT EXISTS events_kept ON events (delivered_at) WHERE delivered_at IS NOT NULL"
)
_COLUMNS = "sequence, id, topic, payload, priority, created_at"
_COUNTERS = ("last_sequence", "boot_count", "delivered_total", "shed_total", "refused_total")
_LINK = ("link_state", "link_detail", "link_since", "link_restarts")
SHED_REPORT_TYPE = "io.borne.outbox.shed"
_SAMPLE_ID = "00000000-0000-7000-8000-000000000000"  # as long as every UUIDv7 id


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An accepted event as it waits for delivery."""

    sequence: int
    event_id: str
    topic: str
    payload: bytes
    priority: Priority
    created_at: float


@dataclass(frozen=True, slots=True)
class OutboxStatus:
    """What `borne outbox status` and health telemetry report."""

    queued: int
    queued_bytes: int
    max_bytes: int
    oldest_created_at: float | None
    last_sequence: int
    delivered_total: int
    shed_total: int
    last_delivered_at: float | None
    boot_count: int
    refused_total: int = 0  # events that could not be stored: full of protected events
    link_state: str = "never started"  # the uplink's state, as it last recorded it
    link_detail: str = ""
    link_since: float | None = None
    link_restarts: int = 0  # uplink tasks restarted after a failure
    kept_delivered: int = 0  # acknowledged events kept for the hub's re-asks
    kept_bytes: int = 0


@dataclass(frozen=True, slots=True)
class LinkRecord:
    """The uplink's state as the outbox keeps it for `borne outbox status`."""

    state: str  # "connecting", "connected", "waiting to reconnect", "restarting ...", "stopped"
    detail: str
    since: float
    restarts: int


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


def shed_ranges(sequences: Iterable[int]) -> list[list[int]]:
    """Sequences as sorted [first, last] runs: what the shed report carries."""
    runs: list[list[int]] = []
    for sequence in sorted(set(sequences)):
        if runs and runs[-1][1] == sequence - 1:
            runs[-1][1] = sequence
        else:
            runs.append([sequence, sequence])
    return runs


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
        max_bytes: int = 64 * 1024 * 1024,
        synchronous: str = "full",
        keep_delivered: float = 0.0,
        clock: Callable[[], float] = time.time,
        new_id: Callable[[], object] | None = None,
    ) -> None:
        self.source = source
        self.max_bytes = max_bytes
        self.keep_delivered = keep_delivered  # seconds; 0: delete on acknowledgement
        self._clock = clock
        self._new_id = new_id or UUIDv7Generator()
        self._shedding = RepeatedCondition(log, "outbox full: shedding presence samples", "events")
        with translated(OutboxError, "outbox open"):
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._synchronous = "FULL" if synchronous == "full" else "NORMAL"
            self._db.execute(f"PRAGMA synchronous={self._synchronous}")
            self._db.executescript(_SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(events)")}
            if "delivered_at" not in columns:
                self._db.execute("ALTER TABLE events ADD COLUMN delivered_at REAL")
            self._db.execute(_KEPT_INDEX)
            row = self._db.execute(
                "SELECT COALESCE(SUM(LENGTH(payload)), 0) FROM events"
            ).fetchone()
            self._queued_bytes: int = row[0]

    def close(self) -> None:
        """Close the database; committed events stay on disk."""
        self._db.close()

    def _meta(self, key: str, default: Any = 0) -> Any:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else row[0]

    def _set_meta(self, **values: Any) -> None:
        self._db.executemany(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            values.items(),
        )

    def next_boot(self) -> int:
        """Count one more start of the runtime and return the new count."""
        with translated(OutboxError, "outbox count boot"), transaction(self._db):
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
        is followed by the report of what it shed.
        """
        now = self._clock()
        commit = Commit(results=[])
        try:
            with translated(OutboxError, "outbox append"), transaction(self._db):
                sequence: int = self._meta("last_sequence")
                refused = 0
                shed_count = 0
                for drafts in groups:
                    self._db.execute("SAVEPOINT grp")
                    try:
                        stored, shedding, added = self._insert_fitting(drafts, sequence, now)
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
                self._set_meta(last_sequence=sequence)
                if shed_count:
                    self._set_meta(shed_total=self._meta("shed_total") + shed_count)
                if refused:
                    self._set_meta(refused_total=self._meta("refused_total") + refused)
        except BaseException:
            self._queued_bytes = self._count_bytes()  # what the rollback left
            raise
        if shed_count:
            self._shedding.occurred(shed_count, f"outbox bound {self.max_bytes} bytes")
        elif any(not isinstance(result, OutboxError) for result in commit.results):
            self._shedding.cleared()
        return commit

    def _insert_fitting(
        self, drafts: Sequence[EventDraft], last_sequence: int, now: float
    ) -> tuple[list[StoredEvent], _Shedding, int]:
        """Insert the drafts, shedding to make room; (stored, what was shed, bytes added).

        The stored events end with the shed report when anything was shed. An earlier
        report still waiting is replaced by it (and named in it): while the broker is
        away, reports do not pile up in the outbox. Raises OutboxFullError when only
        events that must never be shed are left.
        """
        stored, added = self._insert(drafts, last_sequence, now)
        shedding = _Shedding()
        freed = 0
        report_bytes = 0  # the report of what was shed needs room too
        while True:
            over = self._queued_bytes + added + report_bytes - freed - self.max_bytes
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
                    raise OutboxFullError(
                        f"outbox holds {self._queued_bytes + added - freed} bytes of events "
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
        return len(self.source.envelope(report, event_id=_SAMPLE_ID, sequence=sequence, time=now))

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
            payload = self.source.envelope(draft, event_id=event_id, sequence=sequence, time=now)
            topic = self.source.topic(draft)
            self._db.execute(
                f"INSERT INTO events ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",  # noqa: S608
                (sequence, event_id, topic, payload, int(draft.priority), now),
            )
            added += len(payload)
            stored.append(StoredEvent(sequence, event_id, topic, payload, draft.priority, now))
        return stored, added

    def _count_bytes(self) -> int:
        row = self._db.execute("SELECT COALESCE(SUM(LENGTH(payload)), 0) FROM events").fetchone()
        return int(row[0])

    def pending(self, after_sequence: int, limit: int) -> list[StoredEvent]:
        """Events waiting for delivery with a sequence above `after_sequence`, in order."""
        with translated(OutboxError, "outbox read"):
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM events "  # noqa: S608 - constant fragments only
                "WHERE sequence > ? AND delivered_at IS NULL ORDER BY sequence LIMIT ?",
                (after_sequence, limit),
            ).fetchall()
        return [_stored(row) for row in rows]

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
        """The events held among `sequences`, in order, each with whether it was delivered."""
        found = []
        with translated(OutboxError, "outbox read"):
            for sequence in sorted(set(sequences)):
                row = self._db.execute(
                    f"SELECT {_COLUMNS}, delivered_at IS NOT NULL FROM events "  # noqa: S608
                    "WHERE sequence = ?",
                    (sequence,),
                ).fetchone()
                if row is not None:
                    found.append((_stored(row[:-1]), bool(row[-1])))
        return found

    def delete_delivered(self, sequences: Sequence[int]) -> None:
        """Forget events the broker acknowledged with a success reason code.

        With `keep_delivered`, they are only marked delivered (never published again
        on their own), and those delivered longer ago than that are deleted.
        A delete need not reach the disk at once: if it is lost in a power cut, the
        event is only sent again (at-least-once). So it skips the flush, and the next
        append's flush carries it to disk.
        """
        with translated(OutboxError, "outbox delete"):
            self._db.execute("PRAGMA synchronous=NORMAL")
            try:
                freed = self._delete(sequences)
            finally:
                self._db.execute(f"PRAGMA synchronous={self._synchronous}")
        self._queued_bytes -= freed

    def _delete(self, sequences: Sequence[int]) -> int:
        now = self._clock()
        with transaction(self._db):
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
        """Delete the events delivered longer than `keep_delivered` ago."""
        with translated(OutboxError, "outbox forget delivered"), transaction(self._db):
            self._queued_bytes -= self._forget_kept(self._clock())

    def record_link(self, link: LinkRecord) -> None:
        """Keep the uplink's state where `borne outbox status` reads it."""
        with translated(OutboxError, "outbox record link"):
            self._db.execute("PRAGMA synchronous=NORMAL")  # a state, not an event: no flush
            try:
                with transaction(self._db):
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
        with translated(OutboxError, "outbox read"):
            return _read_status(self._db, self.max_bytes)


def _read_status(db: sqlite3.Connection, max_bytes: int) -> OutboxStatus:
    queued, oldest, queued_bytes_now, kept, kept_bytes = db.execute(
        "SELECT COUNT(*) FILTER (WHERE delivered_at IS NULL),"
        " MIN(created_at) FILTER (WHERE delivered_at IS NULL),"
        " COALESCE(SUM(LENGTH(payload)) FILTER (WHERE delivered_at IS NULL), 0),"
        " COUNT(*) FILTER (WHERE delivered_at IS NOT NULL),"
        " COALESCE(SUM(LENGTH(payload)) FILTER (WHERE delivered_at IS NOT NULL), 0)"
        " FROM events"
    ).fetchone()
    meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
    defaults = {f.name: f.default for f in dataclasses.fields(OutboxStatus) if f.name in _LINK}
    return OutboxStatus(
        queued=queued,
        queued_bytes=queued_bytes_now,
        max_bytes=max_bytes,
        oldest_created_at=oldest,
        last_delivered_at=meta.get("last_delivered_at"),
        **{key: meta.get(key, 0) for key in _COUNTERS},
        **{key: meta.get(key, defaults[key]) for key in _LINK},
        kept_delivered=kept,
        kept_bytes=kept_bytes,
    )


def read_status(path: Path, *, max_bytes: int) -> OutboxStatus:
    """The status of the outbox at `path`, read only: nothing is created or changed.

    An outbox that does not exist yet is reported empty, with the bound it will have.
    """
    if not path.exists():
        return OutboxStatus(
            queued=0,
            queued_bytes=0,
            max_bytes=max_bytes,
            oldest_created_at=None,
            last_sequence=0,
            delivered_total=0,
            shed_total=0,
            last_delivered_at=None,
            boot_count=0,
        )
    # Read only, by URI: opening may create neither the file nor its folder. With no
    # write-ahead log beside it (no runtime has it open), it is read as immutable, so
    # SQLite does not leave -wal and -shm files behind either.
    live = path.with_name(path.name + "-wal").exists()
    mode = "mode=ro" if live else "mode=ro&immutable=1"
    with translated(OutboxError, "outbox status"):
        db = sqlite3.connect(f"{path.resolve().as_uri()}?{mode}", uri=True)
        try:
            if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone():
                raise OutboxError(f"{path} is not a Borne outbox")
            return _read_status(db, max_bytes)
        finally:
            db.close()


def describe_status(status: OutboxStatus, *, now: float) -> list[str]:
    """`borne outbox status` for people: one line per fact, the bound included."""

    def moment(timestamp: float | None, never: str) -> str:
        if timestamp is None:
            return never
        local = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))
        return f"{local} ({now - timestamp:.1f} s ago)"

    held = status.queued_bytes + status.kept_bytes
    full = 100 * held / status.max_bytes if status.max_bytes else 0.0
    return [
        f"queued events:      {status.queued}",
        f"queued bytes:       {status.queued_bytes} of {status.max_bytes} ({full:.0f}% full)",
        f"kept delivered:     {status.kept_delivered} ({status.kept_bytes} bytes, "
        "for the hub's re-asks; the first to go when room is needed)",
        f"oldest queued:      {moment(status.oldest_created_at, '-')}",
        f"last sequence:      {status.last_sequence}",
        f"delivered in total: {status.delivered_total}",
        f"last delivery:      {moment(status.last_delivered_at, 'never')}",
        f"shed when full:     {status.shed_total} (reported to the platform)",
        f"refused when full:  {status.refused_total} (not stored: only protected events left)",
        f"uplink:             {status.link_state}",
        f"uplink since:       {moment(status.link_since, '-')}",
        f"uplink problem:     {status.link_detail or '-'} (the last one, kept once over)",
        f"uplink restarts:    {status.link_restarts} (tasks restarted after a failure)",
    ]


def _stored(row: tuple[Any, ...]) -> StoredEvent:
    sequence, event_id, topic, payload, priority, created_at = row
    return StoredEvent(sequence, event_id, topic, bytes(payload), Priority(priority), created_at)
