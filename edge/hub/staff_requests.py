"""The hub answers a staff kiosk's requests: a customer's file, an order, a handover.

A kiosk asks by MQTT 5 request/response on `borne/v1/devices/{device}/req/{name}`
(customer, order, handover) with a Response Topic under its own `res/` and Correlation
Data; the hub processes share the requests on `$share/{group}/...`. The answer goes to
that response topic with the correlation data and a 10 s expiry: a kiosk that stopped
waiting is never sent a late answer to show. Answers are never stored and never logged:
a log line names the device and why a request was dropped, nothing of its content.

The hub decides everything from its own data: the asking badge must be in its staff
directory for the store, the asking kiosk must be one the hub knows to be in that store,
and that kiosk's events must say the badge is logged in there (its last session event
for the badge a `io.borne.staff.logged_in` of the last 12 hours); otherwise "refused".
Its role in the directory says whether contact details are shown (a manager's) or
masked; an order is shown, and handed over, only when it waits for pickup in that store.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from edge.hub.request_reply import (
    Delivery,
    HubRequestError,
    RequestCounters,
    RequestResponder,
    encoded,
    open_request,
)
from edge.hub.store import EventStore, StoredEvent
from edge.hub.streams.lookups import HubCustomer, StaffLookups
from edge.staff.wire import ORDER_NUMBER, TOPIC_LEVEL

log = logging.getLogger(__name__)

STAFF_REQUESTS = ("customer", "order", "handover")
REQUEST_TOPICS = tuple(f"borne/v1/devices/+/req/{name}" for name in STAFF_REQUESTS)
ANSWER_EXPIRY = 10  # seconds: the kiosk gives up after `[staff] answer_within` (5 s)
MAX_REQUEST_BYTES = 4096
# A staff session older than this is over, whatever the kiosk says (it locks itself
# after 90 s without a touch): a login event does not open a kiosk for days.
SESSION_LIMIT = timedelta(hours=12)
# The login event comes through the kiosk's outbox, the request straight to the broker:
# a request may arrive first. Its login is looked for again this long before "refused".
LOGIN_WAIT = 3.0
LOGIN_CHECK_EVERY = 0.25
CONCURRENT_REQUESTS = 32  # answered at once: one waiting for its login holds no other
LOGGED_IN = "io.borne.staff.logged_in"
_PSEUDONYM = re.compile(r"[0-9a-f]{64}")
_MASK = "•••"


class StaffRequestError(HubRequestError):
    """A staff request the hub drops without an answer: malformed, or its response topic
    is not the asking device's own."""


@dataclass(frozen=True, slots=True)
class HubStaffRequest:
    """One staff request: who asks (by badge pseudonym), about what, where to answer."""

    name: str  # one of STAFF_REQUESTS
    device_id: str
    store_id: str
    staff: str  # the badge's pseudonym
    subject: str  # the customer's pseudonym, or the order's number
    response_topic: str
    correlation: bytes

    def __repr__(self) -> str:  # pseudonyms stay out of logs
        return f"HubStaffRequest(name={self.name!r}, device_id={self.device_id!r})"


StaffCounters = RequestCounters  # refused: answered "refused"


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
) -> HubStaffRequest:
    """The request in a message, or `StaffRequestError` saying what is wrong."""
    name = staff_request_name(topic)
    if name is None:
        raise StaffRequestError("not a staff request topic")
    envelope = open_request(
        topic,
        payload,
        response_topic,
        correlation,
        max_bytes=MAX_REQUEST_BYTES,
        error=StaffRequestError,
    )
    document = envelope.document
    store_id = document.get("store")
    if not isinstance(store_id, str) or not TOPIC_LEVEL.fullmatch(store_id):
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
    return HubStaffRequest(
        name,
        envelope.device_id,
        store_id,
        staff,
        subject,
        envelope.response_topic,
        envelope.correlation,
    )


def is_logged_in(sessions: Iterable[StoredEvent], staff: str, now: datetime) -> bool:
    """Whether the kiosk's last session event for this badge is a login of the last
    SESSION_LIMIT (not followed by its logout or a lockout)."""
    last: StoredEvent | None = None
    for event in sessions:
        if isinstance(event.data, dict) and event.data.get("staff") == staff:
            last = event
    return last is not None and last.type == LOGGED_IN and last.time >= now - SESSION_LIMIT


def session_check(
    events: EventStore, now: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> Callable[[str, str], bool]:
    """Whether a badge is logged in at a device, as its events say (blocking)."""

    def logged_in(device_id: str, staff: str) -> bool:
        moment = now()
        # Read a day wider: kiosks' clocks may drift; the rule is applied on the times.
        sessions = events.staff_sessions(device_id, moment - SESSION_LIMIT - timedelta(days=1))
        return is_logged_in(sessions, staff, moment)

    return logged_in


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


def customer_answer(data: HubCustomer | None, *, manager: bool) -> dict[str, Any]:
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


class NotLoggedInError(Exception):
    """The badge has no open session at the asking kiosk (yet): "refused" unless its
    login arrives within LOGIN_WAIT."""


def answer(
    lookups: StaffLookups,
    request: HubStaffRequest,
    store_of: Callable[[str], str | None],
    logged_in: Callable[[str, str], bool],
) -> dict[str, Any]:
    """The answer to a well-formed request (blocking: reads the hub's databases).

    Raises NotLoggedInError when all else allows it but the badge is not logged in at
    the asking kiosk.
    """
    member = lookups.staff(request.staff)
    if member is None or not member.works_in(request.store_id):
        return {"status": "refused"}
    # A kiosk the hub does not know, or knows to be in another store, asks for no store.
    if store_of(request.device_id) != request.store_id:
        return {"status": "refused"}
    # Badge pseudonyms are no secret (every kiosk's directory, every staff event): the
    # kiosk must have logged that badge in, with its PIN, to ask in its name.
    if not logged_in(request.device_id, request.staff):
        raise NotLoggedInError
    if request.name == "customer":
        data = lookups.customer(request.subject)
        return customer_answer(data, manager=member.role == "manager")
    if request.name == "order":
        found = lookups.order(request.subject)
        # Numbers are guessable: only this store's pickups are anyone's business here.
        if found is None or found[0].get("pickup_store") != request.store_id:
            return {"status": "unknown"}
        order, first_name = found
        return {"status": "ok", "order": order, "first_name": first_name}
    handover = lookups.hand_over(request.subject, request.store_id)
    if handover.order is None or handover.order.get("pickup_store") != request.store_id:
        return {"status": "unknown"}  # as for its look-up: another store's is not said
    return {"status": handover.status, "order": handover.order}


class StaffResponder(RequestResponder[HubStaffRequest, RequestCounters]):
    """Answers the staff requests handed to `submit`, several at once, until cancelled.

    `store_of` names a device's store and `logged_in` says whether a badge is logged in
    at a device (both blocking): only a badge logged in at a kiosk the hub knows to be
    in the store is answered. A request whose login is not stored yet is looked at again
    for `login_wait` seconds, without holding the other requests.
    """

    what = "staff"
    expiry = ANSWER_EXPIRY

    def __init__(
        self,
        lookups: StaffLookups,
        store_of: Callable[[str], str | None],
        logged_in: Callable[[str, str], bool],
        *,
        login_wait: float = LOGIN_WAIT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(RequestCounters(), concurrent=CONCURRENT_REQUESTS)
        self._lookups = lookups
        self._store_of = store_of
        self._logged_in = logged_in
        self._login_wait = login_wait
        self._clock = clock

    def parse(self, delivery: Delivery) -> HubStaffRequest:
        return parse_staff_request(
            delivery.topic, delivery.payload, delivery.response_topic, delivery.correlation
        )

    async def answer(self, request: HubStaffRequest) -> list[bytes]:
        until = self._clock() + self._login_wait
        while True:
            try:
                document = await asyncio.to_thread(
                    answer, self._lookups, request, self._store_of, self._logged_in
                )
            except NotLoggedInError:
                if self._clock() >= until:
                    document = {"status": "refused"}
                else:
                    await asyncio.sleep(LOGIN_CHECK_EVERY)
                    continue
            self.counters.refused += document["status"] == "refused"
            return [encoded(document)]
