"""A device's stream epochs: which one is current, and when two kiosks share one id.

A kiosk's outbox starts a new epoch, its sequences at 1 again, when its database is
new, lost or replaced. The hub follows each epoch's sequence on its own. The epoch
heard last is the device's current one, unless an `io.borne.outbox.epoch` event
names it as the previous epoch of another: an epoch the device has left is never
asked for again.

A replaced outbox never advances its old epoch again; a second kiosk under the same
id does. So two epochs that both advance well after the newer one appeared are two
kiosks on one identity. Pure functions, no database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# Events of the old epoch still on their way when the new one starts arrive within
# this many seconds of it (a shared subscription may hand them to a slower hub process).
TWIN_GRACE = 5.0
# Two epochs that both advanced within this many seconds are both alive.
TWIN_WINDOW = 60.0


@dataclass(slots=True)
class StreamRow:
    """One stream epoch of a device while its batch is accounted."""

    device_id: str
    epoch: str
    rank: int  # the order the hub first heard the device's epochs in, from 1
    highest: int = 0
    last_contiguous: int = 0
    first_seen_at: float | None = None  # the hub's wall clock; None for migrated streams
    advanced_at: float | None = None  # when a sequence past `highest` last arrived
    closed_by: str | None = None  # the epoch that replaced this one
    previous: str | None = None  # the epoch this one's epoch event says it replaced


def current(streams: Sequence[StreamRow]) -> StreamRow | None:
    """The stream the device publishes on now: the last heard that nothing replaced."""
    live = [stream for stream in streams if stream.closed_by is None]
    return max(live, key=lambda stream: stream.rank, default=None)


def twins(streams: Sequence[StreamRow], now: float) -> tuple[StreamRow, StreamRow] | None:
    """Two epochs both alive at `now`, (older, newer), or None.

    The older one advanced after the newer one appeared (beyond the grace for events
    in flight), and both advanced within the window. An epoch that names the other
    as the one it replaced is that kiosk's own next stream, never its twin.
    """
    recent = [
        stream
        for stream in streams
        if stream.advanced_at is not None and stream.advanced_at >= now - TWIN_WINDOW
    ]
    ordered = sorted(recent, key=lambda stream: stream.rank)
    for index, older in enumerate(ordered):
        for newer in ordered[index + 1 :]:
            appeared = newer.first_seen_at
            if appeared is None or older.advanced_at is None:
                continue
            if older.epoch == newer.previous or newer.epoch == older.previous:
                continue
            if older.advanced_at >= appeared + TWIN_GRACE:
                return older, newer
    return None
