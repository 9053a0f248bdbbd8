"""What the hub's staff tests share: the demo feeds imported with the demo's key, kiosk
events made by hand, a `borne hub serve` on a test broker, an MQTT 5 client that asks."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.demo import DEMO_SECRET
from edge.hub.feeds import FeedResult, read_feed
from edge.ids import UUIDv7Generator
from edge.pseudonym import Pseudonyms, load_secret
from tests.conftest import BORNE, assert_no_card_number

DEMO_FEEDS = Path(__file__).resolve().parent.parent / "assets" / "demo-store" / "feeds"
STAFF_FEEDS = ("products.tsv", "customers.jsonl", "staff.jsonl", "orders.jsonl")
CARDS = Pseudonyms.from_secret(load_secret(str(DEMO_SECRET))).card
LEA = CARDS("staff:LEA-0042")  # associate, paris-01
MARC = CARDS("staff:MARC-0007")  # manager, every store
INES = CARDS("staff:INES-0013")  # associate, lyon-01
NOBODY = CARDS("staff:NOBODY-01")  # in no directory
CAMILLE = CARDS("9250000000017")
LOUISE = CARDS("9250000000031")  # declined personalisation
_IDS = UUIDv7Generator()


def demo_staff_feeds() -> list[FeedResult]:
    """The demo's products, customers, staff and orders, read with the demo's key."""
    return [read_feed(DEMO_FEEDS / name, card_pseudonym=CARDS) for name in STAFF_FEEDS]


def kiosk_event(
    kind: str,
    device: str,
    sequence: int,
    data: dict[str, Any],
    *,
    store: str = "paris-01",
    at: datetime | None = None,
) -> dict[str, Any]:
    """A valid CloudEvent of `device`, as a kiosk's outbox sends it."""
    moment = (at or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    return {
        "specversion": "1.0",
        "id": str(_IDS()),
        "source": f"/stores/{store}/devices/{device}",
        "type": kind,
        "time": moment.isoformat().replace("+00:00", "Z"),
        "sequence": f"{sequence:020d}",
        "datacontenttype": "application/json",
        "data": data,
    }


def event_topic(device: str, event: dict[str, Any]) -> str:
    """Where a kiosk publishes an event: its type without "io.borne." (edge.events)."""
    return f"borne/v1/devices/{device}/events/{event['type'].removeprefix('io.borne.')}"


def hub_config(folder: Path, port: int, client_id: str, store_url: str = "") -> Path:
    """A hub on the test broker with the demo's key; its data in `folder`."""
    path = folder / f"{client_id}.toml"
    path.write_text(
        "[mqtt]\n"
        f'host = "127.0.0.1"\nport = {port}\nclient_id = "{client_id}"\n'
        "reconnect_min = 0.1\nreconnect_max = 0.5\n"
        f'[store]\ndata_dir = "{folder / "hub"}"\n'
        + (f'url = "{store_url}"\n' if store_url else "")
        + f'[privacy]\npseudonym_key_file = "{DEMO_SECRET}"\n'
        '[devices]\n"kiosk-a" = "paris-01"\n"kiosk-b" = "paris-01"\n"kiosk-c" = "paris-01"\n'
        '"kiosk-lyon" = "lyon-01"\n'
    )
    return path


def start_hub(config: Path) -> subprocess.Popen[str]:
    """`borne hub serve` in the background."""
    return subprocess.Popen(
        [*BORNE, "hub", "serve", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop_hub(process: subprocess.Popen[str]) -> tuple[dict[str, Any], str]:
    """SIGTERM, exit 0: the counters it prints, and its log."""
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert_no_card_number(err)
    counters: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return counters, err


@dataclass
class Client:
    """An MQTT 5 client of the test broker that records what it receives."""

    port: int
    client_id: str
    received: list[tuple[str, bytes, Any, bool]] = field(default_factory=list)
    condition: threading.Condition = field(default_factory=threading.Condition)
    client: mqtt.Client | None = None

    def start(self, *topics: str) -> Client:
        subscribed = threading.Event()
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=MQTTProtocolVersion.MQTTv5,
        )

        def on_message(_: mqtt.Client, __: Any, message: mqtt.MQTTMessage) -> None:
            with self.condition:
                self.received.append(
                    (message.topic, bytes(message.payload), message.properties, message.retain)
                )
                self.condition.notify_all()

        client.on_message = on_message
        client.on_subscribe = lambda *_: subscribed.set()
        client.connect("127.0.0.1", self.port)
        client.loop_start()
        if topics:
            client.subscribe([(topic, 1) for topic in topics])
            assert subscribed.wait(10), "subscription not acknowledged"
        self.client = client
        return self

    def stop(self) -> None:
        if self.client is not None:
            self.client.disconnect()
            self.client.loop_stop()

    def publish(self, topic: str, payload: bytes, properties: Properties | None = None) -> None:
        assert self.client is not None
        self.client.publish(topic, payload, qos=1, properties=properties).wait_for_publish(10)

    def publish_events(self, events: Iterable[dict[str, Any]]) -> None:
        for event in events:
            device = event["source"].rsplit("/", 1)[1]
            topic = event_topic(device, event)
            self.publish(topic, json.dumps(event).encode())

    def ask(
        self,
        name: str,
        document: Any,
        *,
        device: str = "kiosk-a",
        response_topic: str | None = None,
        correlation: bytes | None = None,
    ) -> bytes:
        """Send a staff request as a kiosk does; its correlation data."""
        correlation = correlation if correlation is not None else uuid.uuid4().bytes
        properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        properties.ResponseTopic = response_topic or f"borne/v1/devices/{device}/res/staff"
        properties.CorrelationData = correlation
        properties.MessageExpiryInterval = 10
        payload = document if isinstance(document, bytes) else json.dumps(document).encode()
        self.publish(f"borne/v1/devices/{device}/req/{name}", payload, properties)
        return correlation

    def answer_to(self, correlation: bytes, timeout: float = 15.0) -> tuple[str, dict[str, Any]]:
        """The answer carrying `correlation`: its topic and document."""
        with self.condition:
            found = self.condition.wait_for(
                lambda: self._with(correlation) is not None, timeout=timeout
            )
            assert found, "no answer came"
            topic, payload, properties = self._with(correlation) or ("", b"", None)
        assert 0 < getattr(properties, "MessageExpiryInterval", 0) <= 10
        document: dict[str, Any] = json.loads(payload)
        return topic, document

    def _with(self, correlation: bytes) -> tuple[str, bytes, Any] | None:
        for topic, payload, properties, _ in self.received:
            if "/res/" in topic and getattr(properties, "CorrelationData", None) == correlation:
                return topic, payload, properties
        return None

    def wait_for(self, predicate: Any, timeout: float = 15.0) -> None:
        with self.condition:
            assert self.condition.wait_for(lambda: predicate(self.received), timeout=timeout)


def wait_until_serving(kiosk: Client) -> None:
    """Ask (as a badge no directory lists: answered at once) until the hub answers: it
    has subscribed to everything then, events included."""
    for _ in range(60):
        request = {"store": "paris-01", "staff": NOBODY, "order": "W-2026-0042"}
        try:
            kiosk.answer_to(kiosk.ask("order", request), timeout=1.0)
        except AssertionError:
            continue
        return
    raise TimeoutError("the hub never answered")


def staff_event(
    kind: str, device: str, sequence: int, staff: str, *, at: datetime | None = None, **data: Any
) -> dict[str, Any]:
    """A kiosk's `io.borne.staff.{kind}` event for a badge."""
    return kiosk_event(f"io.borne.staff.{kind}", device, sequence, {"staff": staff, **data}, at=at)
