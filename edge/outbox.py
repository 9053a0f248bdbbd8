"""The durable outbox: every event is committed to SQLite before anyone hears of it.

paho-mqtt keeps unacknowledged messages in memory only, so a `kill -9` would lose
them. Here an event is accepted only once its row is committed (WAL); the uplink
deletes the row when the broker's PUBACK says success. What is left after a crash
is resent on restart: at-least-once, and the platform de-duplicates on the id.

All SQLite work happens on one dedicated thread, so the event loop never blocks on
a disk flush and the connection is only ever used by the thread that opened it.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from edge.errors import OutboxError, OutboxFullError
from edge.events import EventDraft, EventSource, Priority
from edge.ids import UUIDv7Generator
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
    created_at REAL    NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_value ON events (priority, sequence);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value);
"""
_COUNTERS = ("last_sequence", "boot_count", "delivered_total", "shed_total")


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


class OutboxStore:
    """The SQLite side of the outbox; used from a single thread."""

    def __init__(
        self,
        path: Path,
        source: EventSource,
        *,
        max_bytes: int = 64 * 1024 * 1024,
        synchronous: str = "full",
        clock: Callable[[], float] = time.time,
        new_id: Callable[[], object] | None = None,
    ) -> None:
        self.source = source
        self.max_bytes = max_bytes
        self._clock = clock
        self._new_id = new_id or UUIDv7Generator()
        with translated(OutboxError, "outbox open"):
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._synchronous = "FULL" if synchronous == "full" else "NORMAL"
            self._db.execute(f"PRAGMA synchronous={self._synchronous}")
            self._db.executescript(_SCHEMA)
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
        (result,) = self.append_groups([drafts])
        if isinstance(result, OutboxError):
            raise result
        return result

    def append_groups(
        self, groups: Sequence[Sequence[EventDraft]]
    ) -> list[list[StoredEvent] | OutboxError]:
        """Append several callers' drafts in one commit (group commit).

        Each group is all-or-nothing: a group refused for lack of room gets its
        OutboxFullError and takes no sequence numbers; the others are committed.
        """
        now = self._clock()
        results: list[list[StoredEvent] | OutboxError] = []
        try:
            with translated(OutboxError, "outbox append"), transaction(self._db):
                sequence: int = self._meta("last_sequence")
                for drafts in groups:
                    self._db.execute("SAVEPOINT grp")
                    try:
                        stored, added = self._insert(drafts, sequence, now)
                        self._queued_bytes += added - self._shed_to_fit(self._queued_bytes + added)
                    except OutboxFullError as error:
                        self._db.execute("ROLLBACK TO grp")
                        results.append(error)
                    else:
                        sequence += len(stored)
                        results.append(stored)
                    self._db.execute("RELEASE grp")
                self._set_meta(last_sequence=sequence)
        except BaseException:
            self._queued_bytes = self._count_bytes()  # what the rollback left
            raise
        return results

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
                "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)",
                (sequence, event_id, topic, payload, int(draft.priority), now),
            )
            added += len(payload)
            stored.append(StoredEvent(sequence, event_id, topic, payload, draft.priority, now))
        return stored, added

    def _count_bytes(self) -> int:
        row = self._db.execute("SELECT COALESCE(SUM(LENGTH(payload)), 0) FROM events").fetchone()
        return int(row[0])

    def _shed_to_fit(self, queued_bytes: int) -> int:
        """Delete the lowest-value events until the outbox fits; return bytes freed."""
        freed = 0
        shed = 0
        while queued_bytes - freed > self.max_bytes:
            victims = self._db.execute(
                "SELECT sequence, LENGTH(payload) FROM events WHERE priority < ? "
                "ORDER BY priority, sequence LIMIT 64",
                (int(Priority.CRITICAL),),
            ).fetchall()
            if not victims:
                raise OutboxFullError(
                    f"outbox holds {queued_bytes} bytes of events that are never shed "
                    f"(limit {self.max_bytes})"
                )
            for sequence, size in victims:
                self._db.execute("DELETE FROM events WHERE sequence = ?", (sequence,))
                freed += size
                shed += 1
                if queued_bytes - freed <= self.max_bytes:
                    break
        if shed:
            log.warning("outbox full: shed %d low-value events", shed)
            self._set_meta(shed_total=self._meta("shed_total") + shed)
        return freed

    def pending(self, after_sequence: int, limit: int) -> list[StoredEvent]:
        """Events waiting for delivery with a sequence above `after_sequence`, in order."""
        with translated(OutboxError, "outbox read"):
            rows = self._db.execute(
                "SELECT * FROM events WHERE sequence > ? ORDER BY sequence LIMIT ?",
                (after_sequence, limit),
            ).fetchall()
        return [_stored(row) for row in rows]

    def get(self, sequences: Iterable[int]) -> list[StoredEvent]:
        """The events among `sequences` that are still waiting, in order."""
        with translated(OutboxError, "outbox read"):
            rows = [
                self._db.execute("SELECT * FROM events WHERE sequence = ?", (s,)).fetchone()
                for s in sorted(set(sequences))
            ]
        return [_stored(row) for row in rows if row is not None]

    def delete_delivered(self, sequences: Sequence[int]) -> None:
        """Forget events the broker acknowledged with a success reason code.

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
        with transaction(self._db):
            freed = 0
            for sequence in sequences:
                row = self._db.execute(
                    "DELETE FROM events WHERE sequence = ? RETURNING LENGTH(payload)",
                    (sequence,),
                ).fetchone()
                freed += 0 if row is None else row[0]
            self._set_meta(
                delivered_total=self._meta("delivered_total") + len(sequences),
                last_delivered_at=self._clock(),
            )
        return freed

    def status(self) -> OutboxStatus:
        """Counts and ages for operators."""
        with translated(OutboxError, "outbox read"):
            queued, oldest = self._db.execute(
                "SELECT COUNT(*), MIN(created_at) FROM events"
            ).fetchone()
            counters = {key: self._meta(key) for key in _COUNTERS}
            last_delivered_at = self._meta("last_delivered_at", None)
        return OutboxStatus(
            queued=queued,
            queued_bytes=self._queued_bytes,
            max_bytes=self.max_bytes,
            oldest_created_at=oldest,
            last_delivered_at=last_delivered_at,
            **counters,
        )


def _stored(row: tuple[Any, ...]) -> StoredEvent:
    sequence, event_id, topic, payload, priority, created_at = row
    return StoredEvent(sequence, event_id, topic, bytes(payload), Priority(priority), created_at)


class Outbox:
    """The asyncio face of the outbox: every call runs on the outbox's own thread."""

    def __init__(self, open_store: Callable[[], OutboxStore]) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox")
        self._store = self._executor.submit(open_store).result()
        self._listeners: list[Callable[[list[StoredEvent]], None]] = []
        self._waiting: list[tuple[Sequence[EventDraft], asyncio.Future[list[StoredEvent]]]] = []
        self._committer: asyncio.Task[None] | None = None

    def on_append(self, listener: Callable[[list[StoredEvent]], None]) -> None:
        """Call `listener` on the loop with the events of each commit, in sequence order."""
        self._listeners.append(listener)

    async def _run(self, call: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, call, *args)

    async def append(self, *drafts: EventDraft) -> list[StoredEvent]:
        """Commit the drafts durably; only then are they accepted.

        Appends that arrive while a commit is under way share the next commit, so a
        burst costs one disk flush rather than one per event.
        """
        future: asyncio.Future[list[StoredEvent]] = asyncio.get_running_loop().create_future()
        self._waiting.append((drafts, future))
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_waiting(), name="outbox-commit")
        return await future

    async def _commit_waiting(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                results = await self._run(self._store.append_groups, [d for d, _ in batch])
            except BaseException as error:  # the database failed: every caller hears it
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                if isinstance(error, asyncio.CancelledError):
                    raise
                continue
            committed: list[StoredEvent] = []
            for (_, future), result in zip(batch, results, strict=True):
                if isinstance(result, OutboxError):
                    if not future.done():
                        future.set_exception(result)
                    continue
                committed += result
                if not future.done():
                    future.set_result(result)
            for listener in self._listeners:
                listener(committed)

    async def next_boot(self) -> int:
        """See OutboxStore.next_boot."""
        return await self._run(self._store.next_boot)

    async def pending(self, after_sequence: int, limit: int) -> list[StoredEvent]:
        """See OutboxStore.pending."""
        return await self._run(self._store.pending, after_sequence, limit)

    async def get(self, sequences: Iterable[int]) -> list[StoredEvent]:
        """See OutboxStore.get."""
        return await self._run(self._store.get, list(sequences))

    async def delete_delivered(self, sequences: Sequence[int]) -> None:
        """See OutboxStore.delete_delivered."""
        await self._run(self._store.delete_delivered, sequences)

    async def status(self) -> OutboxStatus:
        """See OutboxStore.status."""
        return await self._run(self._store.status)

    def close(self) -> None:
        """Close the database and stop the outbox thread."""
        self._executor.submit(self._store.close).result()
        self._executor.shutdown(wait=True)
