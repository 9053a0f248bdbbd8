"""A fresh kiosk taking the store's streams from the hub, in its own process (peak RSS).

`kiosk`: the kiosk's side as the runtime builds it (edge.bootstrap): an `Uplink` on
the broker, a `Downlink` attached to it that asks a resync of each stream on
connecting, and an empty `StreamCache` (SQLite, synchronous=FULL) that takes the
snapshot pages. It stops once it holds, whole, every stream at the position given.
`bare`: the baseline, a paho MQTT 5 client that subscribes to the device's answer
topic, asks once, and counts bytes until it has received as many as the kiosk would.
`cache`: a diagnostic, the same pages handed straight to an empty `StreamCache`.

Run by `benchmarks.downlink` as `python -m benchmarks.downlink_kiosk MODE --folder DIR
(--port P --expect JSON | --port P --bytes N | --pages FILE)`; prints one JSON line:
the seconds from connecting to holding everything, the process's RSS before connecting
and at its peak.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from edge.config import MqttConfig, SyncConfig
from edge.events import EventSource
from edge.outbox import OutboxStore
from edge.outbox_queue import Outbox
from edge.sync.cache import StreamCache
from edge.sync.downlink import Downlink
from edge.sync.messages import Stream
from edge.uplink import Uplink

STORE_ID = "bench-store"
DEVICE_ID = "bench-kiosk"
BARE_REQUEST_TOPIC = f"borne/v1/devices/{DEVICE_ID}/req/bare"
ANSWER_TOPIC = f"borne/v1/devices/{DEVICE_ID}/res/sync"
TIMEOUT = 600.0


def _status_bytes(field: str) -> int:
    """A memory figure of this process from /proc/self/status (given there in KiB)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def rss_bytes() -> int:
    """This process's resident memory now."""
    return _status_bytes("VmRSS")


def peak_rss_bytes() -> int:
    """This process's peak resident memory so far.

    VmHWM rather than getrusage's ru_maxrss: Linux carries ru_maxrss over `exec`, so a
    child would report its parent's peak when that was higher.
    """
    return _status_bytes("VmHWM")


async def hold_everything(
    port: int, folder: Path, expected: Mapping[Stream, tuple[str, int]]
) -> dict[str, Any]:
    """Connect a fresh kiosk and wait until it holds every stream at `expected`."""
    source = EventSource(STORE_ID, DEVICE_ID)
    cache = StreamCache(folder / "streams.sqlite")
    outbox = Outbox(lambda: OutboxStore(folder / "outbox.sqlite", source, synchronous="normal"))
    mqtt_config = MqttConfig(host="127.0.0.1", port=port, reconnect_min=0.1, reconnect_max=0.5)
    uplink = Uplink(mqtt_config, source, outbox, boot_count=1)
    loop = asyncio.get_running_loop()
    everything_held = asyncio.Event()

    def changed(_: frozenset[Stream]) -> None:
        # In the downlink's worker thread, right after it applied something.
        held = {stream: cache.position(stream) for stream in expected}
        if all((held[s].epoch, held[s].version) == where for s, where in expected.items()):
            loop.call_soon_threadsafe(everything_held.set)

    downlink = Downlink(
        cache, source, SyncConfig(), send=uplink.request, on_change=changed, streams=expected
    )
    uplink.attach(downlink)
    started = time.perf_counter()
    tasks = [asyncio.create_task(uplink.run()), asyncio.create_task(downlink.run())]
    try:
        await asyncio.wait_for(everything_held.wait(), TIMEOUT)
        elapsed = time.perf_counter() - started
        items = {str(stream): len(cache.items(stream)) for stream in expected}
    finally:
        await downlink.close()
        await uplink.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        cache.close()
        outbox.close()
    return {
        "seconds": elapsed,
        "items": items,
        "counters": downlink.counters.as_dict(),
    }


def apply_pages(folder: Path, pages: Path) -> dict[str, Any]:
    """The cache alone: every snapshot page (one per line of `pages`) handed to an empty
    `StreamCache` in order, as the downlink's worker hands them, without MQTT."""
    cache = StreamCache(folder / "streams.sqlite")
    try:
        started = time.perf_counter()
        with pages.open("rb") as lines:
            for line in lines:  # one page at a time: only the cache's memory counts
                cache.handle(line.rstrip(b"\n"), STORE_ID, time.time(), answer=True)
        elapsed = time.perf_counter() - started
    finally:
        cache.close()
    return {"seconds": elapsed}


def receive_bytes(port: int, total: int) -> dict[str, Any]:
    """Ask once on the bare request topic, then count answer bytes until `total`."""
    subscribed = threading.Event()
    everything = threading.Event()
    received = [0]

    def on_subscribe(*_: Any) -> None:
        subscribed.set()

    def on_message(_: mqtt.Client, __: Any, message: mqtt.MQTTMessage) -> None:
        received[0] += len(message.payload)
        if received[0] >= total:
            everything.set()

    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=DEVICE_ID, protocol=MQTTProtocolVersion.MQTTv5
    )
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    started = time.perf_counter()
    client.connect("127.0.0.1", port)
    client.loop_start()
    client.subscribe(ANSWER_TOPIC, qos=1)
    if not subscribed.wait(30):
        raise TimeoutError("the broker did not confirm the subscription")
    client.publish(BARE_REQUEST_TOPIC, b"{}", qos=1)
    if not everything.wait(TIMEOUT):
        raise TimeoutError(f"{received[0]} of {total} bytes received")
    elapsed = time.perf_counter() - started
    client.disconnect()
    client.loop_stop()
    return {"seconds": elapsed, "bytes": received[0]}


def main() -> None:
    """Take the streams (or the bytes), then print the figures as one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.downlink_kiosk")
    parser.add_argument("mode", choices=("kiosk", "bare", "cache"))
    parser.add_argument("--port", type=int, help="kiosk, bare: the broker's port")
    parser.add_argument("--folder", type=Path, required=True)
    parser.add_argument("--expect", help="kiosk: JSON {stream: [epoch, version]}")
    parser.add_argument("--bytes", type=int, help="bare: how many bytes to receive")
    parser.add_argument("--pages", type=Path, help="cache: the snapshot pages, one a line")
    args = parser.parse_args()
    at_start = rss_bytes()
    if args.mode == "kiosk":
        expected = {Stream(name): (e, v) for name, (e, v) in json.loads(args.expect).items()}
        figures = asyncio.run(hold_everything(args.port, args.folder, expected))
    elif args.mode == "cache":
        figures = apply_pages(args.folder, args.pages)
    else:
        figures = receive_bytes(args.port, args.bytes)
    cache_bytes = sum(path.stat().st_size for path in args.folder.glob("streams.sqlite*"))
    figures |= {
        "rss_at_start_bytes": at_start,
        "peak_rss_bytes": peak_rss_bytes(),
        "cache_bytes": cache_bytes,
    }
    print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
