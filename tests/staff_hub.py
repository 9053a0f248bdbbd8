"""Staff mode test helpers: a stream cache holding a staff directory, and a tiny hub
that answers the kiosk's staff requests on a real mosquitto (or stays silent)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.demo import DEMO_SECRET
from edge.lockdown import hash_pin
from edge.pseudonym import Pseudonyms, load_secret
from edge.sync.cache import StreamCache

PSEUDONYMS = Pseudonyms.from_secret(load_secret(str(DEMO_SECRET)))
# Fewer PBKDF2 rounds than a real hash: the format is the same, the tests stay fast.
_ROUNDS = 2000
STAFF = {  # badge id -> (name, role, PIN)
    "LEA-0042": ("Léa D.", "associate", "2468"),
    "MARC-0007": ("Marc L.", "manager", "1357"),
}


def badge_pseudonym(badge_id: str) -> str:
    """The pseudonym the kiosk makes of a Borne staff badge."""
    return PSEUDONYMS.card(f"staff:{badge_id}")


def seed_directory(data_dir: Path, store_id: str = "paris-01") -> None:
    """The kiosk's stream cache, holding the staff directory as the hub sends it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    items = [
        {
            "key": badge_pseudonym(badge),
            "value": {
                "name": name,
                "role": role,
                "pin_hash": hash_pin(pin, iterations=_ROUNDS),
            },
        }
        for badge, (name, role, pin) in STAFF.items()
    ]
    page = {
        "store": store_id,
        "stream": "staff",
        "epoch": "e1",
        "version": 1,
        "page": 1,
        "pages": 1,
        "items": items,
    }
    cache = StreamCache(data_dir / "streams.sqlite")
    try:
        cache.handle(json.dumps(page).encode(), store_id, time.time())
    finally:
        cache.close()


Answer = Callable[[str, dict[str, Any]], dict[str, Any] | None]


class TinyHub:
    """Answers `req/{kind}` on the response topic, with the request's correlation:
    `answer(kind, body)` says what (None: no answer). Records what it was asked."""

    def __init__(self, port: int, answer: Answer, *, delay: float = 0.0) -> None:
        self.asked: list[tuple[str, dict[str, Any]]] = []
        self._answer = answer
        self._delay = delay
        self._subscribed = threading.Event()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"tiny-hub-{port}",
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        self._client.on_connect = lambda c, *_: c.subscribe("borne/v1/devices/+/req/+", qos=1)
        self._client.on_subscribe = lambda *_: self._subscribed.set()
        self._client.on_message = self._on_message
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()
        assert self._subscribed.wait(10), "the tiny hub's subscription was not acknowledged"

    def _on_message(self, client: mqtt.Client, _: Any, message: mqtt.MQTTMessage) -> None:
        kind = message.topic.rsplit("/", 1)[1]
        body = json.loads(message.payload)
        self.asked.append((kind, body))
        answer = self._answer(kind, body)
        properties = message.properties
        if answer is None or properties is None:
            return
        reply = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        reply.CorrelationData = getattr(properties, "CorrelationData", b"")
        payload = json.dumps(answer).encode()

        response_topic = getattr(properties, "ResponseTopic", "")

        def send() -> None:
            client.publish(response_topic, payload, qos=1, properties=reply)

        if self._delay:
            threading.Timer(self._delay, send).start()
        else:
            send()

    def publish_retained(self, topic: str, document: dict[str, Any]) -> None:
        """Publish as the hub does the store's advisor calls."""
        self._client.publish(topic, json.dumps(document).encode(), qos=1, retain=True)

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
