"""What each event does to its device's figures and gaps, decided once for both databases.

A device's gaps are runs of missing sequences (see `ranges`). A new event past the
highest sequence seen opens a gap before it, shed where a report already named it;
an event below fills its place in a gap (recovered); a shed report repaints what it
names, and is remembered for gaps not seen yet. "Last contiguous" is the sequence
just before the first open run: everything up to it is stored, shed on purpose, or
expired (the device no longer had it when asked).
"""

from __future__ import annotations

from collections.abc import Sequence

from edge.hub.store.incoming import IncomingEvent
from edge.hub.store.ledger import DeviceRow, SqlLedger
from edge.hub.store.ranges import GapState, merged, new_gap, repaint, union

_LOST = frozenset({GapState.OPEN, GapState.EXPIRED})
_MISSING = frozenset({GapState.OPEN, GapState.SHED, GapState.EXPIRED})


def ingest_batch(ledger: SqlLedger, events: Sequence[IncomingEvent]) -> tuple[int, int]:
    """Account for valid events, inside one transaction: (stored, duplicates)."""
    rows = ledger.lock_devices([event.device_id for event in events])
    stored = duplicates = 0
    # In sequence order, an in-order batch never opens a gap it closes itself.
    for event in sorted(events, key=lambda event: (event.device_id, event.sequence)):
        row = rows[event.device_id]
        row.store_id = event.store_id
        if not ledger.insert_event(event):
            row.duplicates_dropped += 1
            duplicates += 1
            continue
        row.events_stored += 1
        stored += 1
        for first, last in event.shed:
            _note_shed(ledger, row, first, last)
        _note_sequence(ledger, row, event.sequence)
    for row in rows.values():
        lowest_open = ledger.first_open(row.device_id)
        row.last_contiguous = row.highest if lowest_open is None else lowest_open - 1
        ledger.save_device(row)
    return stored, duplicates


def _note_shed(ledger: SqlLedger, row: DeviceRow, first: int, last: int) -> None:
    """A report names first..last shed: remember it, and repaint what is already open."""
    known = ledger.shed_near(row.device_id, first, last)
    spans = union([*known, (first, last)])
    if spans != known:
        ledger.replace_shed(row.device_id, known, spans)
    seen_last = min(last, row.highest)  # beyond `highest`, the gap is not seen yet
    if first <= seen_last:
        _repaint(ledger, row.device_id, first, seen_last, GapState.SHED, _LOST)


def _note_sequence(ledger: SqlLedger, row: DeviceRow, sequence: int) -> None:
    """A new event at `sequence`: it opens a gap past `highest`, or fills one below."""
    if sequence > row.highest:
        if sequence > row.highest + 1:
            first, last = row.highest + 1, sequence - 1
            near = ledger.runs_near(row.device_id, first, last)
            shed = ledger.shed_near(row.device_id, first, last)
            ledger.replace_runs(row.device_id, near, merged([*near, *new_gap(first, last, shed)]))
        row.highest = sequence
    else:
        _repaint(ledger, row.device_id, sequence, sequence, GapState.RECOVERED, _MISSING)


def expire_runs(ledger: SqlLedger, device_id: str, runs: Sequence[tuple[int, int]]) -> None:
    """The device no longer keeps these: what is still open of them is expired."""
    (row,) = ledger.lock_devices([device_id]).values()
    for first, last in runs:
        _repaint(ledger, device_id, first, last, GapState.EXPIRED, frozenset({GapState.OPEN}))
    lowest_open = ledger.first_open(device_id)
    row.last_contiguous = row.highest if lowest_open is None else lowest_open - 1
    ledger.save_device(row)


def _repaint(
    ledger: SqlLedger,
    device_id: str,
    first: int,
    last: int,
    state: GapState,
    over: frozenset[GapState],
) -> None:
    near = ledger.runs_near(device_id, first, last)
    painted = repaint(near, first, last, state, over)
    if painted != near:
        ledger.replace_runs(device_id, near, painted)
