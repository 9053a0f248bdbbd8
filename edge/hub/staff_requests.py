"""The hub answers a staff kiosk's requests: a customer's file, an order, a handover.

A kiosk asks by MQTT 5 request/response on `borne/v1/devices/{device}/req/{name}`
(customer, order, handover) with a Response Topic under its own `res/` and Correlation
Data; the hub processes share the requests on `$share/{group}/...`. The answer goes to
that response topic with the correlation data and a 10 s expiry: a kiosk that stopped
waiting is never sent a late answer to show. Answers are never stored and never logged:
a log line names the device and why a request was dropped, nothing of its content.

The hub decides everything from its own data: the asking badge must be in its staff
directory for the store (else "refused"), its role there says whether contact details
are shown (a manager's) or masked, and a handover is done only for an order waiting for
pickup in that very store.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.errors import BorneError
from edge.hub.feeds.orders import ORDER_NUMBER
from edge.hub.resync import SyncDelivery
from edge.hub.streams import StreamStoreError
from edge.hub.streams.lookups import CustomerData, StaffLookups
from edge.hub.sync_request import is_own_response_topic

log = logging.getLogger(__name__)

STAFF_REQUESTS = ("customer", "order", "handover")
REQUEST_TOPICS = tuple(f"borne/v1/devices/+/req/{name}" for name in STAFF_REQUESTS)
ANSWER_EXPIRY = 10  # seconds: the kiosk gives up after `[staff] answer_within` (5 s)
MAX_REQUEST_BYTES = 4096
MAX_CORRELATION_BYTES = 256
_PSEUDONYM = re.compile(r"[0-9a-f]{64}")
_LEVEL = re.compile(r"[^\x00-\x1f\x7f/+#]{1,64}")
_MASK = "•••"


class StaffRequestError(BorneError):
    """A staff request the hub drops without an answer: malformed, or its response topic
    is not the asking device's own."""

    retryable = False  # the same request again is dropped again


@dataclass(frozen=True, slots=True)
class StaffRequest:
    """One staff request: who asks (by badge pseudonym), about what, where to answer."""

    name: str  # one of STAFF_REQUESTS
    device_id: str
    store_id: str
    staff: str  # the badge's pseudonym
    subject: str  # the customer's pseudonym, or the order's number
    response_topic: str
    correlation: bytes

    def __repr__(self) -> str:  # pseudonyms stay out of logs
        return f"StaffRequest(name={self.name!r}, device_id={self.device_id!r})"


@dataclass(slots=True)
class StaffCounters:
    """What the staff responder did since the hub started."""

    requests: int = 0  # received, redeliveries included
    answered: int = 0  # an answer sent, whatever its status
    refused: int = 0  # of those answered: "refused" (badge not in the store's directory)
    malformed: int = 0  # dropped without an answer
    failed: int = 0  # the database failed: no answer (the kiosk says the hub is silent)

    def as_dict(self) -> dict[str, int]:
        """The counters by name, for JSON."""
        return asdict(self)


def shared_staff_topics(group: str) -> list[str]:
    """The shared subscriptions the hub processes of `group` answer staff requests on."""
    return [f"$share/{group}/{topic}" for topic in REQUEST_TOPICS]


def staff_request_name(topic: str) -> str | None:
    """ "customer", "order" or "handover" for a staff request's topic, else None."""
    levels = topic.split("/")
    if (
        len(levels) == 6
        and levels[:3] == ["borne", "v1", "devices"]
        and levels[4] == "req"
        and levels[5] in STAFF_REQUESTS
    ):
        return levels[5]
    return None


def parse_staff_request(
    topic: str, payload: bytes, response_topic: str | None, correlation: bytes | None
) -> StaffRequest:
    """The request in a message, or `StaffRequestError` saying what is wrong."""
    name = staff_request_name(topic)
    if name is None:
        raise StaffRequestError("not a staff request topic")
    device_id = topic.split("/")[3]
    if not _LEVEL.fullmatch(device_id):
        raise StaffRequestError("device id: not one topic level")
    if not response_topic or not is_own_response_topic(response_topic, device_id):
        raise StaffRequestError("response topic: must be borne/v1/devices/{device}/res/...")
    if not correlation or len(correlation) > MAX_CORRELATION_BYTES:
        raise StaffRequestError(f"correlation data: 1 to {MAX_CORRELATION_BYTES} bytes")
    if len(payload) > MAX_REQUEST_BYTES:
        raise StaffRequestError(f"request of {len(payload)} bytes, over {MAX_REQUEST_BYTES}")
    try:
        document = json.loads(payload)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise StaffRequestError("not JSON") from None
    if not isinstance(document, dict):
        raise StaffRequestError("not a JSON object")
    store_id = document.get("store")
    if not isinstance(store_id, str) or not _LEVEL.fullmatch(store_id):
        raise StaffRequestError("store: expected a store id")
    staff = document.get("staff")
    if not isinstance(staff, str) or not _PSEUDONYM.fullmatch(staff):
        raise StaffRequestError("staff: expected a badge pseudonym (64 hex digits)")
    if name == "customer":
        subject = document.get("customer")
        if not isinstance(subject, str) or not _PSEUDONYM.fullmatch(subject):
            raise StaffRequestError("customer: expected a card pseudonym (64 hex digits)")
    else:
        subject = document.get("order")
        if not isinstance(subject, str) or not ORDER_NUMBER.fullmatch(subject):
            raise StaffRequestError("order: expected an order number")
    return StaffRequest(name, device_id, store_id, staff, subject, response_topic, correlation)


def mask_email(email: str) -> str:
    """ "camille.martin@example.fr" -> "c•••@example.fr"."""
    local, at, domain = email.partition("@")
    if not at:
        return _MASK if email else ""
    return f"{local[:1]}{_MASK}@{domain}"


def mask_phone(phone: str) -> str:
    """ "06 12 34 56 78" -> "•• •• •• •• 78": only the last two digits shown."""
    digits = [char for char in phone if char.isdigit()]
    return f"•• •• •• •• {''.join(digits[-2:])}" if digits else ""


def customer_answer(data: CustomerData | None, *, manager: bool) -> dict[str, Any]:
    """The answer to a customer request of a badge the directory lists for the store."""
    if data is None:
        return {"status": "unknown"}
    if not data.customer.get("personalisation", True):
        return {"status": "declined"}  # nothing else: the customer said no
    profile = data.profile or {}
    email, phone = str(profile.get("email", "")), str(profile.get("phone", ""))
    return {
        "status": "ok",
        "customer": {
            "first_name": data.customer.get("first_name", ""),
            "last_name": profile.get("last_name", ""),
            "tier": profile.get("tier", ""),
            "points": data.customer.get("points", 0),
            "email": email if manager else mask_email(email),
            "phone": phone if manager else mask_phone(phone),
            "contact_masked": not manager,
            "preferences": profile.get("preferences", []),
            "sizes": profile.get("sizes", {}),
            "orders": list(data.orders),
            "wishlist": profile.get("wishlist", []),
        },
    }


def answer(
    lookups: StaffLookups, request: StaffRequest, store_of: Callable[[str], str | None]
) -> dict[str, Any]:
    """The answer to a well-formed request (blocking: reads the hub's database)."""
    member = lookups.staff(request.staff)
    device_store = store_of(request.device_id)
    if (
        member is None
        or not member.works_in(request.store_id)
        # A kiosk the hub knows to be in another store cannot ask for this one's.
        or (device_store is not None and device_store != request.store_id)
    ):
        return {"status": "refused"}
    if request.name == "customer":
        data = lookups.customer(request.subject)
        return customer_answer(data, manager=member.role == "manager")
    if request.name == "order":
        found = lookups.order(request.subject)
        if found is None:
            return {"status": "unknown"}
        order, first_name = found
        return {"status": "ok", "order": order, "first_name": first_name}
    handover = lookups.hand_over(request.subject, request.store_id)
    if handover.order is None:
        return {"status": handover.status}
    return {"status": handover.status, "order": handover.order}


class StaffResponder:
    """Answers the staff requests handed to `submit`, one at a time, until cancelled.

    `store_of` names a device's store (blocking, as for resyncs): a kiosk the hub knows
    to be in another store is refused.
    """

    def __init__(self, lookups: StaffLookups, store_of: Callable[[str], str | None]) -> None:
        self._lookups = lookups
        self._store_of = store_of
        self.counters = StaffCounters()
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
            request = parse_staff_request(
                delivery.topic, delivery.payload, delivery.response_topic, delivery.correlation
            )
            document = await asyncio.to_thread(answer, self._lookups, request, self._store_of)
        except StaffRequestError as error:
            self.counters.malformed += 1
            levels = delivery.topic.split("/")
            device = levels[3] if len(levels) > 3 else "?"
            log.warning("hub: dropped a staff request of device %r: %s", device[:64], error)
        except StreamStoreError as error:
            self.counters.failed += 1
            log.warning("hub: a staff request could not be answered: %s", type(error).__name__)
        else:
            payload = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
            self._send(delivery.client, request, payload.encode())
            self.counters.answered += 1
            self.counters.refused += document["status"] == "refused"
        # Sending the request again could not change the answer: acknowledged either way.
        delivery.client.ack(delivery.mid, delivery.qos)

    @staticmethod
    def _send(client: mqtt.Client, request: StaffRequest, payload: bytes) -> None:
        properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        properties.CorrelationData = request.correlation
        properties.MessageExpiryInterval = ANSWER_EXPIRY
        properties.ContentType = "application/json"
        client.publish(request.response_topic, payload, qos=1, properties=properties)
