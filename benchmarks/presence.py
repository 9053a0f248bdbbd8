"""BLE presence throughput: advertisements per second on one core.

A busy store: 300 beacons (20 shoppers running the store app, the rest other
people's beacons), each advertising several times a second. Measured: the presence
engine alone, and parse + sighting + engine from bleak-shaped advertisement data.
Then two floods, where every advertisement is a beacon never heard before: the store
app's UUID with random major/minor values (tracks capped, events rate-limited), and
random UUIDs (other beacons evicting each other at the cap).
Baseline in the same run: the cheapest loop that touches every sighting (a dict
update), the floor for any pure-Python engine. Budget: >= 50,000 adverts/s.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from devices.ble.frames import parse_advertisement
from devices.ble.sightings import sightings
from devices.readings import BeaconSighting
from edge.presence import PresenceEngine

APP = "426c7565-4368-6172-6d42-6561636f6e73"
BUDGET = 50_000
Advert = tuple[dict[int, bytes], int, float]


def _ibeacon(proximity: bytes, major_minor: int) -> bytes:
    return b"\x02\x15" + proximity + major_minor.to_bytes(4, "big") + b"\xc5"


def _busy_store(count: int) -> list[Advert]:
    rng = random.Random(5)
    app = bytes.fromhex(APP.replace("-", ""))
    beacons = [_ibeacon(app if index < 20 else rng.randbytes(16), index) for index in range(300)]
    return [
        ({76: beacons[rng.randrange(300)]}, rng.randint(-95, -45), step / 5000)
        for step in range(count)
    ]


def _flood(count: int, *, store_app: bool) -> list[Advert]:
    """Every advertisement a new beacon: the app's UUID or a random one."""
    rng = random.Random(6)
    app = bytes.fromhex(APP.replace("-", ""))
    return [
        (
            {76: _ibeacon(app if store_app else rng.randbytes(16), rng.getrandbits(32))},
            rng.randint(-95, -45),
            step / 5000,
        )
        for step in range(count)
    ]


def _sightings(adverts: list[Advert]) -> list[BeaconSighting]:
    return [
        s
        for manufacturer, rssi, at in adverts
        for s in sightings(parse_advertisement(manufacturer, {}).frames, rssi, "bench", at)
    ]


def _rate(work: Callable[[], Any], count: int, repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        samples.append(count / (time.perf_counter() - started))
    return statistics.median(samples)


def _engine_only(seen: list[BeaconSighting]) -> Callable[[], PresenceEngine]:
    def work() -> PresenceEngine:
        engine = PresenceEngine(APP, str)
        for sighting in seen:
            engine.observe(sighting)
        return engine

    return work


def _end_to_end(adverts: list[Advert]) -> Callable[[], PresenceEngine]:
    def work() -> PresenceEngine:
        engine = PresenceEngine(APP, str)
        for manufacturer, rssi, at in adverts:
            parsed = parse_advertisement(manufacturer, {})
            for sighting in sightings(parsed.frames, rssi, "bench", at):
                engine.observe(sighting)
        return engine

    return work


def run(count: int = 200_000, repeats: int = 5) -> dict[str, Any]:
    """Measure and print a table; returns the figures."""
    store = _busy_store(count)
    seen = _sightings(store)
    app_flood = _flood(count, store_app=True)
    other_flood = _flood(count, store_app=False)

    def floor() -> None:
        last: dict[str, float] = {}
        for sighting in seen:
            last[sighting.beacon_id] = sighting.rssi

    rates = {
        "floor: dict update per sighting": _rate(floor, count, repeats),
        "presence engine": _rate(_engine_only(seen), count, repeats),
        "parse + sighting + engine": _rate(_end_to_end(store), count, repeats),
        "flood, store-app UUID: engine": _rate(_engine_only(_sightings(app_flood)), count, repeats),
        "flood, store-app UUID: end to end": _rate(_end_to_end(app_flood), count, repeats),
        "flood, random UUIDs: end to end": _rate(_end_to_end(other_flood), count, repeats),
    }
    flooded = _end_to_end(app_flood)().stats()
    base = rates["floor: dict update per sighting"]
    print(f"\nBLE presence, {count} advertisements, median of {repeats}")
    print(f"{'pipeline':<36} {'adverts/s':>12} {'vs floor':>10}")
    for name, rate in rates.items():
        print(f"{name:<36} {rate:>12,.0f} {rate / base:>9.2f}x")
    slowest = min(rate for name, rate in rates.items() if not name.startswith("floor"))
    verdict = "met" if slowest >= BUDGET else "MISSED"
    print(f"budget {BUDGET:,} adverts/s end to end: {verdict} (slowest {slowest:,.0f})")
    print(
        f"after the store-app flood: {flooded.tracked} tracks (cap {PresenceEngine.MAX_TRACKS}),"
        f" {flooded.untracked_shoppers} sightings untracked,"
        f" {flooded.dropped['entered']} 'entered' events held back by the rate limit"
    )
    return {
        "adverts_per_second": rates,
        "budget": BUDGET,
        "flood": {
            "tracks": flooded.tracked,
            "cap": PresenceEngine.MAX_TRACKS,
            "untracked_sightings": flooded.untracked_shoppers,
            "entered_dropped": flooded.dropped["entered"],
        },
    }


def main() -> None:
    """`python -m benchmarks.presence [--quick]`: this benchmark alone, JSON written."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.presence")
    parser.add_argument("--quick", action="store_true", help="fewer adverts, for a smoke run")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/presence.json"))
    args = parser.parse_args()
    results = run(count=20_000, repeats=3) if args.quick else run()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"JSON written to {args.out}")


if __name__ == "__main__":
    main()
