"""A fresh kiosk taking a 100,000-product store from the hub, against a real mosquitto.

The hub's streams are made as `borne hub import` makes them (benchmarks.retail_feeds:
a product feed, a local inventory feed, a reviews feed of three reviews per product,
into a `StreamStore`). The real `borne hub serve` answers the kiosk's resyncs from them
(its `SyncResponder`: snapshot pages of 1,000 items). The kiosk runs in a child process
(benchmarks.downlink_kiosk: `Uplink` + `Downlink` + an empty `StreamCache`), so that its
peak RSS is its own.

Measured: the seconds from the kiosk connecting to holding every stream whole at the
hub's versions, and the kiosk process's peak RSS. Baseline in the same run: the same
bytes (the hub's snapshot pages, encoded as the hub encodes them) sent by a bare paho
publisher to a bare paho subscriber in a child process, from its connecting to its last
byte. Beside them, a diagnostic: the same pages handed straight to an empty stream cache,
without MQTT, in a child process. Budget (shared/BENCHMARKS.md): <= 10 s, kiosk memory
reported.
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from benchmarks.downlink_kiosk import (
    ANSWER_TOPIC,
    BARE_REQUEST_TOPIC,
    DEVICE_ID,
    STORE_ID,
)
from benchmarks.retail_feeds import build_streams
from edge.events import EventDraft, EventSource
from edge.hub.resync import SNAPSHOT_PAGE_ITEMS
from edge.hub.store import SqliteEventStore
from edge.hub.streams import STREAMS, StreamStore
from edge.hub.sync_request import shared_sync_topic
from edge.ids import UUIDv7Generator
from tests.mosquitto import Broker, free_port

BUDGET_SECONDS = 10.0
BORNE = [sys.executable, "-m", "kiosk.cli"]
SUBSCRIBED = shared_sync_topic("borne-hub")  # as the broker logs the hub's subscription
TIMEOUT = 900.0


@dataclass(frozen=True)
class HubSide:
    """The hub's folder and configuration, and what a fresh kiosk must end up holding."""

    config: Path
    expected: dict[str, tuple[str, int]]  # stream -> (epoch, version)
    pages: list[bytes]  # the snapshot pages of every stream, as the hub sends them


def prepare_hub(folder: Path, products: int, port: int) -> HubSide:
    """The hub's streams for `products` products, and the kiosk already known to it."""
    data = folder / "hub-data"
    data.mkdir()
    streams = build_streams(data / "streams.sqlite", products, STORE_ID)
    try:
        positions = {str(stream): streams.position(STORE_ID, stream) for stream in STREAMS}
        pages = _snapshot_pages(streams)
    finally:
        streams.close()
    _introduce_kiosk(data / "events.sqlite")
    config = folder / "hub.toml"
    config.write_text(
        f'[mqtt]\nhost = "127.0.0.1"\nport = {port}\nclient_id = "bench-hub"\n'
        f'[store]\ndata_dir = "{data}"\n'
        f'[devices]\n{DEVICE_ID} = "{STORE_ID}"\n'
    )
    expected = {name: (at.epoch, at.version) for name, at in positions.items()}
    return HubSide(config, expected, pages)


def _snapshot_pages(streams: StreamStore) -> list[bytes]:
    """Every stream's snapshot, encoded as `SyncResponder` encodes its answers."""
    return [
        json.dumps(page, ensure_ascii=False, separators=(",", ":")).encode()
        for stream in STREAMS
        for page in streams.snapshot(STORE_ID, stream, SNAPSHOT_PAGE_ITEMS)
    ]


def _introduce_kiosk(path: Path) -> None:
    """One event of the kiosk in the hub's store: the hub answers only a device whose
    store it knows (from `[devices]`, or from the device's events)."""
    source = EventSource(STORE_ID, DEVICE_ID)
    draft = EventDraft("io.borne.kiosk.started", {"version": "bench"})
    event = source.envelope(draft, event_id=str(UUIDv7Generator()()), sequence=1, time=time.time())
    store = SqliteEventStore(path)
    try:
        store.ingest([event])
    finally:
        store.close()


@contextmanager
def broker_for_streams(folder: Path) -> Iterator[Broker]:
    directory = folder / "broker"
    directory.mkdir()
    # Big answers queue at the broker while the kiosk applies them: no byte limit.
    options = "log_type subscribe\nmax_queued_bytes 0\nmax_inflight_bytes 0\n"
    broker = Broker(directory, free_port(), persistent=False, options=options)
    broker.start()
    try:
        yield broker
    finally:
        broker.kill()


@contextmanager
def hub_serving(config: Path, broker: Broker) -> Iterator[subprocess.Popen[str]]:
    """`borne hub serve` running, subscribed; stopped by SIGTERM afterwards."""
    process = subprocess.Popen(
        [*BORNE, "hub", "serve", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        _wait(lambda: SUBSCRIBED in _log(broker), 60, "the hub's subscription")
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)


def _log(broker: Broker) -> str:
    return (broker.directory / "mosquitto.log").read_text(errors="replace")


def _wait(done: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:.0f} s for {what}")
        time.sleep(0.05)


def _child(*args: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.downlink_kiosk", *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=True,
    )
    figures: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return figures


def fresh_kiosk(hub: HubSide, broker: Broker, folder: Path) -> dict[str, Any]:
    """A fresh kiosk's figures: seconds to hold every stream, its memory."""
    folder.mkdir()
    with hub_serving(hub.config, broker):
        return _child(
            "kiosk",
            *("--port", str(broker.port), "--folder", str(folder)),
            *("--expect", json.dumps(hub.expected)),
        )


def bare_transfer(pages: list[bytes], broker: Broker, folder: Path) -> dict[str, Any]:
    """The same bytes from a bare paho publisher, sent when the bare subscriber asks."""
    asked = threading.Event()
    publisher = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id="bench-bare-hub", protocol=MQTTProtocolVersion.MQTTv5
    )
    publisher.on_connect = lambda client, *_: client.subscribe(BARE_REQUEST_TOPIC, qos=1)
    publisher.on_message = lambda *_: asked.set()
    publisher.connect("127.0.0.1", broker.port)
    publisher.loop_start()

    def answer() -> None:
        if asked.wait(TIMEOUT):
            for page in pages:
                publisher.publish(ANSWER_TOPIC, page, qos=1)

    answering = threading.Thread(target=answer, daemon=True)
    answering.start()
    try:
        _wait(lambda: BARE_REQUEST_TOPIC in _log(broker), 30, "the bare publisher's subscription")
        folder.mkdir()
        port, total = str(broker.port), str(sum(len(page) for page in pages))
        return _child("bare", "--port", port, "--folder", str(folder), "--bytes", total)
    finally:
        asked.set()
        answering.join(timeout=TIMEOUT)
        publisher.disconnect()
        publisher.loop_stop()


def cache_alone(pages: list[bytes], folder: Path) -> dict[str, Any]:
    """The same pages handed straight to an empty stream cache, in a child process."""
    folder.mkdir()
    lines = folder / "pages.jsonl"
    lines.write_bytes(b"\n".join(pages) + b"\n")  # compact JSON holds no newline
    return _child("cache", "--folder", str(folder), "--pages", str(lines))


def run(products: int = 100_000, rounds: int = 1) -> dict[str, Any]:
    """Build the store, take it `rounds` times (kiosk and baseline interleaved); a table."""
    kiosk_runs: list[dict[str, Any]] = []
    bare_runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="borne-bench-downlink-") as name:
        folder = Path(name)
        with broker_for_streams(folder) as broker:
            hub = prepare_hub(folder, products, broker.port)
            for number in range(rounds):
                kiosk_runs.append(fresh_kiosk(hub, broker, folder / f"kiosk-{number}"))
                bare_runs.append(bare_transfer(hub.pages, broker, folder / f"bare-{number}"))
        alone = cache_alone(hub.pages, folder / "cache-alone")
    payload = sum(len(page) for page in hub.pages)
    kiosk_s = statistics.median(run["seconds"] for run in kiosk_runs)
    bare_s = statistics.median(run["seconds"] for run in bare_runs)
    figures = {
        "products": products,
        "rounds": rounds,
        "pages": len(hub.pages),
        "bytes": payload,
        "kiosk_seconds": kiosk_s,
        "bare_paho_seconds": bare_s,
        "ratio_to_bare": kiosk_s / bare_s,
        "kiosk_peak_rss_bytes": max(run["peak_rss_bytes"] for run in kiosk_runs),
        "kiosk_rss_at_start_bytes": kiosk_runs[0]["rss_at_start_bytes"],
        "bare_peak_rss_bytes": max(run["peak_rss_bytes"] for run in bare_runs),
        "kiosk_cache_bytes": kiosk_runs[0]["cache_bytes"],
        "items": kiosk_runs[0]["items"],
        "cache_alone_seconds": alone["seconds"],
        "cache_alone_peak_rss_bytes": alone["peak_rss_bytes"],
        "budget_seconds": BUDGET_SECONDS,
        "kiosk_runs": kiosk_runs,
        "bare_runs": bare_runs,
    }
    _print_table(figures)
    return figures


def _print_table(figures: dict[str, Any]) -> None:
    mib = 2**20
    print(
        f"\nSnapshot hub -> fresh kiosk: {figures['products']} products (catalog, stock, "
        f"3 reviews each), {figures['pages']} pages, {figures['bytes'] / mib:.0f} MiB, "
        f"median of {figures['rounds']}"
    )
    print(f"{'what':<44} {'kiosk':>10} {'bare paho':>10} {'ratio':>7}")
    print(
        f"{'connect -> every stream held (s)':<44} {figures['kiosk_seconds']:>10.2f} "
        f"{figures['bare_paho_seconds']:>10.2f} {figures['ratio_to_bare']:>6.1f}x"
    )
    print(
        f"{'peak RSS of the receiving process (MiB)':<44} "
        f"{figures['kiosk_peak_rss_bytes'] / mib:>10.0f} "
        f"{figures['bare_peak_rss_bytes'] / mib:>10.0f}"
    )
    print(
        f"{'  of which before connecting (MiB)':<44} "
        f"{figures['kiosk_rss_at_start_bytes'] / mib:>10.0f}"
    )
    print(f"{'stream cache on disk (MiB)':<44} {figures['kiosk_cache_bytes'] / mib:>10.0f}")
    print(
        f"without MQTT, the pages handed to an empty StreamCache: "
        f"{figures['cache_alone_seconds']:.2f} s, "
        f"peak RSS {figures['cache_alone_peak_rss_bytes'] / mib:.0f} MiB"
    )
    print(f"budget: <= {BUDGET_SECONDS:.0f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.downlink")
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=1)
    options = parser.parse_args()
    run(options.products, options.rounds)
