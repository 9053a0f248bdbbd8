"""The store's rows, read and written in SQL that SQLite and PostgreSQL both speak.

A device's sequences are followed per stream epoch (`streams`): each epoch starts at
1, and its gaps and shed reports are its own.

A `Dialect` carries the little that differs (row locks, how times are kept);
placeholders are sqlite3's `?`, which the PostgreSQL backend turns into `%s`.
Every method runs inside the caller's transaction.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from edge.hub.store.epochs import StreamRow
from edge.hub.store.incoming import IncomingEvent
from edge.hub.store.model import DeviceStatus, Gap, GapCount, StoredEvent
from edge.hub.store.ranges import GapState, Run

Execute = Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]


@dataclass(frozen=True, slots=True)
class Dialect:
    """What differs between the two databases, and nothing else."""

    lock_rows: str  # appended to the SELECT that reads the devices a batch touches
    time_in: Callable[[datetime], Any]
    time_out: Callable[[Any], datetime]


@dataclass(slots=True)
class DeviceRow:
    """A device's figures while its batch is accounted."""

    device_id: str
    store_id: str | None
    highest: int  # of the current epoch's stream, as are the two below
    last_contiguous: int
    events_stored: int
    duplicates_dropped: int
    epoch: str  # the current stream epoch: the one first heard last
    twins: str | None  # "older newer": two epochs advancing at once, or None
    twins_at: float | None  # when they last did


_DEVICE_FIGURES = (
    "device_id, store_id, highest, last_contiguous, events_stored, duplicates_dropped,"
    " epoch, twins, twins_at"
)
_STREAM_FIGURES = (
    "device_id, epoch, rank, highest, last_contiguous, first_seen_at, advanced_at,"
    " closed_by, previous"
)


# The events the stores' advisor call queues are made of (edge.hub.assist_queue). The
# list is written out in the SQL as constants, the same as in the partial index over
# them (`events_for_assist`), so that both databases use that index; an event of any
# other type costs the index nothing at ingest.
ASSIST_EVENT_TYPES = (
    "io.borne.assist.requested",
    "io.borne.assist.taken",
    "io.borne.session.ended",
)
ASSIST_TYPES_SQL = ", ".join(f"'{kind}'" for kind in ASSIST_EVENT_TYPES)
ASSIST_INDEX = (
    "CREATE INDEX IF NOT EXISTS events_for_assist ON events (time)"
    f" WHERE type IN ({ASSIST_TYPES_SQL})"
)

# The events that open and close a staff member's session on a kiosk: the hub answers a
# staff request only for a badge logged in at the asking kiosk (edge.hub.staff_requests).
STAFF_SESSION_TYPES = (
    "io.borne.staff.logged_in",
    "io.borne.staff.logged_out",
    "io.borne.staff.locked_out",
)
STAFF_SESSION_TYPES_SQL = ", ".join(f"'{kind}'" for kind in STAFF_SESSION_TYPES)
STAFF_SESSION_INDEX = (
    "CREATE INDEX IF NOT EXISTS events_for_staff_sessions ON events (device_id, time)"
    f" WHERE type IN ({STAFF_SESSION_TYPES_SQL})"
)


class SqlLedger:
    """A device's rows, read and written inside one transaction."""

    def __init__(self, execute: Execute, dialect: Dialect) -> None:
        self._execute = execute
        self._dialect = dialect

    def lock_devices(self, device_ids: Sequence[str]) -> dict[str, DeviceRow]:
        """The rows of these devices (created if new), locked until the transaction ends."""
        ordered = sorted(set(device_ids))  # one lock order for every process: no deadlock
        for device_id in ordered:
            self._execute(
                "INSERT INTO devices (device_id) VALUES (?) ON CONFLICT DO NOTHING", [device_id]
            )
        rows: dict[str, DeviceRow] = {}
        for device_id in ordered:
            (found,) = self._execute(
                # Constant fragments only (S608): every value is a bound parameter.
                f"SELECT {_DEVICE_FIGURES} FROM devices WHERE device_id = ?"  # noqa: S608
                f"{self._dialect.lock_rows}",
                [device_id],
            )
            rows[device_id] = DeviceRow(*found)
        return rows

    def save_device(self, row: DeviceRow) -> None:
        """Write a device's figures back."""
        self._execute(
            "UPDATE devices SET store_id = ?, highest = ?, last_contiguous = ?,"
            " events_stored = ?, duplicates_dropped = ?, epoch = ?, twins = ?, twins_at = ?"
            " WHERE device_id = ?",
            [
                row.store_id,
                row.highest,
                row.last_contiguous,
                row.events_stored,
                row.duplicates_dropped,
                row.epoch,
                row.twins,
                row.twins_at,
                row.device_id,
            ],
        )

    def streams(self, device_id: str) -> list[StreamRow]:
        """The device's stream epochs, oldest first (by when the hub first heard them)."""
        found = self._execute(
            # Constant fragments only (S608): every value is a bound parameter.
            f"SELECT {_STREAM_FIGURES} FROM streams WHERE device_id = ?"  # noqa: S608
            " ORDER BY rank",
            [device_id],
        )
        return [StreamRow(*row) for row in found]

    def save_stream(self, row: StreamRow) -> None:
        """Write a stream's figures (its device's row is locked by the caller)."""
        self._execute(
            # Constant fragments only (S608): every value is a bound parameter.
            f"INSERT INTO streams ({_STREAM_FIGURES}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"  # noqa: S608
            " ON CONFLICT (device_id, epoch) DO UPDATE SET rank = excluded.rank,"
            " highest = excluded.highest, last_contiguous = excluded.last_contiguous,"
            " first_seen_at = excluded.first_seen_at, advanced_at = excluded.advanced_at,"
            " closed_by = excluded.closed_by, previous = excluded.previous",
            [
                row.device_id,
                row.epoch,
                row.rank,
                row.highest,
                row.last_contiguous,
                row.first_seen_at,
                row.advanced_at,
                row.closed_by,
                row.previous,
            ],
        )

    def supersede_open(self, device_id: str, epoch: str) -> None:
        """The device left this epoch: its open runs can no longer be asked for.

        No two open runs touch, so no two runs made superseded here touch either.
        """
        self._execute(
            "UPDATE gaps SET state = 'superseded'"
            " WHERE device_id = ? AND epoch = ? AND state = 'open'",
            [device_id, epoch],
        )

    def assist_events(self, store_id: str, since: datetime) -> list[StoredEvent]:
        """The store's events of ASSIST_EVENT_TYPES from `since` on, oldest first."""
        prefix = f"/stores/{store_id}/devices/"
        found = self._execute(
            # Constant fragments only (S608): every value is a bound parameter.
            "SELECT device_id, id, type, time, event FROM events"  # noqa: S608
            f" WHERE type IN ({ASSIST_TYPES_SQL}) AND time >= ?"
            " AND substr(source, 1, ?) = ?",
            [self._dialect.time_in(since), len(prefix), prefix],
        )
        events = []
        for device_id, event_id, kind, time, event in found:
            decoded = json.loads(event) if isinstance(event, str | bytes) else event
            data = decoded.get("data") if isinstance(decoded, dict) else None
            moment = self._dialect.time_out(time)
            events.append(StoredEvent(device_id, str(event_id), kind, moment, data))
        return sorted(events, key=lambda stored: (stored.time, stored.id))

    def staff_sessions(self, device_id: str, since: datetime) -> list[StoredEvent]:
        """The device's events of STAFF_SESSION_TYPES from `since` on, in its order."""
        found = self._execute(
            # Constant fragments only (S608): every value is a bound parameter.
            "SELECT id, type, time, sequence, event FROM events"  # noqa: S608
            f" WHERE device_id = ? AND type IN ({STAFF_SESSION_TYPES_SQL}) AND time >= ?",
            [device_id, self._dialect.time_in(since)],
        )
        ordered = []
        for event_id, kind, time, sequence, event in found:
            decoded = json.loads(event) if isinstance(event, str | bytes) else event
            data = decoded.get("data") if isinstance(decoded, dict) else None
            moment = self._dialect.time_out(time)
            stored = StoredEvent(device_id, str(event_id), kind, moment, data)
            ordered.append((moment, int(sequence), stored))
        # The kiosk's clock orders its events; its sequence those of the same instant.
        return [stored for _, _, stored in sorted(ordered, key=lambda row: row[:2])]

    def insert_event(self, event: IncomingEvent) -> bool:
        """Store the event; False if (source, id) was already stored."""
        inserted = self._execute(
            "INSERT INTO events (source, id, device_id, type, sequence, time, event, epoch)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING sequence",
            [
                event.source,
                event.id,
                event.device_id,
                event.type,
                event.sequence,
                self._dialect.time_in(event.time),
                event.json,
                event.epoch,
            ],
        )
        return bool(inserted)

    def runs_near(self, device_id: str, epoch: str, first: int, last: int) -> list[Run]:
        """The stream's gap runs that overlap or touch first..last."""
        found = self._execute(
            "SELECT first_sequence, last_sequence, state FROM gaps WHERE device_id = ?"
            " AND epoch = ? AND last_sequence >= ? AND first_sequence <= ?",
            [device_id, epoch, first - 1, last + 1],
        )
        return sorted(Run(low, high, GapState(state)) for low, high, state in found)

    def replace_runs(
        self, device_id: str, epoch: str, old: Sequence[Run], new: Sequence[Run]
    ) -> None:
        """Put `new` where `old` was, in the stream."""
        for run in old:
            self._execute(
                "DELETE FROM gaps WHERE device_id = ? AND epoch = ? AND first_sequence = ?",
                [device_id, epoch, run.first],
            )
        for run in new:
            self._execute(
                "INSERT INTO gaps (device_id, epoch, first_sequence, last_sequence, state)"
                " VALUES (?, ?, ?, ?, ?)",
                [device_id, epoch, run.first, run.last, run.state.value],
            )

    def shed_near(self, device_id: str, epoch: str, first: int, last: int) -> list[tuple[int, int]]:
        """Spans named shed by the stream's reports that overlap or touch first..last."""
        found = self._execute(
            "SELECT first_sequence, last_sequence FROM shed_reported WHERE device_id = ?"
            " AND epoch = ? AND last_sequence >= ? AND first_sequence <= ?",
            [device_id, epoch, first - 1, last + 1],
        )
        return sorted((low, high) for low, high in found)

    def replace_shed(
        self,
        device_id: str,
        epoch: str,
        old: Sequence[tuple[int, int]],
        new: Sequence[tuple[int, int]],
    ) -> None:
        """Put the spans `new` where `old` were, in the stream."""
        for first, _ in old:
            self._execute(
                "DELETE FROM shed_reported"
                " WHERE device_id = ? AND epoch = ? AND first_sequence = ?",
                [device_id, epoch, first],
            )
        for first, last in new:
            self._execute(
                "INSERT INTO shed_reported (device_id, epoch, first_sequence, last_sequence)"
                " VALUES (?, ?, ?, ?)",
                [device_id, epoch, first, last],
            )

    def first_open(self, device_id: str, epoch: str) -> int | None:
        """The lowest sequence of the stream still missing for no known reason."""
        ((lowest,),) = self._execute(
            "SELECT MIN(first_sequence) FROM gaps"
            " WHERE device_id = ? AND epoch = ? AND state = 'open'",
            [device_id, epoch],
        )
        return None if lowest is None else int(lowest)

    def devices_with_open_gaps(self) -> list[str]:
        """Online devices (by their retained state) with at least one open gap."""
        found = self._execute(
            "SELECT DISTINCT g.device_id FROM gaps g JOIN devices d ON d.device_id = g.device_id"
            " WHERE g.state = 'open' AND d.state = 'online' ORDER BY g.device_id",
            [],
        )
        return [device for (device,) in found]

    def forget_settled_asks(self) -> None:
        """Asks of devices with nothing open any more: a later gap starts afresh."""
        self._execute(
            "DELETE FROM asks WHERE device_id NOT IN"
            " (SELECT device_id FROM gaps WHERE state = 'open')",
            [],
        )

    def claim_ask(
        self, device_id: str, hub_id: str, now: float, noticed_before: float, asked_before: float
    ) -> bool:
        """Take the device's ask for `hub_id` if it is due; False if not (or another took it).

        The row is noticed the first time; the UPDATE's condition is checked again
        after any concurrent claim commits, so only one process wins.
        """
        self._execute(
            "INSERT INTO asks (device_id, noticed_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
            [device_id, now],
        )
        claimed = self._execute(
            "UPDATE asks SET asked_at = ?, asked_by = ?, asks = asks + 1 WHERE device_id = ?"
            " AND noticed_at <= ? AND (asked_at IS NULL OR asked_at <= ?) RETURNING device_id",
            [now, hub_id, device_id, noticed_before, asked_before],
        )
        return bool(claimed)

    def set_state(self, device_id: str, state: str, boot: int | None, at: datetime) -> None:
        """Record the retained state unless the device row holds a later one."""
        self.lock_devices([device_id])
        ((known_at,),) = self._execute(
            "SELECT state_at FROM devices WHERE device_id = ?", [device_id]
        )
        if known_at is not None and self._dialect.time_out(known_at) > at:
            return  # a hub process that lagged behind: the newer state stands
        # An `offline` carries no boot: the device keeps the boot that state ends.
        self._execute(
            "UPDATE devices SET state = ?, boot = COALESCE(?, boot), state_at = ?"
            " WHERE device_id = ?",
            [state, boot, self._dialect.time_in(at), device_id],
        )

    def statuses(self, device_id: str | None = None) -> list[DeviceStatus]:
        """Every device's figures (or one device's), by device id."""
        where, params = (
            ("WHERE d.device_id = ?", [device_id]) if device_id is not None else ("", [])
        )
        found = self._execute(
            "SELECT d.device_id, d.store_id, d.highest, d.last_contiguous,"  # noqa: S608
            " d.events_stored, d.duplicates_dropped, d.state, d.boot, d.state_at,"
            " d.epoch, d.twins, d.twins_at,"
            " (SELECT COUNT(*) FROM streams s WHERE s.device_id = d.device_id),"
            " g.state, COUNT(g.state), SUM(g.last_sequence - g.first_sequence + 1)"
            f" FROM devices d LEFT JOIN gaps g ON g.device_id = d.device_id {where}"
            " GROUP BY d.device_id, d.store_id, d.highest, d.last_contiguous,"
            " d.events_stored, d.duplicates_dropped, d.state, d.boot, d.state_at,"
            " d.epoch, d.twins, d.twins_at, g.state"
            " ORDER BY d.device_id",
            params,
        )
        counts: dict[str, dict[str, GapCount]] = {}
        figures: dict[str, tuple[Any, ...]] = {}
        for *device, gap_state, runs, sequences in found:
            figures[device[0]] = tuple(device)
            if gap_state is not None:
                counts.setdefault(device[0], {})[gap_state] = GapCount(runs, int(sequences))
        return [
            self._status(device, counts.get(name, {})) for name, device in sorted(figures.items())
        ]

    def _status(self, device: tuple[Any, ...], counts: dict[str, GapCount]) -> DeviceStatus:
        device_id, store_id, highest, contiguous, stored, duplicates, state, boot, at = device[:9]
        epoch, twins, twins_at, epochs = device[9:]
        return DeviceStatus(
            device_id=device_id,
            store_id=store_id,
            last_contiguous=contiguous,
            highest=highest,
            events_stored=stored,
            duplicates_dropped=duplicates,
            open=counts.get(GapState.OPEN.value, GapCount()),
            shed=counts.get(GapState.SHED.value, GapCount()),
            recovered=counts.get(GapState.RECOVERED.value, GapCount()),
            expired=counts.get(GapState.EXPIRED.value, GapCount()),
            state=state,
            boot=boot,
            state_at=None if at is None else self._dialect.time_out(at),
            epoch=epoch,
            epochs=int(epochs),
            superseded=counts.get(GapState.SUPERSEDED.value, GapCount()),
            # Kept as "older newer", "-" for the epoch of kiosks without one.
            twin_epochs=tuple("" if e == "-" else e for e in twins.split()) if twins else (),
            twins_seen_at=None if twins_at is None else float(twins_at),
        )

    def gaps(self, device_id: str | None, state: GapState | None) -> list[Gap]:
        """Gap runs of one device or all, of one state or all, by device then sequence."""
        conditions, params = [], []
        if device_id is not None:
            conditions.append("g.device_id = ?")
            params.append(device_id)
        if state is not None:
            conditions.append("g.state = ?")
            params.append(state.value)
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        found = self._execute(
            # Constant fragments only (S608): every value is a bound parameter.
            "SELECT g.device_id, d.store_id, g.first_sequence, g.last_sequence,"  # noqa: S608
            f" g.state, g.epoch FROM gaps g JOIN devices d ON d.device_id = g.device_id"
            " LEFT JOIN streams s ON s.device_id = g.device_id AND s.epoch = g.epoch"
            f" {where} ORDER BY g.device_id, s.rank, g.first_sequence",
            params,
        )
        return [
            Gap(device, store, first, last, GapState(run), epoch)
            for device, store, first, last, run, epoch in found
        ]
