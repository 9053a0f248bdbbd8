"""BLE presence throughput: advertisements per second on one core.

A busy store: 300 beacons (20 shoppers running the store app, the rest other
people's beacons), each advertising several times a second. Measured: the presence
engine alone, and parse + sighting + engine from bleak-shaped advertisement data.
Baseline in the same run: the cheapest loop that touches every sighting (a dict
update), the floor for any pure-Python engine. Budget: >= 50,000 adverts/s.
"""

from __future__ import annotations

import random
import statistics
import time
from typing import Any

from devices.ble.frames import parse_advertisement
from devices.ble.sightings import sightings
from edge.presence import PresenceEngine

APP = "426c7565-4368-6172-6d42-6561636f6e73"


def _adverts(count: int) -> list[tuple[dict[int, bytes], int, float]]:
    rng = random.Random(5)
    beacons = []
    for index in range(300):
        proximity = bytes.fromhex(APP.replace("-", "")) if index < 20 else rng.randbytes(16)
        beacons.append(b"\x02\x15" + proximity + index.to_bytes(4, "big") + b"\xc5")
    return [
        ({76: beacons[rng.randrange(300)]}, rng.randint(-95, -45), step / 5000)
        for step in range(count)
    ]


def _rate(work: Any, count: int, repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        samples.append(count / (time.perf_counter() - started))
    return statistics.median(samples)


def run(count: int = 200_000, repeats: int = 5) -> dict[str, Any]:
    """Measure and print a table; returns the figures."""
    adverts = _adverts(count)
    seen = [
        s
        for manufacturer, rssi, at in adverts
        for s in sightings(parse_advertisement(manufacturer, {}).frames, rssi, "bench", at)
    ]

    def floor() -> None:
        last: dict[str, float] = {}
        for sighting in seen:
            last[sighting.beacon_id] = sighting.rssi

    def engine_only() -> None:
        engine = PresenceEngine(APP, str)
        for sighting in seen:
            engine.observe(sighting)

    def end_to_end() -> None:
        engine = PresenceEngine(APP, str)
        for manufacturer, rssi, at in adverts:
            parsed = parse_advertisement(manufacturer, {})
            for sighting in sightings(parsed.frames, rssi, "bench", at):
                engine.observe(sighting)

    rates = {
        "floor: dict update per sighting": _rate(floor, count, repeats),
        "presence engine": _rate(engine_only, count, repeats),
        "parse + sighting + engine": _rate(end_to_end, count, repeats),
    }
    base = rates["floor: dict update per sighting"]
    print(f"\nBLE presence, {count} advertisements from 300 beacons, median of {repeats}")
    print(f"{'pipeline':<34} {'adverts/s':>12} {'vs floor':>10}")
    for name, rate in rates.items():
        print(f"{name:<34} {rate:>12,.0f} {rate / base:>9.2f}x")
    return {"adverts_per_second": rates, "budget": 50_000}
