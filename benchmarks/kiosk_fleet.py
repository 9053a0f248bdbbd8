"""Many simulated kiosks publishing their events at once, from one child process.

Each kiosk is its own MQTT 5 client (its own connection, client id and topic), and
publishes QoS 1 events made as the kiosk makes them (`edge.events`: CloudEvents
envelopes, UUIDv7 ids, a gapless sequence) with the uplink's in-flight window. One
thread drives every connection through paho's external-loop calls (a `select` over
the sockets), so 200 kiosks do not need 200 threads on a 2-core machine.

Run by `benchmarks.hub_ingest` as
`python -m benchmarks.kiosk_fleet --port P --kiosks K --events N --out FILE`:
it prints `connected` once every kiosk is, publishes when it reads `go` on stdin,
prints `delivered` once every event is acknowledged, and writes each event's publish
time (`time.monotonic()`, comparable across processes on Linux) to FILE as JSON.
"""

from __future__ import annotations

import argparse
import itertools
import json
import select
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from edge.events import EventDraft, EventSource
from edge.ids import UUIDv7Generator

STORE_ID = "bench-store"
INFLIGHT = 20  # the uplink's default window (edge.config MqttConfig.inflight)
MISC_EVERY = 1.0  # seconds between paho's keepalive bookkeeping calls


def session_drafts(session: int) -> list[EventDraft]:
    """One shopper's visit as the session drafts it: start, card, scans, reviews, end."""
    session_id = f"s-{session:06d}"
    gtin = f"376{session % 1_000_000:09d}4"
    steps: list[tuple[str, dict[str, Any]]] = [
        ("session.started", {"trigger": "scan"}),
        ("card.tapped", {"loyalty_pseudonym": "a3f9" * 16, "known": True}),
        (
            "product.scanned",
            {
                "gtin": gtin,
                "code_kind": "gtin",
                "symbology": "EAN13",
                "found": True,
                "scanner": "camera:0",
            },
        ),
        ("screen.shown", {"screen": "product"}),
        ("reviews.read", {"gtin": gtin, "shown": 3}),
        ("session.ended", {"reason": "timeout", "duration_s": 42.5}),
    ]
    return [
        EventDraft(f"io.borne.{name}", {"session_id": session_id, **data}) for name, data in steps
    ]


def kiosk_outbox(source: EventSource, events: int) -> list[tuple[str, bytes]]:
    """A kiosk's first `events` events (shoppers' visits), as (topic, payload) in order."""
    drafts = itertools.cycle([draft for session in range(4) for draft in session_drafts(session)])
    ids = UUIDv7Generator()
    outbox = []
    for sequence in range(1, events + 1):
        draft = next(drafts)
        payload = source.envelope(draft, event_id=str(ids()), sequence=sequence, time=time.time())
        outbox.append((source.topic(draft), payload))
    return outbox


@dataclass
class SimulatedKiosk:
    """One kiosk's connection and the events it still has to publish.

    Its events are made before the fleet starts publishing, as a kiosk's wait in its
    outbox, so that making them does not slow the fleet down against the consumers.
    """

    source: EventSource
    client: mqtt.Client
    events: int
    next_sequence: int = 1
    in_flight: int = 0
    acknowledged: int = 0
    connected: bool = False
    published_at: list[float] = field(default_factory=list)  # by sequence - 1
    outbox: list[tuple[str, bytes]] = field(init=False)  # (topic, payload) by sequence - 1

    def __post_init__(self) -> None:
        self.outbox = kiosk_outbox(self.source, self.events)

    def fill_window(self) -> None:
        """Publish until the in-flight window is full or every event is out."""
        while self.in_flight < INFLIGHT and self.next_sequence <= self.events:
            topic, payload = self.outbox[self.next_sequence - 1]
            self.published_at.append(time.monotonic())
            self.client.publish(topic, payload, qos=1)
            self.next_sequence += 1
            self.in_flight += 1


def device_name(number: int) -> str:
    """The device id of the fleet's `number`-th kiosk."""
    return f"bench-kiosk-{number:04d}"


def _kiosk(port: int, number: int, events: int) -> SimulatedKiosk:
    device = device_name(number)
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=device, protocol=MQTTProtocolVersion.MQTTv5
    )
    client.max_inflight_messages_set(INFLIGHT)
    kiosk = SimulatedKiosk(EventSource(STORE_ID, device), client, events)

    def connected(*_: Any) -> None:
        kiosk.connected = True

    def acknowledged(*_: Any) -> None:
        kiosk.in_flight -= 1
        kiosk.acknowledged += 1

    client.on_connect = connected
    client.on_publish = acknowledged
    client.connect("127.0.0.1", port, keepalive=60)
    return kiosk


def _socket_of(kiosk: SimulatedKiosk) -> socket.socket:
    sock = kiosk.client.socket()
    if not isinstance(sock, socket.socket):  # paho's WebSocket wrapper: never used here
        raise TypeError(f"{kiosk.source.device_id} has no TCP socket")
    return sock


class Fleet:
    """Every simulated kiosk, driven by one thread."""

    def __init__(self, port: int, kiosks: int, events: int) -> None:
        self.kiosks = [_kiosk(port, number, events) for number in range(kiosks)]
        self._by_socket = {_socket_of(kiosk): kiosk for kiosk in self.kiosks}
        self._misc_at = 0.0

    def _turn(self, timeout: float) -> None:
        """One pass of paho's network loop over every connection."""
        writers = [sock for sock, kiosk in self._by_socket.items() if kiosk.client.want_write()]
        readable, writable, _ = select.select(list(self._by_socket), writers, [], timeout)
        for sock in readable:
            self._by_socket[sock].client.loop_read()
        for sock in writable:
            self._by_socket[sock].client.loop_write()
        now = time.monotonic()
        if now - self._misc_at >= MISC_EVERY:
            self._misc_at = now
            for kiosk in self.kiosks:
                kiosk.client.loop_misc()

    def wait_connected(self, timeout: float = 60.0) -> None:
        """Return once the broker has accepted every kiosk."""
        deadline = time.monotonic() + timeout
        while not all(kiosk.connected for kiosk in self.kiosks):
            if time.monotonic() > deadline:
                raise TimeoutError("the broker did not accept every kiosk")
            self._turn(0.05)

    def publish_all(self, timeout: float = 600.0) -> None:
        """Every kiosk publishes all its events; returns once all are acknowledged."""
        deadline = time.monotonic() + timeout
        pending = list(self.kiosks)
        while pending:
            if time.monotonic() > deadline:
                raise TimeoutError("the broker did not acknowledge every event")
            for kiosk in pending:
                kiosk.fill_window()
            self._turn(0.01)
            pending = [kiosk for kiosk in pending if kiosk.acknowledged < kiosk.events]

    def close(self) -> None:
        """Disconnect every kiosk."""
        for kiosk in self.kiosks:
            kiosk.client.disconnect()
            kiosk.client.loop_write()

    def publish_times(self) -> dict[str, list[float]]:
        """Each device's publish times, by sequence - 1."""
        return {kiosk.source.device_id: kiosk.published_at for kiosk in self.kiosks}


def main() -> None:
    """Connect, wait for `go`, publish, write the publish times."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.kiosk_fleet")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--kiosks", type=int, required=True)
    parser.add_argument("--events", type=int, required=True, help="events per kiosk")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    fleet = Fleet(args.port, args.kiosks, args.events)
    fleet.wait_connected()
    print("connected", flush=True)
    if sys.stdin.readline().strip() != "go":
        return
    fleet.publish_all()
    print("delivered", flush=True)
    fleet.close()
    args.out.write_text(json.dumps(fleet.publish_times()))


if __name__ == "__main__":
    main()
