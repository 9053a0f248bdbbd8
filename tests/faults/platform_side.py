"""The platform's side of a scenario: a subscriber that records every event, and the
hub's re-ask for events the broker lost (edge.replay's request, sent as the hub does)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tests.faults.received import Received, parse_received

EVENTS = "borne/v1/devices/+/events/#"
ANSWERS = "borne/v1/hub/faults/res/replay"  # under borne/v1/hub/: a kiosk answers only there


class WaitTimeout(TimeoutError):
    """What a scenario waited for never happened before its deadline."""


@dataclass
class Recorder:
    """A platform-side MQTT 5 client with a persistent session: records every event
    message in arrival order, and the kiosks' answers to re-asks."""

    port: int
    received: list[Received] = field(default_factory=list)
    answers: list[dict[str, Any]] = field(default_factory=list)
    _changed: threading.Condition = field(default_factory=threading.Condition)
    _client: mqtt.Client | None = None

    def start(self) -> None:
        """Connect and subscribe; returns once the broker acknowledged the subscription."""
        subscribed = threading.Event()
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"faults-platform-{uuid.uuid4().hex[:8]}",
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = 3600

        def on_connect(c: mqtt.Client, *_: Any) -> None:
            # Again after each reconnection: a broker without persistence forgot us.
            c.subscribe([(EVENTS, 1), (ANSWERS, 1)])

        client.on_connect = on_connect
        client.on_subscribe = lambda *_: subscribed.set()
        client.on_message = self._on_message
        client.reconnect_delay_set(1, 2)
        client.connect("127.0.0.1", self.port, clean_start=False, properties=properties)
        client.loop_start()
        if not subscribed.wait(30):
            raise WaitTimeout("the platform's subscription was never acknowledged")
        self._client = client

    def _on_message(self, _: mqtt.Client, __: Any, message: mqtt.MQTTMessage) -> None:
        payload = bytes(message.payload)
        with self._changed:
            if message.topic == ANSWERS:
                try:
                    self.answers.append(json.loads(payload))
                except ValueError:
                    self.answers.append({"unreadable": payload[:80].hex()})
            else:
                self.received.append(parse_received(payload))
            self._changed.notify_all()

    def stop(self) -> None:
        """Disconnect."""
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None

    def snapshot(self) -> list[Received]:
        """Every event received so far, in arrival order."""
        with self._changed:
            return list(self.received)

    def wait_until(
        self, holds: Callable[[list[Received]], bool], timeout: float, what: str
    ) -> None:
        """Block until `holds(received)` is true; WaitTimeout naming `what` otherwise."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not holds(self.received):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise WaitTimeout(f"never saw {what} within {timeout:.0f} s")
                self._changed.wait(min(left, 0.5))

    def count_at_least(self, count: int, timeout: float) -> None:
        """Block until `count` valid events arrived."""
        self.wait_until(lambda got: sum(r.valid for r in got) >= count, timeout, f"{count} events")

    def ask_replay(self, device_id: str, ranges: list[list[int]], epoch: str = "") -> None:
        """Ask `device_id` for `ranges` of sequences (of stream `epoch`, when known) again,
        as the hub does."""
        if self._client is None:
            raise RuntimeError("the recorder is not connected")
        properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        properties.ResponseTopic = ANSWERS
        properties.CorrelationData = uuid.uuid4().bytes
        asked: dict[str, object] = {"ranges": ranges}
        if epoch:
            asked["streamepoch"] = epoch
        payload = json.dumps(asked).encode()
        self._client.publish(
            f"borne/v1/devices/{device_id}/req/replay", payload, qos=1, properties=properties
        )

    def wait_answers(self, count: int, timeout: float) -> list[dict[str, Any]]:
        """The first `count` answers to re-asks, once they came."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.answers) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise WaitTimeout(f"the kiosk answered {len(self.answers)} of {count} re-asks")
                self._changed.wait(min(left, 0.5))
            return list(self.answers)
