"""What the kiosk holds of each stream and how its downlink stands, readable from outside.

The stream cache's file carries, beside the streams, one row of the downlink's state
(connected or not and since when, resyncs outstanding, counters, the last problem),
written by the downlink when it changes. `borne catalog status` runs in another
process while the kiosk does: `read_sync_status` opens the file read-only, so it can
neither block nor damage the kiosk's writes.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edge.errors import BorneError
from edge.sqlite_tx import translated
from edge.sync.messages import Stream

SCHEMA = """
CREATE TABLE IF NOT EXISTS downlink_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),  -- one row: this kiosk's downlink
    connected INTEGER NOT NULL,
    since REAL,  -- when it connected or lost the connection (Unix time)
    pending TEXT NOT NULL,  -- JSON list of the streams with a resync outstanding
    counters TEXT NOT NULL,  -- JSON object, DownlinkCounters
    problem TEXT NOT NULL,  -- the last problem, kept after it is over
    recorded_at REAL NOT NULL
);
"""


class SyncStatusError(BorneError):
    """The stream cache cannot be read: missing, damaged, or not a stream cache."""


@dataclass(slots=True)
class DownlinkCounters:
    """What the downlink did since the kiosk started."""

    received: int = 0  # messages, live and answers
    applied: int = 0  # change sets and whole snapshots committed
    skipped: int = 0  # redeliveries, and the hub's "you are current" answers
    refused: int = 0  # bad messages: malformed, oversized, another store, unknown stream
    out_of_order: int = 0  # live change sets that showed a gap or another epoch
    resyncs_asked: int = 0  # requests sent, re-asks and freshness checks included
    asked_again: int = 0  # requests whose answer did not come in time
    stale_answers: int = 0  # answers to a request already asked again
    unknown_answers: int = 0  # answers to no request of this kiosk's
    failures: int = 0  # messages the cache could not write (a disk problem)

    def as_dict(self) -> dict[str, int]:
        """The counters by name, for JSON."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class DownlinkState:
    """The downlink as `borne catalog status` shows it."""

    connected: bool = False
    since: float | None = None
    pending: tuple[Stream, ...] = ()
    counters: DownlinkCounters = field(default_factory=DownlinkCounters)
    problem: str = ""
    recorded_at: float | None = None  # None: no downlink ever ran on this cache


@dataclass(frozen=True, slots=True)
class StreamStatus:
    """One stream as `borne catalog status` shows it."""

    stream: Stream
    epoch: str
    version: int
    count: int
    synced_at: float | None  # when it was last confirmed current (Unix time)

    def age(self, now: float) -> float | None:
        """Seconds since the stream was last confirmed current, or None if never."""
        return None if self.synced_at is None else max(0.0, now - self.synced_at)


@dataclass(frozen=True, slots=True)
class SyncStatus:
    """Every stream the cache holds, and the downlink's persisted state."""

    streams: tuple[StreamStatus, ...]
    link: DownlinkState


def stream_statuses(db: sqlite3.Connection) -> tuple[StreamStatus, ...]:
    """Every stream, held or not: epoch, version, item count, when last confirmed."""
    held = {
        row[0]: row[1:]
        for row in db.execute(
            "SELECT p.stream, p.epoch, p.version, p.synced_at,"
            " (SELECT COUNT(*) FROM items AS i WHERE i.stream = p.stream)"
            " FROM positions AS p"
        )
    }
    statuses = []
    for stream in Stream:
        epoch, version, synced_at, count = held.get(stream.value, ("", 0, None, 0))
        statuses.append(StreamStatus(stream, epoch, version, count, synced_at))
    return tuple(statuses)


def write_state(db: sqlite3.Connection, state: DownlinkState, at: float) -> None:
    """Replace the downlink's row (one statement: committed whole)."""
    db.execute(
        "INSERT OR REPLACE INTO downlink_state"
        " (id, connected, since, pending, counters, problem, recorded_at)"
        " VALUES (1, ?, ?, ?, ?, ?, ?)",
        (
            int(state.connected),
            state.since,
            json.dumps([stream.value for stream in state.pending]),
            json.dumps(state.counters.as_dict()),
            state.problem,
            at,
        ),
    )


def read_state(db: sqlite3.Connection) -> DownlinkState:
    """The downlink's row, or the state of a cache no downlink has run on yet."""
    row = db.execute(
        "SELECT connected, since, pending, counters, problem, recorded_at"
        " FROM downlink_state WHERE id = 1"
    ).fetchone()
    if row is None:
        return DownlinkState()
    connected, since, pending, counters, problem, recorded_at = row
    try:
        streams = tuple(Stream(name) for name in json.loads(pending))
        counted: dict[str, Any] = json.loads(counters)
        names = DownlinkCounters().as_dict()
        known = {name: int(value) for name, value in counted.items() if name in names}
    except (ValueError, TypeError, KeyError):
        raise SyncStatusError("stream cache damaged: the downlink's state is unreadable") from None
    return DownlinkState(
        bool(connected), since, streams, DownlinkCounters(**known), problem, recorded_at
    )


def read_sync_status(path: Path) -> SyncStatus:
    """The streams and the downlink's state as the kiosk last wrote them, read-only.

    Safe while the kiosk runs (WAL: a reader never blocks its writer). A missing file
    is a `SyncStatusError`, not an empty cache: the path is probably wrong.
    """
    if not path.is_file():
        raise SyncStatusError(f"no stream cache at {path}")
    with translated(SyncStatusError, f"stream cache {path} read"):
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            has_state = db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'downlink_state'"
            ).fetchone()
            link = read_state(db) if has_state else DownlinkState()
            return SyncStatus(stream_statuses(db), link)
        finally:
            db.close()
