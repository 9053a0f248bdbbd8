"""The hub answers a kiosk's resync: the change sets it missed, or the stream's snapshot.

A request (`edge.hub.sync_request`) arrives on the hub's shared subscription; the
answer goes to the request's response topic with its correlation data and a message
expiry, so a kiosk that gave up waiting is not sent a stale answer later. Each change
set or snapshot page is one message, in order. The stream store and the event store
block: they are read in worker threads, never on the asyncio loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from edge.hub.request_reply import (
    Delivery,
    HubRequestError,
    RequestCounters,
    RequestResponder,
    encoded,
)
from edge.hub.store import EventStore, UnknownDeviceError
from edge.hub.streams import StreamStore, UnknownStreamError
from edge.hub.sync_request import SyncRequest, SyncRequestError, parse_sync_request

log = logging.getLogger(__name__)

ANSWER_EXPIRY = 60  # seconds an answer waits at the broker for a kiosk that went away
SNAPSHOT_PAGE_ITEMS = 1_000


class SyncRefusedError(SyncRequestError):
    """A well-formed request the device may not make: another store, an unknown device."""


SyncDelivery = Delivery  # the name it had before staff requests shared it


@dataclass(slots=True)
class SyncCounters(RequestCounters):
    """What the resync responder did since the hub started."""

    messages: int = 0  # change sets and snapshot pages sent


def answer_documents(
    streams: StreamStore, request: SyncRequest, page_items: int = SNAPSHOT_PAGE_ITEMS
) -> list[dict[str, Any]]:
    """The messages that bring the kiosk from where it stands to the stream's current version.

    The change sets after its version when the hub still has them in its epoch;
    otherwise (nothing held, another epoch, too far behind) the snapshot's pages. A
    kiosk already current is sent the last change set again: it skips it as a
    redelivery and knows it is current, where silence would look like a lost answer.
    """
    store_id, stream = request.store_id, request.stream
    if request.version > 0 and request.epoch:
        changes = streams.changes_since(store_id, stream, request.version, request.epoch)
        if changes == []:
            changes = streams.changes_since(store_id, stream, request.version - 1, request.epoch)
        if changes:
            return changes
    return streams.snapshot(store_id, stream, page_items)


def device_store_lookup(
    events: EventStore,
    known: Mapping[str, str] | None = None,
    enrolled: Callable[[str], str | None] | None = None,
) -> Callable[[str], str | None]:
    """The store of a device: as `known` names it (the hub's `[devices]`), else as the
    hub enrolled it (`enrolled`, e.g. `Registry.store_of`: blocking), else as its events
    name it (None: the hub has not heard from it yet)."""
    named = dict(known or {})

    def store_of(device_id: str) -> str | None:
        if device_id in named:
            return named[device_id]
        if enrolled is not None and (store_id := enrolled(device_id)) is not None:
            return store_id
        try:
            return events.device_status(device_id).store_id
        except UnknownDeviceError:
            return None

    return store_of


class SyncResponder(RequestResponder[SyncRequest, SyncCounters]):
    """Answers the resync requests handed to `submit`, one at a time, until cancelled.

    `store_of` names the store of a device (blocking, run in a worker thread): a device
    asks only for its own store's streams, and one the hub neither has in its
    configuration nor has heard an event from is refused, because its store is not known.
    """

    what = "resync"
    expiry = ANSWER_EXPIRY

    def __init__(
        self,
        streams: StreamStore,
        store_of: Callable[[str], str | None],
        *,
        page_items: int = SNAPSHOT_PAGE_ITEMS,
    ) -> None:
        super().__init__(SyncCounters())
        self._streams = streams
        self._store_of = store_of
        self._page_items = page_items

    def parse(self, delivery: Delivery) -> SyncRequest:
        return parse_sync_request(
            delivery.topic, delivery.payload, delivery.response_topic, delivery.correlation
        )

    async def answer(self, request: SyncRequest) -> list[bytes]:
        payloads = await asyncio.to_thread(self._payloads, request)
        self.counters.messages += len(payloads)
        return payloads

    def dropped(self, delivery: Delivery, error: HubRequestError) -> None:
        if not isinstance(error, SyncRefusedError):
            super().dropped(delivery, error)
            return
        self.counters.refused += 1
        log.warning("hub: refused resync request of device %r: %s", delivery.device, error)

    def _payloads(self, request: SyncRequest) -> list[bytes]:
        """The answer's messages, encoded here in the worker thread: a snapshot is big."""
        return [encoded(document) for document in self._documents(request)]

    def _documents(self, request: SyncRequest) -> list[dict[str, Any]]:
        store_id = self._store_of(request.device_id)
        if store_id is None:
            raise SyncRefusedError(
                "the device is not in the hub's [devices] and has sent no event yet:"
                " its store is unknown"
            )
        if store_id != request.store_id:
            raise SyncRefusedError(f"the device is in store {store_id!r}, not this one")
        try:
            return answer_documents(self._streams, request, self._page_items)
        except UnknownStreamError:
            raise SyncRefusedError("the hub has no such stream for this store") from None
