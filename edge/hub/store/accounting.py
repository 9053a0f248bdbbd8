"""What each event does to its stream's figures and gaps, decided once for both databases.

A device publishes on stream epochs (see `epochs`); each epoch's sequences start at
1 and are followed on their own. An epoch's gaps are runs of missing sequences (see
`ranges`). A new event past the highest sequence seen opens a gap before it, shed
where a report already named it; an event below fills its place in a gap
(recovered); a shed report repaints what it names, and is remembered for gaps not
seen yet. "Last contiguous" is the sequence just before the first open run:
everything up to it is stored, shed on purpose, or expired (the device no longer had
it when asked).

When a device's new epoch appears, the epochs it left are closed: their open gaps
become superseded, never asked for again. An event that comes again with the id it
had but in a new epoch (a kiosk re-envelopes what it had not sent into its new
epoch) is stored once, and counts as received in both.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace

from edge.hub.store.epochs import StreamRow, current, twins
from edge.hub.store.incoming import IncomingEvent
from edge.hub.store.ledger import DeviceRow, SqlLedger
from edge.hub.store.ranges import GapState, merged, new_gap, repaint, union

log = logging.getLogger(__name__)

_LOST = frozenset({GapState.OPEN, GapState.EXPIRED, GapState.SUPERSEDED})
_MISSING = frozenset({GapState.OPEN, GapState.SHED, GapState.EXPIRED, GapState.SUPERSEDED})
# Epochs known before the batch keep their order; new ones follow, as the batch met them.
_NEW_EPOCH_RANK = 2**62


def ingest_batch(ledger: SqlLedger, events: Sequence[IncomingEvent], now: float) -> tuple[int, int]:
    """Account for valid events, inside one transaction: (stored, duplicates).

    `now` is the hub's wall clock: when the epochs seen in this batch advanced.
    """
    rows = ledger.lock_devices([event.device_id for event in events])
    streams = {device_id: ledger.streams(device_id) for device_id in rows}
    # As read: only what the batch changed is written back.
    before = {(s.device_id, s.epoch): replace(s) for found in streams.values() for s in found}
    met: dict[tuple[str, str], int] = {}
    for event in events:
        met.setdefault((event.device_id, event.epoch), len(met))

    def order(event: IncomingEvent) -> tuple[str, int, int]:
        known = _find(streams[event.device_id], event.epoch)
        rank = known.rank if known else _NEW_EPOCH_RANK + met[(event.device_id, event.epoch)]
        return event.device_id, rank, event.sequence

    stored = duplicates = 0
    # In sequence order, an in-order batch never opens a gap it closes itself.
    for event in sorted(events, key=order):
        row = rows[event.device_id]
        row.store_id = event.store_id
        device_streams = streams[event.device_id]
        stream = _find(device_streams, event.epoch) or _open(ledger, device_streams, event, now)
        if event.previous_epoch is not None:
            _note_previous(ledger, device_streams, stream, event.previous_epoch)
        if ledger.insert_event(event):
            row.events_stored += 1
            stored += 1
            for first, last in event.shed:
                _note_shed(ledger, stream, first, last)
        else:
            row.duplicates_dropped += 1
            duplicates += 1
        # A duplicate too: re-enveloped into a new epoch, it takes its place there.
        _note_sequence(ledger, stream, event.sequence, now)
    for row in rows.values():
        touched = {epoch for device_id, epoch in met if device_id == row.device_id}
        _settle(ledger, row, streams[row.device_id], touched, before, now)
    return stored, duplicates


def _find(streams: Sequence[StreamRow], epoch: str) -> StreamRow | None:
    return next((stream for stream in streams if stream.epoch == epoch), None)


def _open(
    ledger: SqlLedger, streams: list[StreamRow], event: IncomingEvent, now: float
) -> StreamRow:
    """The first event of an epoch: it replaces the device's other epochs, unless one of
    them already named it as the epoch it replaced (late events of an old epoch)."""
    rank = max((stream.rank for stream in streams), default=0) + 1
    stream = StreamRow(event.device_id, event.epoch, rank, first_seen_at=now)
    successor = next((other for other in streams if other.previous == event.epoch), None)
    if successor is not None:
        stream.closed_by = successor.epoch
    else:
        for other in streams:
            if other.closed_by is None:
                _close(ledger, other, event.epoch)
    streams.append(stream)
    return stream


def _note_previous(
    ledger: SqlLedger, streams: list[StreamRow], stream: StreamRow, previous: str
) -> None:
    """The stream's epoch event names the epoch it replaced: that one is closed by it."""
    if stream.previous is None:
        stream.previous = previous
    replaced = _find(streams, previous)
    if replaced is None or replaced is stream:
        return
    if stream.closed_by == replaced.epoch:  # heard in the other order: set it right
        stream.closed_by = None
    if replaced.closed_by != stream.epoch:
        _close(ledger, replaced, stream.epoch)


def _close(ledger: SqlLedger, stream: StreamRow, by: str) -> None:
    stream.closed_by = by
    ledger.supersede_open(stream.device_id, stream.epoch)


def _note_shed(ledger: SqlLedger, stream: StreamRow, first: int, last: int) -> None:
    """A report names first..last shed: remember it, and repaint what is already open."""
    known = ledger.shed_near(stream.device_id, stream.epoch, first, last)
    spans = union([*known, (first, last)])
    if spans != known:
        ledger.replace_shed(stream.device_id, stream.epoch, known, spans)
    seen_last = min(last, stream.highest)  # beyond `highest`, the gap is not seen yet
    if first <= seen_last:
        _repaint(ledger, stream, first, seen_last, GapState.SHED, _LOST)


def _note_sequence(ledger: SqlLedger, stream: StreamRow, sequence: int, now: float) -> None:
    """An event at `sequence`: it opens a gap past `highest`, or fills one below."""
    if sequence > stream.highest:
        if sequence > stream.highest + 1:
            first, last = stream.highest + 1, sequence - 1
            device, epoch = stream.device_id, stream.epoch
            near = ledger.runs_near(device, epoch, first, last)
            shed = ledger.shed_near(device, epoch, first, last)
            ledger.replace_runs(device, epoch, near, merged([*near, *new_gap(first, last, shed)]))
        stream.highest = sequence
        stream.advanced_at = now
    else:
        _repaint(ledger, stream, sequence, sequence, GapState.RECOVERED, _MISSING)


def _settle(
    ledger: SqlLedger,
    row: DeviceRow,
    streams: list[StreamRow],
    touched: set[str],
    before: dict[tuple[str, str], StreamRow],
    now: float,
) -> None:
    """Write the device's streams and figures back, and say if two kiosks share it."""
    for stream in streams:
        if stream.epoch in touched:
            if stream.closed_by is not None:  # a gap of an epoch left: nobody to ask
                ledger.supersede_open(stream.device_id, stream.epoch)
            lowest_open = ledger.first_open(stream.device_id, stream.epoch)
            stream.last_contiguous = stream.highest if lowest_open is None else lowest_open - 1
        if before.get((stream.device_id, stream.epoch)) != stream:
            ledger.save_stream(stream)
    live = current(streams)
    if live is not None:
        row.epoch = live.epoch
        row.highest = live.highest
        row.last_contiguous = live.last_contiguous
    pair = twins(streams, now)
    if pair is not None:
        older, newer = pair
        named = f"{older.epoch or '-'} {newer.epoch or '-'}"
        if row.twins != named:
            log.warning(
                "hub: two kiosks publish as device %r: stream epochs %s and %s both advance",
                row.device_id,
                older.epoch or "(none)",
                newer.epoch or "(none)",
            )
        row.twins = named
        row.twins_at = now
    ledger.save_device(row)


def expire_runs(
    ledger: SqlLedger, device_id: str, runs: Sequence[tuple[int, int]], epoch: str | None
) -> None:
    """The device no longer keeps these of `epoch` (None: its current one): what is
    still open of them is expired."""
    (row,) = ledger.lock_devices([device_id]).values()
    streams = ledger.streams(device_id)
    stream = _find(streams, row.epoch if epoch is None else epoch)
    if stream is None:
        return  # an epoch the hub never heard of has nothing open
    for first, last in runs:
        _repaint(ledger, stream, first, last, GapState.EXPIRED, frozenset({GapState.OPEN}))
    lowest_open = ledger.first_open(device_id, stream.epoch)
    stream.last_contiguous = stream.highest if lowest_open is None else lowest_open - 1
    ledger.save_stream(stream)
    if stream.epoch == row.epoch:
        row.last_contiguous = stream.last_contiguous
        ledger.save_device(row)


def _repaint(
    ledger: SqlLedger,
    stream: StreamRow,
    first: int,
    last: int,
    state: GapState,
    over: frozenset[GapState],
) -> None:
    near = ledger.runs_near(stream.device_id, stream.epoch, first, last)
    painted = repaint(near, first, last, state, over)
    if painted != near:
        ledger.replace_runs(stream.device_id, stream.epoch, near, painted)
