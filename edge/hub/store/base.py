"""What both SQL backends do the same way, over their own transactions and errors."""

from __future__ import annotations

import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime

from edge.hub.store.accounting import expire_runs, ingest_batch
from edge.hub.store.errors import MalformedStateError, UnknownDeviceError
from edge.hub.store.incoming import TOPIC_LEVEL, IncomingEvent, RawEvent
from edge.hub.store.ingest import validate_batch
from edge.hub.store.ledger import SqlLedger
from edge.hub.store.model import DeviceStatus, Gap, IngestResult, ReplayAsk, StoredEvent
from edge.hub.store.ranges import GapState

DEVICE_STATES = frozenset({"online", "offline"})
# One ask names at most this much, as the kiosk's replay request allows (edge.replay):
# the rest of a long gap is asked for next time.
ASK_MAX_RANGES = 64
ASK_MAX_SEQUENCES = 1000


def bounded(gaps: Sequence[Gap]) -> tuple[tuple[int, int], ...]:
    """The first runs of `gaps`, cut to what one ask may name."""
    runs: list[tuple[int, int]] = []
    budget = ASK_MAX_SEQUENCES
    for gap in gaps[:ASK_MAX_RANGES]:
        if budget <= 0:
            break
        last = min(gap.last, gap.first + budget - 1)
        runs.append((gap.first, last))
        budget -= last - gap.first + 1
    return tuple(runs)


class SqlEventStore(ABC):
    """The `EventStore` on a database that speaks the ledger's SQL.

    One object may be shared by threads: each call runs alone on its connection.
    `clock` is the wall clock shared by the hub processes: when streams advanced.
    """

    def __init__(self, ledger: SqlLedger, clock: Callable[[], float] = time.time) -> None:
        self._ledger = ledger
        self._clock = clock

    @abstractmethod
    def _writing(self, what: str) -> AbstractContextManager[None]:
        """One transaction that holds the write locks; the database's errors made Borne's."""

    @abstractmethod
    def _reading(self, what: str) -> AbstractContextManager[None]:
        """Reads on the connection; the database's errors made Borne's."""

    @abstractmethod
    def close(self) -> None:
        """Release the database connection."""

    def ingest(self, events: Sequence[RawEvent | IncomingEvent]) -> IngestResult:
        """Store a batch in one transaction; malformed events are refused alone."""
        valid, refused = validate_batch(events)
        if not valid:
            return IngestResult(stored=0, duplicates=0, refused=refused)
        with self._writing("storing events"):
            stored, duplicates = ingest_batch(self._ledger, valid, self._clock())
        return IngestResult(stored=stored, duplicates=duplicates, refused=refused)

    def set_device_state(self, device_id: str, state: str, boot: int | None, at: datetime) -> None:
        """Record a device's retained online/offline state, unless a later one is known."""
        if not re.fullmatch(TOPIC_LEVEL, device_id):
            raise MalformedStateError("device", "not one MQTT topic level")
        if state not in DEVICE_STATES:
            raise MalformedStateError("state", "must be 'online' or 'offline'")
        if boot is not None and (type(boot) is not int or not 1 <= boot < 2**63):
            raise MalformedStateError("boot", "must be a positive integer")
        if at.tzinfo is None:
            raise MalformedStateError("at", "must carry its time zone")
        with self._writing("recording a device's state"):
            self._ledger.set_state(device_id, state, boot, at)

    def device_status(self, device_id: str) -> DeviceStatus:
        """One device's figures; `UnknownDeviceError` if never heard of."""
        with self._reading("reading a device's figures"):
            found = self._ledger.statuses(device_id)
        if not found:
            raise UnknownDeviceError(device_id)
        return found[0]

    def devices(self) -> list[DeviceStatus]:
        """Every device's figures, by device id."""
        with self._reading("reading the devices' figures"):
            return self._ledger.statuses()

    def gaps(self, device_id: str) -> list[Gap]:
        """Every run of a device's missing sequences, in order, whatever its state."""
        with self._reading("reading a device's gaps"):
            return self._ledger.gaps(device_id, None)

    def claim_asks(
        self, hub_id: str, now: float, *, ask_after: float, ask_every: float
    ) -> list[ReplayAsk]:
        """Claim, for `hub_id`, the asks that are due: online devices whose open gaps are
        older than `ask_after` and not asked for in the last `ask_every` seconds.

        The claim is a row per device (who asked, when): hub processes sharing the
        store never ask for the same device at once.
        """
        claimed: list[ReplayAsk] = []
        with self._writing("claiming asks for missing events"):
            self._ledger.forget_settled_asks()
            for device_id in self._ledger.devices_with_open_gaps():
                if self._ledger.claim_ask(device_id, hub_id, now, now - ask_after, now - ask_every):
                    gaps = self._ledger.gaps(device_id, GapState.OPEN)
                    # Only the current epoch has open gaps; one ask names one epoch.
                    epoch = gaps[-1].epoch
                    gaps = [gap for gap in gaps if gap.epoch == epoch]
                    claimed.append(
                        ReplayAsk(device_id, gaps[0].store_id, bounded(gaps), epoch=epoch)
                    )
        return claimed

    def expire(
        self, device_id: str, ranges: Sequence[tuple[int, int]], epoch: str | None = None
    ) -> None:
        """The device no longer keeps these sequences of `epoch` (None: its current one):
        what is still open of them becomes expired."""
        if not re.fullmatch(TOPIC_LEVEL, device_id):
            raise MalformedStateError("device", "not one MQTT topic level")
        with self._writing("expiring what a device no longer keeps"):
            expire_runs(self._ledger, device_id, ranges, epoch)

    def assist_events(self, store_id: str, since: datetime) -> list[StoredEvent]:
        """The store's advisor calls, takes and session ends from `since` on, oldest first."""
        with self._reading("reading a store's advisor calls"):
            return self._ledger.assist_events(store_id, since)

    def staff_sessions(self, device_id: str, since: datetime) -> list[StoredEvent]:
        """The device's staff logins, logouts and lockouts from `since` on, in order."""
        with self._reading("reading a kiosk's staff sessions"):
            return self._ledger.staff_sessions(device_id, since)

    def open_gaps(self) -> list[Gap]:
        """What to ask the devices for again, by device then sequence."""
        with self._reading("reading the open gaps"):
            return self._ledger.gaps(None, GapState.OPEN)
