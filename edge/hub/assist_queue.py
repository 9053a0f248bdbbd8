"""Each store's advisor call queue, derived from the hub's event store and published.

Open calls are the `io.borne.assist.requested` events of the last 30 minutes that are
not followed by their device's `io.borne.session.ended` and were not taken more than 10
minutes ago (`io.borne.assist.taken` names the call by its event id). The queue is
computed from the event store, never kept in memory: hub processes sharing the events'
subscription agree, and a restarted hub forgets nothing. After it ingests one of those
events the hub publishes the store's queue, retained, QoS 1, on
`borne/v1/stores/{store}/assist`, for every kiosk of the store (docs/asyncapi.yaml).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from edge.hub.store import EventStore, HubStoreError, StoredEvent
from edge.hub.streams import StreamStoreError
from edge.hub.streams.lookups import StaffLookups
from edge.hub.streams.values import rfc3339
from edge.staff.wire import assist_topic

log = logging.getLogger(__name__)

REQUESTED = "io.borne.assist.requested"
TAKEN = "io.borne.assist.taken"
ENDED = "io.borne.session.ended"
CALLS_LAST = timedelta(minutes=30)  # a call older than this is no longer anyone's
TAKEN_SHOWN = timedelta(minutes=10)  # a taken call stays listed (who took it) this long
# Kiosks' clocks may drift: the database is read a little wider, the rule applied here.
_READ_MARGIN = timedelta(hours=1)

Publish = Callable[[str, bytes], bool]  # topic, payload -> handed to the broker
# What a kiosk's event may name as the product it calls about: one bad event must not
# make every kiosk of the store refuse the queue it is published in for 30 minutes.
_GTIN = re.compile(r"[0-9]{8,14}")


@dataclass(slots=True)
class OpenCall:
    """A call of the queue while it is worked out."""

    call: str  # the assist.requested event's id
    device: str
    since: datetime
    gtin: str | None
    taken_by: str | None = None  # the badge pseudonym of who took it
    taken_at: datetime | None = None


def open_calls(events: Iterable[StoredEvent], now: datetime) -> list[OpenCall]:
    """The store's open calls, oldest first, from its assist and session-end events."""
    calls: dict[str, OpenCall] = {}
    for event in sorted(events, key=lambda stored: (stored.time, stored.id)):
        data = event.data if isinstance(event.data, dict) else {}
        if event.type == REQUESTED:
            gtin = data.get("gtin")
            valid = isinstance(gtin, str) and _GTIN.fullmatch(gtin) is not None
            calls[event.id] = OpenCall(
                event.id, event.device_id, event.time, gtin if valid else None
            )
        elif event.type == ENDED:
            # The shopper who called has gone: their calls go with them.
            for key in [key for key, call in calls.items() if call.device == event.device_id]:
                del calls[key]
        elif event.type == TAKEN:
            call = calls.get(str(data.get("call")))
            staff = data.get("staff")
            if call is not None and call.taken_by is None and isinstance(staff, str):
                call.taken_by, call.taken_at = staff, event.time
    return [
        call
        for call in calls.values()
        if call.since >= now - CALLS_LAST
        and (call.taken_at is None or call.taken_at >= now - TAKEN_SHOWN)
    ]


def queue_document(
    store_id: str,
    calls: Sequence[OpenCall],
    now: datetime,
    titles: dict[str, str],
    names: dict[str, str],
) -> dict[str, Any]:
    """The queue message: `titles` by GTIN-14, the takers' `names` by badge pseudonym."""
    return {
        "store": store_id,
        "at": rfc3339(now),
        "calls": [
            {
                "call": call.call,
                "device": call.device,
                "since": rfc3339(call.since),
                "gtin": call.gtin,
                "title": None if call.gtin is None else titles.get(_gtin14(call.gtin)),
                "taken_by": None if call.taken_by is None else names.get(call.taken_by),
            }
            for call in calls
        ],
    }


def _gtin14(gtin: str) -> str:
    """The hub's catalog keys products by GTIN-14; a kiosk may name a GTIN-13."""
    return gtin.zfill(14) if gtin.isdigit() else gtin


def compute_queue(
    events: EventStore, lookups: StaffLookups, store_id: str, now: datetime
) -> dict[str, Any]:
    """A store's queue document, read from the event store (blocking)."""
    calls = open_calls(events.assist_events(store_id, now - CALLS_LAST - _READ_MARGIN), now)
    titles = lookups.titles({_gtin14(call.gtin) for call in calls if call.gtin is not None})
    names = lookups.staff_names({call.taken_by for call in calls if call.taken_by is not None})
    return queue_document(store_id, calls, now, titles, names)


class AssistQueues:
    """Publishes the queue of each store noticed, once per burst, until cancelled.

    A store's queue is published at most once per `EVERY` seconds: a fleet's burst of
    session ends (one per shopper) must not have the hub read its events back as often
    as it writes them. A call shows on the store's screens that much later at most.
    """

    EVERY = 0.5  # seconds between two rounds of publishing
    # A store whose queue holds calls is published again this often even without news:
    # its calls age out (30 minutes, 10 once taken) with no event to say so.
    REFRESH = 60.0

    def __init__(
        self,
        events: EventStore,
        lookups: StaffLookups,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        every: float = EVERY,
        refresh: float = REFRESH,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._events = events
        self._lookups = lookups
        self._now = now
        self._every = every
        self._refresh = refresh
        self._clock = clock
        self._refreshed_at = clock()
        self._pending: set[str] = set()
        self._with_calls: set[str] = set()  # stores whose last queue held calls
        self._woken = asyncio.Event()
        self.published = 0

    def notice(self, stores: Iterable[str]) -> None:
        """These stores' queues changed (on the asyncio loop, after their events' commit)."""
        self._pending.update(stores)
        if self._pending:
            self._woken.set()

    async def run(self, publish: Publish) -> None:
        """Publish every store noticed, and those with calls when they are due, until
        cancelled."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._woken.wait(), self._until_refresh())
            self._woken.clear()
            if self._clock() >= self._refreshed_at + self._refresh:
                # Due whatever else comes: in a fleet some store always has news, and
                # the calls of the quiet ones must still age out on their screens.
                self._pending |= self._with_calls
                self._refreshed_at = self._clock()
            stores, self._pending = sorted(self._pending), set()
            for store_id in stores:
                await self._publish_store(store_id, publish)
            await asyncio.sleep(self._every)  # what comes meanwhile goes in the next round

    def _until_refresh(self) -> float:
        return max(0.0, self._refreshed_at + self._refresh - self._clock())

    async def _publish_store(self, store_id: str, publish: Publish) -> None:
        try:
            document = await asyncio.to_thread(
                compute_queue, self._events, self._lookups, store_id, self._now()
            )
        except (HubStoreError, StreamStoreError) as error:
            # Tried again at the next refresh; the kiosks keep the last one meanwhile.
            log.warning("hub: the advisor calls of %r could not be read: %s", store_id, error)
            self._with_calls.add(store_id)
            return
        if document["calls"]:
            self._with_calls.add(store_id)
        else:
            self._with_calls.discard(store_id)
        payload = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
        if publish(assist_topic(store_id), payload):
            self.published += 1
        else:
            # Not handed to the broker (the link is down): published again in the next
            # round, at the latest when the refresh is due.
            self._pending.add(store_id)
