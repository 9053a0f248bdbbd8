"""What an outbox file holds, read from a copy (the runtime's own files are never
opened here), and the damage a scenario does to it while the runtime is stopped."""

from __future__ import annotations

import random
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

OUTBOX = "outbox.sqlite"


@dataclass(frozen=True, slots=True)
class OutboxSnapshot:
    """The outbox's rows and counters at one moment; `error` says why it could not be read."""

    source: str  # the CloudEvents source of the kiosk it belongs to
    epoch: str = ""  # the meta table's stream_epoch ("" before epochs existed)
    last_sequence: int = 0
    ids: dict[int, str] = field(default_factory=dict)  # sequence -> event id, every row
    pending: frozenset[str] = frozenset()  # ids still waiting for their first delivery
    meta: dict[str, object] = field(default_factory=dict)
    error: str = ""

    @property
    def stream(self) -> tuple[str, str]:
        """The stream its sequences belong to."""
        return (self.source, self.epoch)


def snapshot(data_dir: Path, source: str, *, with_wal: bool = True) -> OutboxSnapshot:
    """Read a copy of the outbox in `data_dir` (with its write-ahead log unless told not
    to: what survives once the log is gone). Call it while the runtime is stopped."""
    path = data_dir / OUTBOX
    if not path.exists():
        return OutboxSnapshot(source, error="no outbox file")
    with tempfile.TemporaryDirectory(prefix="borne-faults-copy-") as folder:
        copy = Path(folder) / OUTBOX
        shutil.copyfile(path, copy)
        wal = path.with_name(OUTBOX + "-wal")
        if with_wal and wal.exists():
            shutil.copyfile(wal, copy.with_name(OUTBOX + "-wal"))
        try:
            return _read(copy, source)
        except sqlite3.Error as error:
            return OutboxSnapshot(source, error=f"{type(error).__name__}: {error}")


def _read(copy: Path, source: str) -> OutboxSnapshot:
    db = sqlite3.connect(copy)
    try:
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        ids: dict[int, str] = {}
        pending = set()
        for sequence, event_id, delivered_at in db.execute(
            "SELECT sequence, id, delivered_at FROM events"
        ):
            ids[int(sequence)] = str(event_id)
            if delivered_at is None:
                pending.add(str(event_id))
    finally:
        db.close()
    return OutboxSnapshot(
        source,
        epoch=str(meta.get("stream_epoch", "") or ""),
        last_sequence=int(meta.get("last_sequence", 0) or 0),
        ids=ids,
        pending=frozenset(pending),
        meta=meta,
    )


def readable_ids(data_dir: Path, wanted: dict[int, str]) -> set[str]:
    """Among `wanted` (sequence -> id), the ids still read back whole, one by one, from a
    damaged outbox: what a salvage can be expected to save at least."""
    found: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="borne-faults-copy-") as folder:
        copy = Path(folder) / OUTBOX
        shutil.copyfile(data_dir / OUTBOX, copy)
        try:
            db = sqlite3.connect(copy)
        except sqlite3.Error:
            return found
        try:
            for sequence, event_id in wanted.items():
                try:
                    row = db.execute(
                        "SELECT id, payload FROM events WHERE sequence = ?", (sequence,)
                    ).fetchone()
                except sqlite3.Error:
                    continue
                if row is not None and row[0] == event_id and event_id.encode() in bytes(row[1]):
                    found.add(event_id)
        finally:
            db.close()
    return found


def page_size(path: Path) -> int:
    """The database's page size, from its header."""
    header = path.read_bytes()[:100]
    size = int.from_bytes(header[16:18])
    return 65536 if size == 1 else size


def overwrite_pages(path: Path, count: int, rng: random.Random) -> list[int]:
    """Overwrite `count` random pages (never page 1, the header) with random bytes;
    the page numbers (1-based), sorted."""
    size = page_size(path)
    pages = path.stat().st_size // size
    chosen = sorted(rng.sample(range(2, pages + 1), min(count, pages - 1)))
    with path.open("r+b") as file:
        for page in chosen:
            file.seek((page - 1) * size)
            file.write(rng.randbytes(size))
    return chosen


def damage_payload(path: Path, event_id: str, length: int, rng: random.Random) -> int:
    """Overwrite `length` random bytes inside the stored payload of `event_id` (after its
    id, so the row is still found); the file offset written at."""
    content = path.read_bytes()
    marker = f'"id":"{event_id}"'.encode()
    start = content.find(marker)
    if start < 0:
        raise LookupError(f"event {event_id} is not in {path.name}'s pages")
    offset = start + len(marker) + 8
    with path.open("r+b") as file:
        file.seek(offset)
        file.write(rng.randbytes(length))
    return offset
