"""The hub answers a kiosk's resync: the change sets it missed, or the stream's snapshot.

A request (`edge.hub.sync_request`) arrives on the hub's shared subscription; the
answer goes to the request's response topic with its correlation data and a message
expiry, so a kiosk that gave up waiting is not sent a stale answer later. Each change
set or snapshot page is one message, in order. The stream store and the event store
block: they are read in worker threads, never on the asyncio loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.hub.store import EventStore, UnknownDeviceError
from edge.hub.streams import StreamStore, StreamStoreError, UnknownStreamError
from edge.hub.sync_request import SyncRequest, SyncRequestError, parse_sync_request

log = logging.getLogger(__name__)

ANSWER_EXPIRY = 60  # seconds an answer waits at the broker for a kiosk that went away
SNAPSHOT_PAGE_ITEMS = 1_000


class SyncRefusedError(SyncRequestError):
    """A well-formed request the device may not make: another store, an unknown device."""


@dataclass(frozen=True, slots=True)
class SyncDelivery:
    """A request as paho handed it over, with the client that must acknowledge it."""

    client: mqtt.Client
    mid: int
    qos: int
    topic: str
    payload: bytes
    response_topic: str | None
    correlation: bytes | None

    @classmethod
    def of(cls, client: mqtt.Client, message: mqtt.MQTTMessage) -> SyncDelivery:
        """The delivery of a message paho received."""
        properties = message.properties
        response_topic = getattr(properties, "ResponseTopic", None)
        correlation = getattr(properties, "CorrelationData", None)
        return cls(
            client,
            message.mid,
            message.qos,
            message.topic,
            bytes(message.payload),
            response_topic if isinstance(response_topic, str) else None,
            bytes(correlation) if isinstance(correlation, bytes | bytearray) else None,
        )


@dataclass(slots=True)
class SyncCounters:
    """What the responder did since the hub started."""

    requests: int = 0  # requests received, redeliveries included
    answered: int = 0
    malformed: int = 0  # dropped without an answer
    refused: int = 0  # well-formed, but not the device's to ask: no answer
    messages: int = 0  # change sets and snapshot pages sent

    def as_dict(self) -> dict[str, int]:
        """The counters by name, for JSON."""
        return asdict(self)


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
    events: EventStore, known: Mapping[str, str] | None = None
) -> Callable[[str], str | None]:
    """The store of a device: as `known` names it (the hub's `[devices]`), else as its
    events name it (None: the hub has not heard from it yet)."""
    named = dict(known or {})

    def store_of(device_id: str) -> str | None:
        if device_id in named:
            return named[device_id]
        try:
            return events.device_status(device_id).store_id
        except UnknownDeviceError:
            return None

    return store_of


class SyncResponder:
    """Answers the resync requests handed to `submit`, one at a time, until cancelled.

    `store_of` names the store of a device (blocking, run in a worker thread): a device
    asks only for its own store's streams, and one the hub neither has in its
    configuration nor has heard an event from is refused, because its store is not known.
    """

    def __init__(
        self,
        streams: StreamStore,
        store_of: Callable[[str], str | None],
        *,
        page_items: int = SNAPSHOT_PAGE_ITEMS,
    ) -> None:
        self._streams = streams
        self._store_of = store_of
        self._page_items = page_items
        self.counters = SyncCounters()
        self._queue: asyncio.Queue[SyncDelivery] = asyncio.Queue()

    def submit(self, delivery: SyncDelivery) -> None:
        """Queue a request (on the asyncio loop: paho's thread goes through the loop)."""
        self._queue.put_nowait(delivery)

    async def run(self) -> None:
        """Answer requests as they come, until cancelled."""
        while True:
            delivery = await self._queue.get()
            await self.handle(delivery)

    async def handle(self, delivery: SyncDelivery) -> None:
        """Answer one request (or count it and drop it), then acknowledge it."""
        self.counters.requests += 1
        try:
            request = parse_sync_request(
                delivery.topic, delivery.payload, delivery.response_topic, delivery.correlation
            )
            payloads = await asyncio.to_thread(self._payloads, request)
        except SyncRefusedError as error:
            self.counters.refused += 1
            self._log_dropped(delivery.topic, error, "refused")
        except SyncRequestError as error:
            self.counters.malformed += 1
            self._log_dropped(delivery.topic, error, "malformed")
        except StreamStoreError as error:
            # The database failed: no answer; the kiosk asks again when its request expires.
            log.warning("hub: a resync could not be read: %s", error)
        else:
            self._send(delivery.client, request, payloads)
            self.counters.answered += 1
        # Sending the request again could not change the answer: acknowledged either way.
        delivery.client.ack(delivery.mid, delivery.qos)

    def _payloads(self, request: SyncRequest) -> list[bytes]:
        """The answer's messages, encoded here in the worker thread: a snapshot is big."""
        return [
            json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
            for document in self._documents(request)
        ]

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

    def _send(self, client: mqtt.Client, request: SyncRequest, payloads: list[bytes]) -> None:
        properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        properties.CorrelationData = request.correlation
        properties.MessageExpiryInterval = ANSWER_EXPIRY
        properties.ContentType = "application/json"
        for payload in payloads:
            client.publish(request.response_topic, payload, qos=1, properties=properties)
        self.counters.messages += len(payloads)

    @staticmethod
    def _log_dropped(topic: str, error: SyncRequestError, what: str) -> None:
        levels = topic.split("/")
        device = levels[3] if len(levels) > 3 else "?"
        log.warning("hub: %s resync request of device %r: %s", what, device[:64], error)
