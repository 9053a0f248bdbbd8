"""Each stored event carries a checksum; a row that no longer matches it is never sent.

SQLite's own integrity checks see its pages, not what is in a row: 40 bytes
overwritten inside a stored event pass them. So every row carries the SHA-256 of
its topic and payload, checked before the row is handed to the uplink. A mismatch
is moved to the `quarantine` table (kept for a person to look at, never published)
and reported to the platform by an `io.borne.outbox.quarantined` event naming its
sequence, so that gap is not mistaken for a loss.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from edge.events import EventDraft

QUARANTINE_REPORT_TYPE = "io.borne.outbox.quarantined"
CHECKSUM_MISMATCH = "checksum mismatch"
UNREADABLE = "unreadable"  # salvaged from a damaged file, and not an event any more

QUARANTINE_SCHEMA = """
CREATE TABLE IF NOT EXISTS quarantine (
    epoch      TEXT    NOT NULL,
    sequence   INTEGER NOT NULL,
    id         TEXT    NOT NULL,
    topic      TEXT    NOT NULL,
    payload    BLOB    NOT NULL,
    checksum   TEXT,
    reason     TEXT    NOT NULL,
    quarantined_at REAL NOT NULL
);
"""


def event_checksum(topic: str, payload: bytes) -> str:
    """SHA-256 (hex) of the topic, a NUL byte and the payload: what a row must match."""
    digest = hashlib.sha256(topic.encode())
    digest.update(b"\0")
    digest.update(payload)
    return digest.hexdigest()


def intact(topic: str, payload: bytes, checksum: str | None) -> bool:
    """Whether a row still holds what was stored (rows from before checksums pass)."""
    return checksum is None or event_checksum(topic, payload) == checksum


def runs(sequences: Iterable[int]) -> list[list[int]]:
    """Sequences as sorted [first, last] runs."""
    found: list[list[int]] = []
    for sequence in sorted(set(sequences)):
        if found and found[-1][1] == sequence - 1:
            found[-1][1] = sequence
        else:
            found.append([sequence, sequence])
    return found


def quarantine_report(sequences: Sequence[int], reason: str) -> EventDraft:
    """The event that tells the platform which sequences were quarantined, and why."""
    return EventDraft(
        QUARANTINE_REPORT_TYPE,
        {"count": len(set(sequences)), "ranges": runs(sequences), "reason": reason},
    )
