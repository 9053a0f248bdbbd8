"""What every kiosk request the hub answers has in common, and the loop that answers them.

A kiosk asks by MQTT 5 request/response on `borne/v1/devices/{device}/req/{name}`: a
JSON object of a few fields, a Response Topic under its own `res/`, Correlation Data.
`open_request` checks that envelope (the same for resyncs and staff requests);
`RequestResponder` takes requests from paho's thread, answers each in a worker thread,
sends the answer with a message expiry and acknowledges the request, whatever happened:
sending the same request again could not change its answer. A database that fails is
one request without an answer (the kiosk asks again or says the hub is silent), never
the end of the hub.
"""

from __future__ import annotations

import asyncio
import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.errors import BorneError
from edge.hub.store import HubStoreError
from edge.hub.streams import StreamStoreError
from edge.staff.wire import TOPIC_LEVEL

log = logging.getLogger(__name__)

MAX_CORRELATION_BYTES = 256


class HubRequestError(BorneError):
    """A request the hub drops without an answer: malformed, or not the device's to make."""

    retryable = False  # the same request again is dropped again


@dataclass(frozen=True, slots=True)
class RequestEnvelope:
    """A request's device, its JSON object, and where its answer goes."""

    device_id: str
    document: dict[str, Any]
    response_topic: str
    correlation: bytes


def open_request(
    topic: str,
    payload: bytes,
    response_topic: str | None,
    correlation: bytes | None,
    *,
    max_bytes: int,
    error: Callable[[str], HubRequestError],
) -> RequestEnvelope:
    """The envelope of a request on `borne/v1/devices/{device}/req/...` (the caller has
    checked the topic's name), or `error(reason)` raised."""
    device_id = topic.split("/")[3]
    if not TOPIC_LEVEL.fullmatch(device_id):
        raise error("device id: not one topic level")
    if not response_topic or not is_own_response_topic(response_topic, device_id):
        raise error("response topic: must be borne/v1/devices/{device}/res/...")
    if not correlation or len(correlation) > MAX_CORRELATION_BYTES:
        raise error(f"correlation data: required, {MAX_CORRELATION_BYTES} bytes at most")
    if len(payload) > max_bytes:
        raise error(f"request of {len(payload)} bytes, over {max_bytes}")
    try:
        document = json.loads(payload)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise error("not JSON") from None
    if not isinstance(document, dict):
        raise error("not a JSON object")
    return RequestEnvelope(device_id, document, response_topic, correlation)


def is_own_response_topic(topic: str, device_id: str) -> bool:
    """Whether `topic` is one of the device's own response topics (`.../res/...`).

    The hub may publish anywhere: a request naming another device's topic would let one
    kiosk write into (or read what was asked at) another.
    """
    levels = topic.split("/")
    return (
        len(levels) >= 6
        and levels[:5] == ["borne", "v1", "devices", device_id, "res"]
        and all(levels[5:])
        and not any(char in topic for char in "+#")
    )


@dataclass(frozen=True, slots=True)
class Delivery:
    """A request as paho handed it over, with the client that must acknowledge it."""

    client: mqtt.Client
    mid: int
    qos: int
    topic: str
    payload: bytes
    response_topic: str | None
    correlation: bytes | None

    @classmethod
    def of(cls, client: mqtt.Client, message: mqtt.MQTTMessage) -> Delivery:
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

    @property
    def device(self) -> str:
        """The asking device as its topic names it, cut short for a log line."""
        levels = self.topic.split("/")
        return levels[3][:64] if len(levels) > 3 else "?"


class Addressed(Protocol):
    """A parsed request: where its answer goes."""

    @property
    def response_topic(self) -> str: ...

    @property
    def correlation(self) -> bytes: ...


@dataclass(slots=True)
class RequestCounters:
    """What a responder did since the hub started."""

    requests: int = 0  # received, redeliveries included
    answered: int = 0  # an answer sent
    malformed: int = 0  # dropped without an answer
    refused: int = 0  # not the device's to ask (resync: dropped; staff: "refused" sent)
    failed: int = 0  # the database failed: no answer

    def as_dict(self) -> dict[str, int]:
        """The counters by name, for JSON."""
        return asdict(self)


R = TypeVar("R", bound=Addressed)
C = TypeVar("C", bound=RequestCounters)


class RequestResponder(ABC, Generic[R, C]):
    """Answers the requests handed to `submit` until cancelled.

    Subclasses parse (`parse`, raising a `HubRequestError`) and answer (`answer`: the
    messages to send, read in worker threads). With `concurrent` above 1, that many
    requests are answered at once: one that waits on something does not hold the others.
    """

    what: ClassVar[str]  # "resync", "staff": for log lines
    expiry: ClassVar[int]  # seconds an answer waits at the broker for its kiosk

    def __init__(self, counters: C, *, concurrent: int = 1) -> None:
        self.counters = counters
        self._queue: asyncio.Queue[Delivery] = asyncio.Queue()
        self._slots = asyncio.Semaphore(concurrent)
        self._under_way: set[asyncio.Task[None]] = set()

    @abstractmethod
    def parse(self, delivery: Delivery) -> R:
        """The request a delivery carries; `HubRequestError` saying why not."""

    @abstractmethod
    async def answer(self, request: R) -> list[bytes]:
        """The answer's messages, in order; `HubRequestError` to drop the request."""

    def dropped(self, delivery: Delivery, error: HubRequestError) -> None:
        """Count and log a request dropped without an answer (never its content)."""
        self.counters.malformed += 1
        log.warning("hub: dropped a %s request of device %r: %s", self.what, delivery.device, error)

    def submit(self, delivery: Delivery) -> None:
        """Queue a request (on the asyncio loop: paho's thread goes through the loop)."""
        self._queue.put_nowait(delivery)

    async def run(self) -> None:
        """Answer requests as they come, until cancelled."""
        try:
            while True:
                delivery = await self._queue.get()
                await self._slots.acquire()
                task = asyncio.create_task(self._handle_in_slot(delivery))
                self._under_way.add(task)
                task.add_done_callback(self._under_way.discard)
        finally:
            # Unacknowledged, a request cut short is sent again on the hub's next session.
            under_way = list(self._under_way)
            for task in under_way:
                task.cancel()
            await asyncio.gather(*under_way, return_exceptions=True)

    async def _handle_in_slot(self, delivery: Delivery) -> None:
        try:
            await self.handle(delivery)
        finally:
            self._slots.release()

    async def handle(self, delivery: Delivery) -> None:
        """Answer one request (or count it and drop it), then acknowledge it."""
        self.counters.requests += 1
        try:
            request = self.parse(delivery)
            payloads = await self.answer(request)
        except HubRequestError as error:
            self.dropped(delivery, error)
        except (HubStoreError, StreamStoreError) as error:
            # The database failed: this request goes unanswered, the next ones are tried.
            self.counters.failed += 1
            log.warning(
                "hub: a %s request of device %r could not be answered: %s",
                self.what,
                delivery.device,
                type(error).__name__,
            )
        else:
            self._send(delivery.client, request, payloads)
            self.counters.answered += 1
        # Sending the request again could not change the answer: acknowledged either way.
        delivery.client.ack(delivery.mid, delivery.qos)

    def _send(self, client: mqtt.Client, request: R, payloads: list[bytes]) -> None:
        properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        properties.CorrelationData = request.correlation
        properties.MessageExpiryInterval = self.expiry
        properties.ContentType = "application/json"
        for payload in payloads:
            client.publish(request.response_topic, payload, qos=1, properties=properties)


def encoded(document: dict[str, Any]) -> bytes:
    """An answer's JSON, compact, its text as is."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
