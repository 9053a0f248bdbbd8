"""Staff requests to the hub: MQTT 5 request/response, never through the outbox.

Each request goes on `borne/v1/devices/{device}/req/{kind}` with this device's
`res/staff` as its response topic, a fresh correlation (uuid4 bytes) and a 10 s expiry;
a handover expires when the kiosk stops waiting: a hub that comes back later must not
hand over an order the screen said nothing about.
The answer is awaited `answer_within` seconds; then the request is forgotten, and an
answer that comes later (an unknown correlation) is dropped, never shown.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from paho.mqtt.properties import Properties

from edge.uplink import Request

log = logging.getLogger(__name__)

KINDS = ("customer", "order", "handover")
EXPIRY = 10  # seconds the broker keeps a request for a hub that is away
MAX_REQUEST_BYTES = 4096


@dataclass(frozen=True, slots=True)
class StaffRequest:
    """A question for the hub, made by the staff desk; `token` ties its answer to it."""

    kind: str  # one of KINDS
    body: dict[str, Any] = field(hash=False)
    token: int

    def __repr__(self) -> str:  # the body holds pseudonyms and order numbers
        return f"StaffRequest(kind={self.kind!r}, token={self.token})"


class HubRequests:
    """Sends staff requests on the uplink and hands back their answers (an Inbound)."""

    def __init__(
        self,
        device_id: str,
        send: Callable[[Request], None] | None,
        *,
        answer_within: float,
        connected: Callable[[], bool] = lambda: True,
        new_id: Callable[[], uuid.UUID] = uuid.uuid4,
    ) -> None:
        self._device_id = device_id
        self._send = send  # None: no broker is configured, the hub is never asked
        self._connected = connected
        self._answer_within = answer_within
        self._new_id = new_id
        self._waiting: dict[bytes, asyncio.Future[bytes]] = {}
        self.dropped = 0  # answers that came too late, or for nobody

    @property
    def response_topic(self) -> str:
        return f"borne/v1/devices/{self._device_id}/res/staff"

    # --- Inbound ---------------------------------------------------------------------

    @property
    def subscriptions(self) -> Sequence[str]:
        return (self.response_topic,)

    def connected(self) -> None:
        """Nothing to do: requests are made when asked."""

    def received(self, topic: str, payload: bytes, properties: Properties | None) -> None:
        correlation = getattr(properties, "CorrelationData", None) if properties else None
        future = self._waiting.pop(bytes(correlation), None) if correlation else None
        if future is None or future.done():
            self.dropped += 1
            log.info("a staff answer came for no request waiting (late?): dropped")
            return
        future.set_result(payload)

    def disconnected(self) -> None:
        """Requests in flight are lost: their askers hear nothing and time out."""

    # --- asking ----------------------------------------------------------------------

    def expiry(self, request: StaffRequest) -> int:
        """Seconds the broker keeps `request` for a hub that is away (whole seconds, as
        MQTT counts them): a handover no longer than the kiosk waits for its answer."""
        if request.kind == "handover":
            return max(1, min(EXPIRY, int(self._answer_within)))
        return EXPIRY

    async def ask(self, request: StaffRequest) -> bytes | None:
        """The hub's answer to `request`, or None if it did not answer in time (or
        cannot be asked: no broker, no connection, an oversized request)."""
        payload = json.dumps(request.body, separators=(",", ":")).encode()
        if self._send is None or not self._connected() or len(payload) > MAX_REQUEST_BYTES:
            return None
        correlation = self._new_id().bytes
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._waiting[correlation] = future
        topic = f"borne/v1/devices/{self._device_id}/req/{request.kind}"
        try:
            self._send(
                Request(topic, payload, self.response_topic, correlation, self.expiry(request))
            )
            async with asyncio.timeout(self._answer_within):
                answer = await future
        except TimeoutError:
            return None
        finally:
            self._waiting.pop(correlation, None)
        return answer  # read (and refused when too large: MAX_ANSWER_BYTES) by the desk
