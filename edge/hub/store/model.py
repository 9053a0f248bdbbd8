"""What the hub's event store answers, and the interface both backends implement."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from edge.hub.store.errors import MalformedEventError
from edge.hub.store.incoming import NO_EPOCH, IncomingEvent, RawEvent
from edge.hub.store.ranges import GapState


@dataclass(frozen=True, slots=True)
class Refusal:
    """An event of a batch that was not stored, and why."""

    index: int  # its place in the batch
    error: MalformedEventError


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What one batch did to the store."""

    stored: int
    duplicates: int
    refused: tuple[Refusal, ...] = ()


@dataclass(frozen=True, slots=True)
class Gap:
    """A run of a device's missing sequences and what became of it."""

    device_id: str
    store_id: str
    first: int
    last: int
    state: GapState
    epoch: str = NO_EPOCH  # the stream the sequences belong to

    @property
    def size(self) -> int:
        """How many sequences the run holds."""
        return self.last - self.first + 1


@dataclass(frozen=True, slots=True)
class GapCount:
    """Runs of one state, and how many sequences they hold."""

    runs: int = 0
    sequences: int = 0


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    """What the hub knows of one device: its events, its gaps, its link state."""

    device_id: str
    store_id: str | None  # None until the device's first event
    last_contiguous: int  # every sequence up to here is stored or shed
    highest: int  # the highest sequence seen
    events_stored: int
    duplicates_dropped: int
    open: GapCount
    shed: GapCount
    recovered: GapCount
    expired: GapCount
    state: str | None  # the retained `online` / `offline`, None if never heard
    boot: int | None
    state_at: datetime | None
    epoch: str = NO_EPOCH  # the current stream epoch; the figures above are its own
    epochs: int = 0  # how many stream epochs the hub has heard from this device
    superseded: GapCount = GapCount()  # missing from epochs the device has left
    # Two epochs advancing at once: two kiosks publish under this one identity.
    twin_epochs: tuple[str, ...] = ()
    twins_seen_at: float | None = None  # when both last advanced (hub's wall clock)


@dataclass(frozen=True, slots=True)
class ReplayAsk:
    """A claim to ask one device again for runs of its open gaps."""

    device_id: str
    store_id: str
    ranges: tuple[tuple[int, int], ...]  # [first, last], in order, within the ask's bounds
    epoch: str = NO_EPOCH  # the stream the ranges belong to: the device's current one


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One stored event as the advisor call queue (or a staff session check) reads it."""

    device_id: str
    id: str
    type: str
    time: datetime
    data: Any  # the event's `data`, decoded


class EventStore(Protocol):
    """Where the hub keeps every kiosk event, once, and follows each device's sequence.

    Safe to share between hub processes: each batch is one transaction that locks
    the rows of the devices it touches.
    """

    def ingest(self, events: Sequence[RawEvent | IncomingEvent]) -> IngestResult:
        """Store a batch in one transaction; malformed events are refused alone."""
        ...

    def set_device_state(self, device_id: str, state: str, boot: int | None, at: datetime) -> None:
        """Record a device's retained online/offline state, unless a later one is known."""
        ...

    def device_status(self, device_id: str) -> DeviceStatus:
        """One device's figures; `UnknownDeviceError` if never heard of."""
        ...

    def devices(self) -> list[DeviceStatus]:
        """Every device's figures, by device id."""
        ...

    def gaps(self, device_id: str) -> list[Gap]:
        """Every run of a device's missing sequences, in order, whatever its state."""
        ...

    def open_gaps(self) -> list[Gap]:
        """What to ask the devices for again, by device then sequence."""
        ...

    def claim_asks(
        self, hub_id: str, now: float, *, ask_after: float, ask_every: float
    ) -> list[ReplayAsk]:
        """Claim, for `hub_id`, the asks that are due: online devices whose open gaps are
        older than `ask_after` and not asked for in the last `ask_every` seconds."""
        ...

    def expire(
        self, device_id: str, ranges: Sequence[tuple[int, int]], epoch: str | None = None
    ) -> None:
        """The device no longer keeps these sequences of `epoch` (None: its current one):
        what is still open of them becomes expired."""
        ...

    def assist_events(self, store_id: str, since: datetime) -> list[StoredEvent]:
        """The store's advisor calls, takes and session ends from `since` on, oldest first."""
        ...

    def staff_sessions(self, device_id: str, since: datetime) -> list[StoredEvent]:
        """The device's staff logins, logouts and lockouts from `since` on, in order."""
        ...

    def close(self) -> None:
        """Release the database connection."""
        ...
