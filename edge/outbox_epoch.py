"""The outbox's stream epoch, and who has the outbox open.

The platform finds losses by `sequence`. If a write-ahead log is lost after a crash,
or a damaged file is replaced, or a second kiosk runs under the same id, the same
sequence numbers would be handed out again with other ids. So every outbox file has
a random stream epoch, sequences count within it, and such an event starts a new
epoch whose first event says why (`io.borne.outbox.epoch`).

A lost log is found at open: a flag in `meta` is set (and checkpointed into the file
itself) by the first process to open the outbox and cleared by the last one to close
it; finding it set with no log beside the file means the log of a crashed run is gone.
Who is first and last is told by a shared lock on a small file beside the outbox
(`<name>.lock`), as `borne doctor` may open the outbox while the kiosk runs.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from edge.events import STREAM_EPOCH_ATTRIBUTE, EventDraft, format_sequence

EPOCH_REPORT_TYPE = "io.borne.outbox.epoch"
NEW = "new"  # a new outbox file: its first epoch has no such event
WAL_LOST = "wal_lost"
DAMAGED = "damaged"


def new_stream_epoch() -> str:
    """A random stream epoch: 32 lowercase hex characters."""
    return secrets.token_hex(16)


def epoch_report(previous: str | None, reason: str) -> EventDraft:
    """The first event of every epoch after a file's first: why the stream starts again."""
    return EventDraft(EPOCH_REPORT_TYPE, {"previous_epoch": previous, "reason": reason})


@dataclass(frozen=True, slots=True)
class EpochStart:
    """Why this open starts a new epoch, and the one it follows."""

    reason: str
    previous: str | None


def reenveloped(payload: bytes, *, sequence: int, epoch: str) -> bytes:
    """The same event (same id, type, time and data) numbered in another epoch.

    Raises ValueError when the payload is not an event envelope any more.
    """
    event = json.loads(payload)
    if not isinstance(event, dict) or "sequence" not in event:
        raise ValueError("not an event envelope")
    renumbered: dict[str, object] = {}
    for key, value in event.items():
        if key == STREAM_EPOCH_ATTRIBUTE:
            continue
        renumbered[key] = value
        if key == "sequence":
            renumbered[key] = format_sequence(sequence)
            renumbered[STREAM_EPOCH_ATTRIBUTE] = epoch
    return json.dumps(renumbered, ensure_ascii=False, separators=(",", ":")).encode()


class OpenLock:
    """A shared lock on `<outbox>.lock`: tells the first opener and the last closer.

    The first opener holds it exclusively while it checks and repairs the file, so a
    second process waits until the outbox is ready before it opens it too. The last
    closer removes the lock file; an opener that locked a file removed meanwhile
    starts again with the new one.
    """

    def __init__(self, outbox: Path) -> None:
        self._path = outbox.with_name(outbox.name + ".lock")
        while True:
            # A bare descriptor: a lock left to the garbage collector warns about nothing.
            descriptor = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self.first = False
                fcntl.flock(descriptor, fcntl.LOCK_SH)  # waits for the first opener's checks
            else:
                self.first = True
            if self._still_there(descriptor):
                self._descriptor: int | None = descriptor
                return
            os.close(descriptor)

    def _still_there(self, descriptor: int) -> bool:
        try:
            return os.stat(self._path).st_ino == os.fstat(descriptor).st_ino
        except FileNotFoundError:
            return False

    def share(self) -> None:
        """The checks are done: let other processes open the outbox too."""
        if self._descriptor is not None and self.first:
            fcntl.flock(self._descriptor, fcntl.LOCK_SH)

    def last(self) -> bool:
        """Whether no one else has the outbox open; only just before release (a refused
        upgrade loses the shared lock too)."""
        if self._descriptor is None:
            return False
        try:
            fcntl.flock(self._descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def release(self, *, last: bool = False) -> None:
        """Let go of the outbox; the last one (holding `last()`) removes the lock file."""
        if self._descriptor is None:
            return
        if last:
            self._path.unlink(missing_ok=True)
        os.close(self._descriptor)  # closing it releases the lock
        self._descriptor = None
