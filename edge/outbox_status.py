"""What the outbox reports: `borne outbox status`, `borne doctor` and health telemetry.

Read from an open outbox (`status_of`) or from its file by another process, read only
(`read_status`), so the status is there beside a running kiosk, and even when the
file is damaged.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from edge.errors import OutboxDamagedError, OutboxError
from edge.outbox_salvage import integrity_problem
from edge.outbox_sqlite import error_kind, is_damage, wal_path

_COUNTERS = ("last_sequence", "boot_count", "delivered_total", "shed_total", "refused_total")
_LINK = ("link_state", "link_detail", "link_since", "link_restarts")


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
    stream_epoch: str = ""  # sequences count within it
    quarantined: int = 0  # rows whose checksum no longer matched: kept aside, never sent
    damaged: str = ""  # read_status: this file is damaged (the runtime moves it aside)
    last_damage_path: str = ""  # the last damaged file moved aside, where it now is
    last_damage_at: float | None = None
    last_damage_salvaged: int = 0  # its waiting events carried into the new file
    last_damage_lost: int = 0  # at most this many sequences could not be read from it


@dataclass(frozen=True, slots=True)
class LinkRecord:
    """The uplink's state as the outbox keeps it for `borne outbox status`."""

    state: str  # "connecting", "connected", "waiting to reconnect", "restarting ...", "stopped"
    detail: str
    since: float
    restarts: int


def status_of(db: sqlite3.Connection, max_bytes: int) -> OutboxStatus:
    """The counts, ages and records an open outbox holds."""
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
    quarantined = 0
    if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'quarantine'").fetchone():
        (quarantined,) = db.execute("SELECT COUNT(*) FROM quarantine").fetchone()
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
        stream_epoch=str(meta.get("stream_epoch", "")),
        quarantined=quarantined,
        last_damage_path=str(meta.get("damage_path", "")),
        last_damage_at=meta.get("damage_at"),
        last_damage_salvaged=int(meta.get("damage_salvaged", 0)),
        last_damage_lost=int(meta.get("damage_lost", 0)),
    )


def _empty_status(max_bytes: int, *, damaged: str = "") -> OutboxStatus:
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
        damaged=damaged,
    )


def read_status(path: Path, *, max_bytes: int) -> OutboxStatus:
    """The status of the outbox at `path`, read only: nothing is created or changed.

    An outbox that does not exist yet is reported empty, with the bound it will have.
    A damaged one is reported as such (`damaged`: its path), not as an error: the
    runtime moves it aside and salvages it at its next start.
    """
    if not path.exists():
        return _empty_status(max_bytes)
    # Read only, by URI: opening may create neither the file nor its folder. With no
    # write-ahead log beside it (no runtime has it open), it is read as immutable, so
    # SQLite does not leave -wal and -shm files behind either.
    live = wal_path(path).exists()
    mode = "mode=ro" if live else "mode=ro&immutable=1"
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?{mode}", uri=True)
        try:
            if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone():
                raise OutboxError(f"{path} is not a Borne outbox")
            if integrity_problem(db) is not None:
                return _empty_status(max_bytes, damaged=str(path))
            return status_of(db, max_bytes)
        finally:
            db.close()
    except sqlite3.Error as cause:
        if cause.sqlite_errorcode & 0xFF == sqlite3.SQLITE_NOTADB:
            raise OutboxDamagedError(
                f"outbox status failed: {path} is not a database ({cause}); the runtime "
                "moves it aside at its next start"
            ) from cause
        if is_damage(cause):
            return _empty_status(max_bytes, damaged=str(path))
        raise error_kind(cause)(f"outbox status failed: {cause}") from cause


def describe_status(status: OutboxStatus, *, now: float) -> list[str]:
    """`borne outbox status` for people: one line per fact, the bound included."""

    def moment(timestamp: float | None, never: str) -> str:
        if timestamp is None:
            return never
        local = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))
        return f"{local} ({now - timestamp:.1f} s ago)"

    if status.damaged:
        return [
            f"outbox file:        DAMAGED: {status.damaged}",
            "                    its counts cannot be trusted; the runtime moves it aside "
            "at its next start, salvages the readable events into a new file and keeps "
            "the damaged one beside it (outbox.sqlite.damaged-<time>)",
        ]
    held = status.queued_bytes + status.kept_bytes
    full = 100 * held / status.max_bytes if status.max_bytes else 0.0
    lines = [
        f"queued events:      {status.queued}",
        f"queued bytes:       {status.queued_bytes} of {status.max_bytes} ({full:.0f}% full)",
        f"kept delivered:     {status.kept_delivered} ({status.kept_bytes} bytes, "
        "for the hub's re-asks; the first to go when room is needed)",
        f"oldest queued:      {moment(status.oldest_created_at, '-')}",
        f"stream epoch:       {status.stream_epoch or '-'}",
        f"last sequence:      {status.last_sequence}",
        f"delivered in total: {status.delivered_total}",
        f"last delivery:      {moment(status.last_delivered_at, 'never')}",
        f"shed when full:     {status.shed_total} (reported to the platform)",
        f"refused when full:  {status.refused_total} (not stored: only protected events left)",
        f"quarantined:        {status.quarantined} (failed their checksum: kept aside, "
        "never sent, reported to the platform)",
        f"uplink:             {status.link_state}",
        f"uplink since:       {moment(status.link_since, '-')}",
        f"uplink problem:     {status.link_detail or '-'} (the last one, kept once over)",
        f"uplink restarts:    {status.link_restarts} (tasks restarted after a failure)",
    ]
    if status.last_damage_path:
        lines.append(
            f"last damage:        {moment(status.last_damage_at, '-')}: moved aside to "
            f"{status.last_damage_path}; {status.last_damage_salvaged} waiting events "
            f"salvaged, at most {status.last_damage_lost} lost"
        )
    return lines
