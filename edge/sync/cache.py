"""The kiosk's persisted copy of every stream, so it boots and serves offline.

One SQLite file (WAL, `synchronous=FULL`: a change the kiosk says it holds survives a
power cut) keeps, per stream, the position reached (epoch, version), when it was last
brought up to date, and the items. A change set and the position it leads to are
written in one transaction, so the copy is always some whole version of the stream.
A snapshot's pages are staged on disk as they come (a 100,000-product snapshot is not
held in memory, and is mostly written by the time its last page arrives), then swapped
in whole, with its position, in one transaction.

`handle` is the downlink's way in (`edge.sync.downlink`): a payload as the broker
delivered it, and back what became of it and what to do next (nothing, or ask the
platform for a resync). Usable from any thread: one connection, calls serialised by a
lock, as in the catalog. The same file keeps the downlink's state (`edge.sync.status`),
which `borne catalog status` reads from another process.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from edge.errors import BorneError
from edge.sqlite_tx import transaction, translated
from edge.sync.cursor import Apply, Decision, Position, Resync, Skip, SnapshotAssembly, decide
from edge.sync.messages import (
    Change,
    ChangeSet,
    DownlinkError,
    Problem,
    SnapshotPage,
    Stream,
    parse_message,
)
from edge.sync.status import SCHEMA as STATE_SCHEMA
from edge.sync.status import DownlinkState, StreamStatus, stream_statuses, write_state

__all__ = ["Handled", "Outcome", "StreamCache", "StreamStatus", "SyncCounters", "SyncError"]

# A snapshot whose pages stop coming is given up this long (seconds) after its latest
# page: the next change set asks for it again rather than being held forever.
SNAPSHOT_PATIENCE = 60.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS positions (
    stream TEXT PRIMARY KEY,
    epoch TEXT NOT NULL,
    version INTEGER NOT NULL,
    synced_at REAL NOT NULL  -- when the stream was last confirmed current (Unix time)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS items (
    stream TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,  -- JSON object
    PRIMARY KEY (stream, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS snapshot_items (  -- pages of snapshots still coming: not shown
    stream TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT,  -- JSON object; NULL: not in the snapshot after all
    PRIMARY KEY (stream, key)
) WITHOUT ROWID;
"""
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


class SyncError(BorneError):
    """The stream cache is damaged or cannot be read or written."""


class Handled(StrEnum):
    """What `handle` did with a downlink message."""

    APPLIED = "applied"  # a change set, or a now complete snapshot
    SKIPPED = "skipped"  # already held: a redelivery, or a page of an older snapshot
    HELD = "held"  # a snapshot page, or a change set kept until its snapshot is whole
    REFUSED = "refused"  # not a message for this kiosk (DownlinkError)
    RESYNC = "resync"  # something is missing: ask the platform


@dataclass(frozen=True, slots=True)
class Outcome:
    """What `handle` did, and the resync to ask for when there is one."""

    handled: Handled
    resync: Resync | None = None
    problem: str = ""  # why a message was refused
    refusal: Problem | None = None  # ... and the kind of refusal, for counters and logs
    stream: Stream | None = None  # the message's stream (None when refused)
    changed: bool = False  # items were committed: what the kiosk shows may have changed
    # The stream now stands at (or past) this message's version, no snapshot assembling:
    # for an answer of the platform's, the stream is current.
    current: bool = False


@dataclass(slots=True)
class SyncCounters:
    """Downlink messages by what became of them, since the cache was opened."""

    applied: int = 0
    skipped: int = 0
    refused: int = 0
    resyncs_asked: int = 0


class StreamCache:
    """Every stream's items and position, persisted; see the module's docstring."""

    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()
        # Snapshots coming in, each with when its latest page came.
        self._assemblies: dict[Stream, tuple[SnapshotAssembly, float]] = {}
        self.counters = SyncCounters()
        with translated(SyncError, f"stream cache {path} open"):
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=FULL")
                self._db.executescript(_SCHEMA + STATE_SCHEMA)
                # Snapshots being assembled are in memory only: what a previous run
                # staged of them cannot be completed.
                self._db.execute("DELETE FROM snapshot_items")
            except BaseException:
                self._db.close()
                raise

    def close(self) -> None:
        """Close the cache; what was applied stays on disk."""
        with self._lock:
            self._db.close()

    def position(self, stream: Stream) -> Position:
        """The last version of `stream` held whole (version 0 and no epoch: nothing)."""
        with self._lock:
            return self._held(stream)

    def apply(self, changes: ChangeSet, at: float) -> Decision:
        """Apply `changes` if they follow on from the position held; the decision taken.

        Items and position change in one transaction: on failure (SyncError) neither has.
        """
        with self._lock:
            return self._apply(changes, at)

    def replace(self, assembly: SnapshotAssembly, at: float) -> list[Decision]:
        """Replace a stream by a complete snapshot assembled in memory by the caller (the
        pages `handle` takes are staged on disk instead), then apply the held change
        sets that follow on from it; the decisions taken for those."""
        with self._lock:
            return self._replace(assembly, at)

    def item(self, stream: Stream, key: str) -> dict[str, Any] | None:
        """The item `key` of `stream`, or None."""
        with self._lock, translated(SyncError, "stream cache read"):
            row = self._db.execute(
                "SELECT value FROM items WHERE stream = ? AND key = ?", (stream.value, key)
            ).fetchone()
            return None if row is None else _decoded(row[0])

    def items(self, stream: Stream) -> dict[str, dict[str, Any]]:
        """Every item of `stream`, by key."""
        with self._lock, translated(SyncError, "stream cache read"):
            rows = self._db.execute(
                "SELECT key, value FROM items WHERE stream = ? ORDER BY key", (stream.value,)
            ).fetchall()
            return {key: _decoded(value) for key, value in rows}

    def age(self, stream: Stream, now: float) -> float | None:
        """Seconds since `stream` was last confirmed current, or None if it never was:
        the age of what the kiosk shows of it."""
        with self._lock, translated(SyncError, "stream cache read"):
            row = self._db.execute(
                "SELECT synced_at FROM positions WHERE stream = ?", (stream.value,)
            ).fetchone()
        return None if row is None else max(0.0, now - row[0])

    def status(self) -> list[StreamStatus]:
        """Every stream, held or not: epoch, version, item count, when last confirmed."""
        with self._lock, translated(SyncError, "stream cache read"):
            return list(stream_statuses(self._db))

    def confirm(self, stream: Stream, at: float) -> bool:
        """Record that the platform confirmed `stream` current at `at` (its age restarts);
        False when nothing of it is held, so there is nothing to confirm."""
        with self._lock, translated(SyncError, f"{stream} confirmation"):
            return self._confirm(stream, at)

    def record_downlink(self, state: DownlinkState, at: float) -> None:
        """Keep the downlink's state in the file, for `borne catalog status`."""
        with self._lock, translated(SyncError, "downlink state write"):
            write_state(self._db, state, at)

    def handle(
        self,
        payload: bytes,
        store_id: str,
        now: float,
        *,
        topic_stream: Stream | None = None,
        follows: Collection[Stream] | None = None,
        answer: bool = False,
    ) -> Outcome:
        """Take one downlink message: apply it, hold it, skip it or refuse it, and say
        whether to ask the platform for a resync.

        `topic_stream`: the stream its topic names, if any (the message must be of it);
        `follows`: the streams the kiosk takes (others are refused); `answer`: the
        platform's answer to this kiosk's request, so the version held sent again means
        the stream is current and is confirmed so.
        """
        try:
            message = parse_message(payload, store_id, topic_stream)
        except DownlinkError as error:
            return self._refuse(error)
        if follows is not None and message.stream not in follows:
            unfollowed = DownlinkError(f"{message.stream}: not followed", Problem.UNKNOWN_STREAM)
            return self._refuse(unfollowed)
        with self._lock:
            if isinstance(message, SnapshotPage):
                outcome = self._take_page(message, now)
            else:
                outcome = self._take_changes(message, now)
            if outcome.resync is not None:
                self.counters.resyncs_asked += 1
            current = self._stands_at(message)
            if current and answer and outcome.handled is Handled.SKIPPED:
                with translated(SyncError, f"{message.stream} confirmation"):
                    self._confirm(message.stream, now)
            return replace(outcome, stream=message.stream, current=current)

    def _refuse(self, error: DownlinkError) -> Outcome:
        with self._lock:
            self.counters.refused += 1
        return Outcome(Handled.REFUSED, problem=str(error), refusal=error.problem)

    def _stands_at(self, message: ChangeSet | SnapshotPage) -> bool:
        """Whether the stream holds this message's version or later, whole."""
        if message.stream in self._assemblies:
            return False
        held = self._held(message.stream)
        return held.epoch == message.epoch and held.version >= message.version

    def _confirm(self, stream: Stream, at: float) -> bool:
        confirmed = self._db.execute(
            "UPDATE positions SET synced_at = MAX(synced_at, ?) WHERE stream = ?",
            (at, stream.value),
        )
        return confirmed.rowcount > 0

    def _take_changes(self, changes: ChangeSet, now: float) -> Outcome:
        in_progress = self._assemblies.get(changes.stream)
        if in_progress is not None:
            assembly, last_page_at = in_progress
            if now - last_page_at <= SNAPSHOT_PATIENCE:
                assembly.hold(changes)
                return Outcome(Handled.HELD)
            self._drop_assembly(changes.stream)  # its missing pages are not coming
            since = self._held(changes.stream)
            return Outcome(Handled.RESYNC, Resync(since, "a snapshot's pages stopped coming"))
        decision = self._apply(changes, now)
        if isinstance(decision, Resync):
            return Outcome(Handled.RESYNC, decision)
        if isinstance(decision, Skip):
            self.counters.skipped += 1
            return Outcome(Handled.SKIPPED)
        self.counters.applied += 1
        return Outcome(Handled.APPLIED, changed=True)

    def _take_page(self, page: SnapshotPage, now: float) -> Outcome:
        held = self._held(page.stream)
        in_progress = self._assemblies.get(page.stream)
        if _older(page, held.epoch, held.version, inclusive=True) or (
            in_progress is not None
            and _older(page, in_progress[0].epoch, in_progress[0].version, inclusive=False)
        ):
            self.counters.skipped += 1  # a page of a snapshot already overtaken
            return Outcome(Handled.SKIPPED)
        assembly = SnapshotAssembly(page.stream) if in_progress is None else in_progress[0]
        self._stage(assembly, page)
        self._assemblies[page.stream] = (assembly, now)
        if not assembly.complete:
            return Outcome(Handled.HELD)
        del self._assemblies[page.stream]
        decisions = self._swap_in(assembly, now)
        self.counters.applied += 1 + sum(isinstance(d, Apply) for d in decisions)
        since = self._held(page.stream)
        if assembly.overflowed:
            reason = "more change sets came than a snapshot holds"
            return Outcome(Handled.RESYNC, Resync(since, reason), changed=True)
        if any(_ahead(held, since) for held in assembly.held.values()):
            # Held change sets beyond a gap after the snapshot: what fills it must be asked.
            reason = "change sets after the snapshot are missing"
            return Outcome(Handled.RESYNC, Resync(since, reason), changed=True)
        return Outcome(Handled.APPLIED, changed=True)

    def _apply(self, changes: ChangeSet, at: float) -> Decision:
        decision = decide(self._held(changes.stream), changes)
        if isinstance(decision, Apply):
            with translated(SyncError, f"{changes.stream} change"), transaction(self._db):
                self._write(changes.stream, changes.changes)
                self._hold(decision.position, at)
        return decision

    def _replace(self, assembly: SnapshotAssembly, at: float) -> list[Decision]:
        pages = assembly.items()  # raises ValueError when incomplete: a caller's mistake
        stream = assembly.stream
        with translated(SyncError, f"{stream} snapshot"), transaction(self._db):
            self._db.execute("DELETE FROM items WHERE stream = ?", (stream.value,))
            for page in pages:
                self._write(stream, page.items)
            self._hold(assembly.position(), at)
        return [self._apply(changes, at) for changes in assembly.following()]

    def _stage(self, assembly: SnapshotAssembly, page: SnapshotPage) -> None:
        """Write a page's items to the staging table; the assembly keeps only that the
        page came. A page of another snapshot starts the staging again."""
        stream = page.stream
        restarts = (page.epoch, page.version, page.pages) != (
            assembly.epoch,
            assembly.version,
            assembly.pages,
        )
        if not restarts and page.page in assembly.received:
            return  # a page sent again (the answer to a re-ask): already staged
        # Staged rows need no flush to the disk of their own: they are shown only once
        # the swap commits, with synchronous=FULL, which flushes them with it; after a
        # power cut, they are cleared.
        stage = translated(SyncError, f"{stream} snapshot page")
        with stage, _flushed_later(self._db), transaction(self._db):
            if restarts:
                self._db.execute("DELETE FROM snapshot_items WHERE stream = ?", (stream.value,))
            self._db.executemany(
                "INSERT INTO snapshot_items (stream, key, value) VALUES (?, ?, ?)"
                " ON CONFLICT (stream, key) DO UPDATE SET value = excluded.value",
                _rows(stream, page.items),
            )
        assembly.add_page(replace(page, items=()))

    def _swap_in(self, assembly: SnapshotAssembly, at: float) -> list[Decision]:
        """Replace a stream by its staged snapshot, then apply the held change sets that
        follow on from it; the decisions taken for those."""
        stream = assembly.stream.value
        with translated(SyncError, f"{stream} snapshot"), transaction(self._db):
            self._db.execute("DELETE FROM items WHERE stream = ?", (stream,))
            self._db.execute(
                "INSERT INTO items (stream, key, value) SELECT stream, key, value"
                " FROM snapshot_items WHERE stream = ? AND value IS NOT NULL",
                (stream,),
            )
            self._db.execute("DELETE FROM snapshot_items WHERE stream = ?", (stream,))
            self._hold(assembly.position(), at)
        return [self._apply(changes, at) for changes in assembly.following()]

    def _drop_assembly(self, stream: Stream) -> None:
        del self._assemblies[stream]
        with translated(SyncError, f"{stream} snapshot"):
            self._db.execute("DELETE FROM snapshot_items WHERE stream = ?", (stream.value,))

    def _write(self, stream: Stream, changes: tuple[Change, ...]) -> None:
        """Set or remove each item, in order (inside the caller's transaction)."""
        removed = [change.key for change in changes if change.value is None]
        if not removed:  # the usual case: every item set, in one statement
            self._db.executemany(
                "INSERT INTO items (stream, key, value) VALUES (?, ?, ?)"
                " ON CONFLICT (stream, key) DO UPDATE SET value = excluded.value",
                _rows(stream, changes),
            )
            return
        for change in changes:
            if change.value is None:
                self._db.execute(
                    "DELETE FROM items WHERE stream = ? AND key = ?", (stream.value, change.key)
                )
            else:
                self._db.execute(
                    "INSERT INTO items (stream, key, value) VALUES (?, ?, ?)"
                    " ON CONFLICT (stream, key) DO UPDATE SET value = excluded.value",
                    (stream.value, change.key, _ENCODER.encode(change.value)),
                )

    def _hold(self, position: Position, at: float) -> None:
        self._db.execute(
            "INSERT INTO positions (stream, epoch, version, synced_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (stream) DO UPDATE SET epoch = excluded.epoch,"
            " version = excluded.version, synced_at = excluded.synced_at",
            (position.stream.value, position.epoch, position.version, at),
        )

    def _position(self, stream: Stream) -> Position:
        row = self._db.execute(
            "SELECT epoch, version FROM positions WHERE stream = ?", (stream.value,)
        ).fetchone()
        return Position(stream) if row is None else Position(stream, row[0], row[1])

    def _held(self, stream: Stream) -> Position:
        with translated(SyncError, "stream cache read"):
            return self._position(stream)


def _rows(stream: Stream, changes: tuple[Change, ...]) -> Iterator[tuple[str, str, str | None]]:
    """(stream, key, JSON value or None) for each change, encoded as they are written."""
    for change in changes:
        value = None if change.value is None else _ENCODER.encode(change.value)
        yield stream.value, change.key, value


@contextmanager
def _flushed_later(db: sqlite3.Connection) -> Iterator[None]:
    """Commits inside are not flushed to disk on their own (WAL, synchronous=NORMAL):
    the next commit outside, at FULL, flushes them with it."""
    db.execute("PRAGMA synchronous=NORMAL")
    try:
        yield
    finally:
        db.execute("PRAGMA synchronous=FULL")


def _older(page: SnapshotPage, epoch: str, version: int, *, inclusive: bool) -> bool:
    """Whether `page` is of a snapshot no newer than (or, not inclusive, older than)
    version `version` of `epoch`; a page of another epoch is never older."""
    if page.epoch != epoch:
        return False
    return page.version <= version if inclusive else page.version < version


def _ahead(changes: ChangeSet, position: Position) -> bool:
    """Whether `changes` is newer than `position` (or of another numbering)."""
    return changes.epoch != position.epoch or changes.version > position.version


def _decoded(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise SyncError("stream cache damaged: an item is not a JSON object")
    return value
