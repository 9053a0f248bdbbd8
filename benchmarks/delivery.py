"""Durable delivery vs raw paho, against a real mosquitto on loopback, in the same run.

Baseline: paho-mqtt publishing QoS 1 with 20 messages in flight, nothing on disk.
Borne: events committed to the SQLite outbox (synchronous=FULL and NORMAL), then
published by the uplink and deleted on PUBACK. The budget in shared/BENCHMARKS.md is
Borne >= 0.8x the baseline with every accepted event durable.

Memory while the broker is away: the uplink must hold no more than its read-ahead
window, whatever piles up in the outbox. Baseline: the outbox alone taking the same
appends, in the same run; the uplink's extra memory is the difference.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from edge.config import MqttConfig
from edge.events import EventDraft, EventSource, Priority
from edge.outbox import OutboxStore
from edge.outbox_queue import Outbox
from edge.uplink import Uplink
from tests.mosquitto import Broker, free_port

SOURCE = EventSource("bench-store", "bench-kiosk")
DRAFT = EventDraft("io.borne.product.scanned", {"pad": "x" * 120}, Priority.CRITICAL)
ROUNDS = 3
BURST = 50  # appends in flight at once from the producers


def raw_paho(port: int, events: int, payload: bytes) -> float:
    """Messages acknowledged per second by paho alone (in-flight 20, QoS 1)."""
    done = threading.Event()
    acked = [0]

    def on_publish(*_: Any) -> None:
        acked[0] += 1
        if acked[0] == events:
            done.set()

    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id="bench-raw", protocol=MQTTProtocolVersion.MQTTv5
    )
    client.max_inflight_messages_set(20)
    client.max_queued_messages_set(0)
    client.on_publish = on_publish
    client.connect("127.0.0.1", port)
    client.loop_start()
    started = time.perf_counter()
    for _ in range(events):
        client.publish("bench/raw", payload, qos=1)
    done.wait(120)
    elapsed = time.perf_counter() - started
    client.disconnect()
    client.loop_stop()
    return events / elapsed


async def borne_pipeline(port: int, events: int, directory: Path, synchronous: str) -> float:
    """Events per second from append (durable commit, one per event) to PUBACK and delete."""
    path = directory / f"outbox-{synchronous}-{time.monotonic_ns()}.sqlite"
    outbox = Outbox(lambda: OutboxStore(path, SOURCE, synchronous=synchronous))
    config = MqttConfig(host="127.0.0.1", port=port, inflight=20)
    uplink = Uplink(config, SOURCE, outbox, boot_count=1)
    runner = asyncio.create_task(uplink.run())
    while not uplink.status().connected:  # noqa: ASYNC110 - watched from outside, as an operator
        await asyncio.sleep(0.01)
    started = time.perf_counter()
    # A burst: every event is its own append, accepted only once committed; appends
    # that arrive together share a commit (group commit), as in a busy store.
    for start in range(0, events, BURST):
        await asyncio.gather(*(outbox.append(DRAFT) for _ in range(min(BURST, events - start))))
    while (await outbox.status()).queued:  # noqa: ASYNC110 - watched from outside
        await asyncio.sleep(0.002)
    elapsed = time.perf_counter() - started
    await uplink.close()
    runner.cancel()
    outbox.close()
    return events / elapsed


async def memory_while_away(events: int, directory: Path, *, with_uplink: bool) -> dict[str, int]:
    """Peak memory (bytes) of appending `events` while no broker answers."""
    path = directory / f"outbox-away-{with_uplink}-{time.monotonic_ns()}.sqlite"
    outbox = Outbox(lambda: OutboxStore(path, SOURCE, synchronous="normal"))
    uplink = None
    if with_uplink:  # a loopback port nobody listens on: the store is offline
        config = MqttConfig(host="127.0.0.1", port=free_port(), reconnect_min=0.05)
        uplink = Uplink(config, SOURCE, outbox, boot_count=1)
    runner = asyncio.create_task(uplink.run()) if uplink else None
    tracemalloc.start()
    try:
        for start in range(0, events, BURST):
            await asyncio.gather(*(outbox.append(DRAFT) for _ in range(min(BURST, events - start))))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    held = uplink.status().held if uplink else 0
    if uplink is not None and runner is not None:
        await uplink.close()
        runner.cancel()
    outbox.close()
    return {"peak_bytes": peak, "events_held": held}


def run(events: int) -> dict[str, Any]:
    """Run the comparison and print a table; returns the figures."""
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder)
        broker = Broker(directory, free_port(), persistent=False)
        broker.start()
        try:
            payload = SOURCE.envelope(DRAFT, event_id="0" * 36, sequence=1, time=0.0)
            samples: dict[str, list[float]] = {"raw_paho": [], "borne_full": [], "borne_normal": []}
            for _ in range(ROUNDS):  # interleaved, so machine noise hits all alike
                samples["raw_paho"].append(raw_paho(broker.port, events, payload))
                for mode in ("full", "normal"):
                    rate = asyncio.run(borne_pipeline(broker.port, events, directory, mode))
                    samples[f"borne_{mode}"].append(rate)
        finally:
            broker.kill()
        away = {
            "outbox_alone": asyncio.run(memory_while_away(events, directory, with_uplink=False)),
            "outbox_and_uplink": asyncio.run(
                memory_while_away(events, directory, with_uplink=True)
            ),
        }
    medians = {name: statistics.median(values) for name, values in samples.items()}
    baseline = medians["raw_paho"]
    print(
        f"\nDelivery to mosquitto on loopback, {events} events of {len(payload)} bytes, "
        f"median of {ROUNDS}"
    )
    print(f"{'pipeline':<40} {'events/s':>10} {'vs raw paho':>12}")
    labels = {
        "raw_paho": "raw paho QoS 1, in-flight 20 (memory)",
        "borne_full": "Borne outbox FULL + uplink",
        "borne_normal": "Borne outbox NORMAL + uplink",
    }
    for name, value in medians.items():
        print(f"{labels[name]:<40} {value:>10.0f} {value / baseline:>11.2f}x")
    extra = away["outbox_and_uplink"]["peak_bytes"] - away["outbox_alone"]["peak_bytes"]
    print(f"\nBroker away, {events} events appended: peak memory (tracemalloc)")
    print(f"{'pipeline':<40} {'peak KiB':>10} {'held':>6}")
    for name, figures in away.items():
        print(f"{name:<40} {figures['peak_bytes'] / 1024:>10.0f} {figures['events_held']:>6}")
    print(f"{'uplink extra (bound: read-ahead window)':<40} {extra / 1024:>10.0f}")
    return {
        "broker_away": {**away, "uplink_extra_bytes": extra, "read_ahead": Uplink.READ_AHEAD},
        "events": events,
        "payload_bytes": len(payload),
        "rounds": ROUNDS,
        "median_events_per_second": medians,
        "ratio_to_raw_paho": {name: value / baseline for name, value in medians.items()},
        "budget_ratio": 0.8,
    }
