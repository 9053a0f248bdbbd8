"""The hub ingesting from a fleet of kiosks publishing at once, against a real mosquitto.

200 simulated kiosks (benchmarks.kiosk_fleet: one MQTT 5 connection each, QoS 1, real
CloudEvents envelopes, the uplink's in-flight window) publish all their events at
once to a mosquitto on a free loopback port. Each consumer runs in its own process
(benchmarks.ingest_consumer) on the shared subscription:

- baseline: a bare paho subscriber that only counts (same Receive Maximum as the hub);
- the hub as `borne hub serve` builds it, into SQLite (synchronous=FULL);
- the hub into PostgreSQL (a real server with durable commits, benchmarks.durable_postgres);
- two hub processes on the one shared subscription, into SQLite, then PostgreSQL.

`batch` in the table is the mean number of events per commit (a hub notes one time for
every event of a batch).

Measured: events stored per second (from the first publish to the last commit) and the
end-to-end latency of each event (publish -> its batch committed, p50 and p95), with
the ratio of each rate to the bare subscriber's in the same run. At the end of each run
every (device, sequence) must be stored exactly once: counted in the store's table and
in the hub's own view of each device (`devices()`: last contiguous sequence).
Budget (shared/BENCHMARKS.md): the hub into SQLite >= 0.8x the bare subscriber.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from benchmarks import store_ceiling
from benchmarks.durable_postgres import DurablePostgres
from edge.hub.config import load_hub_config
from edge.hub.service import EVENTS_TOPIC, HubService
from tests.mosquitto import Broker, free_port

BUDGET_RATIO = 0.8
SUBSCRIBED = f"$share/borne-hub/{EVENTS_TOPIC}"  # as the broker logs a consumer's subscription
TIMEOUT = 600.0
CONSUMER = "benchmarks.ingest_consumer"


@dataclass(frozen=True)
class Variant:
    """Who consumes the events, and into what."""

    name: str
    label: str
    consumers: int
    store: str  # "" (bare subscriber), "sqlite" or "postgres"


VARIANTS = (
    Variant("bare", "bare paho subscriber (counts only)", 1, ""),
    Variant("hub_sqlite", "hub -> SQLite", 1, "sqlite"),
    Variant("hub_postgres", "hub -> PostgreSQL", 1, "postgres"),
    Variant("two_hubs_sqlite", "2 hub processes -> one SQLite", 2, "sqlite"),
    Variant("two_hubs_postgres", "2 hub processes -> PostgreSQL", 2, "postgres"),
)


@dataclass
class Child:
    """A child process whose stdout lines are read by a thread."""

    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    count: int = 0

    @classmethod
    def start(cls, *args: str) -> Child:
        """`python -m benchmarks.<args>`, its stdout followed."""
        process = subprocess.Popen(
            [sys.executable, "-m", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        child = cls(process)
        threading.Thread(target=child._follow, daemon=True).start()
        return child

    def _follow(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith("count "):
                self.count = int(line.split()[1])
            else:
                self.lines.append(line.strip())

    def wait_for_line(self, text: str, timeout: float = TIMEOUT) -> None:
        """Block until the child prints `text`."""
        _wait(lambda: text in self.lines, timeout, f"{text!r} from {self.process.args!r}")

    def stop(self) -> None:
        """SIGTERM, then wait for it to exit."""
        if self.process.poll() is None:
            self.process.terminate()
        self.process.wait(timeout=120)


def _wait(done: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:.0f} s for {what}")
        time.sleep(0.02)


def _subscriptions(broker: Broker) -> int:
    """How many consumers the broker has logged on the shared subscription."""
    log = (broker.directory / "mosquitto.log").read_text(errors="replace")
    return log.count(SUBSCRIBED)


@contextmanager
def _broker(folder: Path) -> Iterator[Broker]:
    directory = folder / "broker"
    directory.mkdir()
    broker = Broker(directory, free_port(), persistent=False, options="log_type subscribe\n")
    broker.start()
    try:
        yield broker
    finally:
        broker.kill()


def _hub_config(folder: Path, port: int, store_url: str, number: int) -> Path:
    """A hub TOML as an installer writes it: the broker, a client id, the store."""
    path = folder / f"hub-{number}.toml"
    path.write_text(
        f'[mqtt]\nhost = "127.0.0.1"\nport = {port}\nclient_id = "bench-hub-{number}"\n'
        f'[store]\ndata_dir = "{folder / "hub-data"}"\nurl = "{store_url}"\n'
    )
    return path


def _store_url(variant: Variant, folder: Path, postgres: DurablePostgres | None) -> str:
    if variant.store == "postgres":
        assert postgres is not None
        return postgres.new_database_url()
    return f"sqlite:///{folder / 'events.sqlite'}"


def _stored_rows(config: Path) -> tuple[int, int, list[int]]:
    """Rows in the events table, distinct (device, sequence), each device's contiguous run."""
    hub = load_hub_config(config, environ={})
    count = "SELECT count(*), count(DISTINCT device_id || ':' || sequence) FROM events"
    if hub.store.url.startswith("sqlite:///"):
        with sqlite3.connect(hub.store.url.removeprefix("sqlite:///")) as db:
            rows, distinct = db.execute(count).fetchone()
    else:
        with psycopg.connect(hub.store.url) as db:
            found = db.execute(count).fetchone()
            assert found is not None
            rows, distinct = found
    store = hub.store.open()
    try:
        contiguous = [device.last_contiguous for device in store.devices()]
    finally:
        store.close()
    return int(rows), int(distinct), contiguous


def _percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def _start_consumers(
    variant: Variant, broker: Broker, configs: list[Path], outs: list[Path]
) -> list[Child]:
    if not variant.store:
        port = str(broker.port)
        return [Child.start(CONSUMER, "bare", "--port", port, "--out", str(outs[0]))]
    return [
        Child.start(CONSUMER, "hub", "--config", str(config), "--out", str(out))
        for config, out in zip(configs, outs, strict=True)
    ]


def _publish(fleet: Child, consumers: list[Child], broker: Broker, total: int) -> None:
    """Once every consumer is subscribed, let the fleet go; return once all is stored."""
    _wait(lambda: _subscriptions(broker) >= len(consumers), 60, "the subscriptions")
    fleet.wait_for_line("connected")
    assert fleet.process.stdin is not None
    fleet.process.stdin.write("go\n")
    fleet.process.stdin.flush()
    fleet.wait_for_line("delivered")
    fleet.process.wait(timeout=60)
    _wait(lambda: sum(c.count for c in consumers) >= total, TIMEOUT, "every event")


def _figures(published: dict[str, list[float]], outs: list[Path], total: int) -> dict[str, Any]:
    """Rate and latencies from each event's publish time and first commit (or arrival)."""
    first_stored: dict[tuple[str, int], float] = {}
    deliveries = 0
    shares = []  # events each consumer took from the shared subscription
    commits = 0  # a hub notes the same time for every event of a batch
    for out in outs:
        taken = json.loads(out.read_text())
        shares.append(len(taken))
        commits += len({at for _, _, at in taken})
        for device, sequence, at in taken:
            deliveries += 1
            key = (device, sequence)
            first_stored[key] = min(at, first_stored.get(key, at))
    latencies = [
        (at - published[device][sequence - 1]) * 1000
        for (device, sequence), at in first_stored.items()
    ]
    start = min(times[0] for times in published.values())
    return {
        "events_per_second": total / (max(first_stored.values()) - start),
        "latency_ms_p50": statistics.median(latencies),
        "latency_ms_p95": _percentile(latencies, 0.95),
        "distinct_events": len(first_stored),
        "redeliveries": deliveries - len(first_stored),
        "shares": shares,
        "mean_batch": deliveries / commits,
    }


def _one_run(
    variant: Variant, kiosks: int, events: int, folder: Path, postgres: DurablePostgres | None
) -> dict[str, Any]:
    """Publish from the fleet to `variant`'s consumers once; the figures of that run."""
    total = kiosks * events
    with _broker(folder) as broker:
        url = _store_url(variant, folder, postgres)
        configs = [
            _hub_config(folder, broker.port, url, number) for number in range(variant.consumers)
        ]
        outs = [folder / f"stored-{number}.json" for number in range(variant.consumers)]
        consumers = _start_consumers(variant, broker, configs, outs)
        fleet_out = folder / "published.json"
        fleet = Child.start(
            "benchmarks.kiosk_fleet",
            *("--port", str(broker.port), "--kiosks", str(kiosks)),
            *("--events", str(events), "--out", str(fleet_out)),
        )
        try:
            _publish(fleet, consumers, broker, total)
        finally:
            for child in (fleet, *consumers):
                child.stop()
    figures = _figures(json.loads(fleet_out.read_text()), outs, total)
    if variant.store:
        rows, distinct, contiguous = _stored_rows(configs[0])
        figures["each_stored_once"] = (
            rows == distinct == total
            and len(contiguous) == kiosks
            and all(last == events for last in contiguous)
        )
    else:
        figures["each_stored_once"] = figures["distinct_events"] == total
    return figures


def run(kiosks: int = 200, events: int = 100, rounds: int = 3) -> dict[str, Any]:
    """Every variant, `rounds` times interleaved; prints a table, returns the figures."""
    postgres = DurablePostgres()
    postgres.start()
    samples: dict[str, list[dict[str, Any]]] = {variant.name: [] for variant in VARIANTS}
    try:
        for _ in range(rounds):  # interleaved, so machine noise hits all alike
            for variant in VARIANTS:
                with tempfile.TemporaryDirectory(prefix="borne-bench-ingest-") as folder:
                    samples[variant.name].append(
                        _one_run(variant, kiosks, events, Path(folder), postgres)
                    )
        ceilings = _ceilings(kiosks, events, postgres)
    finally:
        postgres.stop()
    medians = {
        name: {
            key: statistics.median(run[key] for run in runs)
            for key in ("events_per_second", "latency_ms_p50", "latency_ms_p95")
        }
        | {
            "each_stored_once": all(run["each_stored_once"] for run in runs),
            "redeliveries": sum(run["redeliveries"] for run in runs),
            "mean_batch": statistics.median(run["mean_batch"] for run in runs),
        }
        for name, runs in samples.items()
    }
    baseline = medians["bare"]["events_per_second"]
    for figures in medians.values():
        figures["ratio_to_bare"] = figures["events_per_second"] / baseline
    _print_table(medians, kiosks, events, rounds)
    print(
        f"without MQTT: parse_event {ceilings['parse_per_second']:.0f} events/s; the store "
        f"alone in batches of {HubService.BATCH_SIZE}: SQLite "
        f"{ceilings['sqlite_store_per_second']:.0f}/s, PostgreSQL "
        f"{ceilings['postgres_store_per_second']:.0f}/s"
    )
    return {
        "without_mqtt": ceilings,
        "kiosks": kiosks,
        "events_per_kiosk": events,
        "rounds": rounds,
        "median": medians,
        "runs": samples,
        "budget_ratio_sqlite": BUDGET_RATIO,
    }


def _ceilings(kiosks: int, events: int, postgres: DurablePostgres) -> dict[str, float]:
    """The hub's parsing and its stores alone, on the same events (benchmarks.store_ceiling)."""
    parse_per_second, parsed = store_ceiling.parse_rate(store_ceiling.kiosk_events(kiosks, events))
    figures = {"parse_per_second": parse_per_second}
    with tempfile.TemporaryDirectory(prefix="borne-bench-store-") as name:
        folder = Path(name)
        for kind, url in (
            ("sqlite", f"sqlite:///{folder / 'events.sqlite'}"),
            ("postgres", postgres.new_database_url()),
        ):
            config = _hub_config(folder, free_port(), url, 0)
            figures[f"{kind}_store_per_second"] = store_ceiling.store_rate(config, parsed)
    return figures


def _yes(holds: bool) -> str:
    return "yes" if holds else "NO"


def _print_table(medians: dict[str, dict[str, Any]], kiosks: int, events: int, rounds: int) -> None:
    print(
        f"\nHub ingest: {kiosks} kiosks x {events} events (QoS 1) at once, "
        f"mosquitto on loopback, median of {rounds}"
    )
    print(
        f"{'consumer':<36} {'events/s':>9} {'vs bare':>8} {'p50 ms':>8} {'p95 ms':>8} "
        f"{'batch':>6} {'each once':>10}"
    )
    for variant in VARIANTS:
        figures = medians[variant.name]
        print(
            f"{variant.label:<36} {figures['events_per_second']:>9.0f} "
            f"{figures['ratio_to_bare']:>7.2f}x {figures['latency_ms_p50']:>8.1f} "
            f"{figures['latency_ms_p95']:>8.1f} {figures['mean_batch']:>6.1f} "
            f"{_yes(figures['each_stored_once']):>10}"
        )
    print(f"budget: hub -> SQLite >= {BUDGET_RATIO}x the bare subscriber")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.hub_ingest")
    parser.add_argument("--kiosks", type=int, default=200)
    parser.add_argument("--events", type=int, default=100, help="events per kiosk")
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    run(options.kiosks, options.events, options.rounds)
