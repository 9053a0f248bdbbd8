"""One consumer of the kiosks' events, in its own process, timing when each is stored.

`hub`: the hub as `borne hub serve` builds it (kiosk/hub_cli.py: its configuration
read from a TOML file, its event store and streams opened by it, a `SyncResponder`),
except that the event store is wrapped to note when each batch is committed.
`bare`: the baseline, a paho MQTT 5 client on the same shared subscription, with the
same Receive Maximum, that only counts what it receives (paho acknowledges it).

Run by `benchmarks.hub_ingest` as `python -m benchmarks.ingest_consumer KIND --out FILE
(--config TOML | --port P)`. It prints its running count (`count N`) every tenth of a
second, stops on SIGTERM, and writes `[device, sequence, monotonic time]` per event to
FILE as JSON (for `bare`, the time it was received).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.hub.assist_queue import AssistQueues
from edge.hub.config import load_hub_config
from edge.hub.resync import SyncResponder, device_store_lookup
from edge.hub.service import HubService, shared_events_topic
from edge.hub.staff_requests import StaffResponder, session_check
from edge.hub.store import EventStore, IncomingEvent, IngestResult, RawEvent
from edge.hub.streams.lookups import StaffLookups

REPORT_EVERY = 0.1  # seconds between two `count N` lines
SHARE_GROUP = "borne-hub"  # the hub's default share group
RECEIVE_MAXIMUM = 20  # the hub's default `mqtt.inflight`

Stored = tuple[str, int, float]  # device, sequence, when


class TimedStore:
    """The hub's `EventStore`, noting when each event's batch was committed.

    Only `ingest` is its own; every other member is the wrapped store's, so the
    wrapper follows the store's interface as it grows.
    """

    def __init__(self, store: EventStore) -> None:
        self._store = store
        self.stored: list[Stored] = []

    def ingest(self, events: Sequence[RawEvent | IncomingEvent]) -> IngestResult:
        """Store the batch, then note the commit's time for each of its events."""
        result = self._store.ingest(events)
        committed = time.monotonic()
        self.stored.extend(
            (event.device_id, event.sequence, committed)
            for event in events
            if isinstance(event, IncomingEvent)
        )
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def _report_counts(count: Callable[[], int], stop: threading.Event) -> None:
    """Print `count N` until `stop`; `count()` is read from this thread."""
    while not stop.wait(REPORT_EVERY):
        print(f"count {count()}", flush=True)


async def run_hub(config_path: Path) -> list[Stored]:
    """Run the hub until SIGTERM; every stored event with its commit time."""
    config = load_hub_config(config_path, environ={})
    store = await asyncio.to_thread(config.store.open)
    streams = await asyncio.to_thread(config.store.open_streams)
    timed = TimedStore(store)
    stop_reporting = threading.Event()
    reporter = threading.Thread(
        target=_report_counts, args=(lambda: len(timed.stored), stop_reporting), daemon=True
    )
    try:
        responder = SyncResponder(streams, device_store_lookup(store))
        # As `borne hub serve`: the fleet's session ends make it publish advisor queues.
        lookups = StaffLookups(streams.database)
        service = HubService(
            config.mqtt,
            cast(EventStore, timed),
            resync=responder,
            staff=StaffResponder(lookups, device_store_lookup(store), session_check(store)),
            assist=AssistQueues(store, lookups),
        )
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, service.close)
        reporter.start()
        await service.run()
    finally:
        stop_reporting.set()
        streams.close()
        store.close()
    return timed.stored


def run_bare(port: int) -> list[Stored]:
    """Count the shared subscription's messages until SIGTERM; each with its arrival."""
    received: list[tuple[float, bytes]] = []
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def on_connect(client: mqtt.Client, *_: Any) -> None:
        client.subscribe(shared_events_topic(SHARE_GROUP), qos=1)

    def on_message(_: mqtt.Client, __: Any, message: mqtt.MQTTMessage) -> None:
        # Only the arrival is noted here; the payload is read once the run is over.
        received.append((time.monotonic(), bytes(message.payload)))

    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id="bench-bare", protocol=MQTTProtocolVersion.MQTTv5
    )
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.ReceiveMaximum = RECEIVE_MAXIMUM
    client.on_connect = on_connect
    client.on_message = on_message
    client.connect("127.0.0.1", port, properties=properties)
    client.loop_start()
    reporter = threading.Thread(
        target=_report_counts, args=(lambda: len(received), stop), daemon=True
    )
    reporter.start()
    stop.wait()
    client.disconnect()
    client.loop_stop()
    stored: list[Stored] = []
    for at, payload in received:
        event = json.loads(payload)
        device = event["source"].rsplit("/", 1)[1]
        stored.append((device, int(event["sequence"]), at))
    return stored


def main() -> None:
    """Consume until SIGTERM, then write each event's time."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ingest_consumer")
    parser.add_argument("kind", choices=("hub", "bare"))
    parser.add_argument("--config", type=Path, help="the hub's TOML configuration")
    parser.add_argument("--port", type=int, help="the broker's port (bare)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    stored = asyncio.run(run_hub(args.config)) if args.kind == "hub" else run_bare(args.port)
    args.out.write_text(json.dumps(stored))


if __name__ == "__main__":
    main()
