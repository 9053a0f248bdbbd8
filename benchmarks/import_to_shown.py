"""An inventory change imported at the hub until the kiosk shows the new quantity.

The hub holds the store's streams (benchmarks.retail_feeds) and runs `borne hub serve`;
the kiosk is the real headless runtime, `borne edge`, on the same mosquitto, its catalog
fed by the streams (no `[catalog] source`). Once it shows the product, each round
writes a one-row local inventory feed with a new quantity and imports it as `borne hub
import` does (kiosk.hub_import_cli.hub_import, in this process: the command's own
interpreter start, ~0.7 s here, is not the link's), which commits the new stock version
and publishes its change set. The clock stops when the kiosk's files show the new
quantity, read as `borne catalog show` reads them (the catalog with its stock read live
from the stream cache); the time the change is first held in the stream cache is noted
too. At the end, the real `borne catalog show GTIN --json` must show the last quantity.

Budget (shared/BENCHMARKS.md): p95 <= 300 ms on loopback.
"""

from __future__ import annotations

import contextlib
import io
import json
import secrets
import signal
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from benchmarks.downlink import BORNE, HubSide, broker_for_streams, hub_serving, prepare_hub
from benchmarks.downlink_kiosk import DEVICE_ID, STORE_ID
from benchmarks.retail_feeds import gtin_of
from edge.catalog import CATALOG_CACHE, Catalog
from edge.catalog_live import STREAM_CACHE, StreamFile, StreamReads
from edge.config import Config, load_config
from edge.hub.config import load_hub_config
from edge.sync.messages import Stream
from kiosk.hub_import_cli import hub_import
from tests.mosquitto import Broker

BUDGET_MS = 300.0
PRODUCT = 4_321  # the product whose stock changes (its index in the generated feeds)
POLL_EVERY = 0.002  # seconds between two reads of the kiosk's files
READY_TIMEOUT = 900.0  # a fresh kiosk takes the snapshot, then builds its catalog
CHANGE_TIMEOUT = 30.0


class KioskView:
    """What the kiosk shows of a product, read from its files as `borne catalog show`
    does, and what its stream cache holds; opened once, read as often as needed."""

    def __init__(self, config: Config) -> None:
        self._config = config
        self._data_dir = config.data_dir
        self._cache: StreamFile | None = None
        self._catalog: Catalog | None = None

    def _open(self) -> tuple[StreamFile, Catalog] | None:
        if self._cache is None or self._catalog is None:
            if not (self._data_dir / CATALOG_CACHE).is_file():
                return None  # the kiosk has not built its catalog yet
            self._cache = StreamFile(self._data_dir / STREAM_CACHE)
            live = StreamReads(
                self._cache,
                store_names=self._config.catalog.store_names,
                stale_after=self._config.sync.stale_after,
            )
            self._catalog = Catalog(self._data_dir / CATALOG_CACHE, live=live)
        return self._cache, self._catalog

    def held(self, gtin: str) -> int | None:
        """The quantity here the stream cache holds for `gtin`."""
        opened = self._open()
        item = None if opened is None else opened[0].item(Stream.STOCK, gtin)
        return None if item is None else item.get("here")

    def shown(self, gtin: str) -> int | None:
        """The quantity here the product screen would show for `gtin`."""
        opened = self._open()
        product = None if opened is None else opened[1].lookup(gtin)
        return None if product is None else product.stock.here

    def close(self) -> None:
        """Close the files."""
        if self._catalog is not None:
            self._catalog.close()
        if self._cache is not None:
            self._cache.close()


def _kiosk_config(folder: Path, port: int) -> Path:
    """A store kiosk's configuration: its store, the broker, its pseudonym secret, and no
    catalog source file."""
    secret = folder / "pseudonym.key"
    secret.write_text(secrets.token_hex(32))
    path = folder / "kiosk.toml"
    path.write_text(
        f'[device]\nstore_id = "{STORE_ID}"\ndevice_id = "{DEVICE_ID}"\n'
        f'[privacy]\npseudonym_key_file = "{secret}"\n'
        f'[storage]\ndata_dir = "{folder / "kiosk-data"}"\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {port}\nreconnect_min = 0.1\nreconnect_max = 0.5\n'
    )
    return path


@contextlib.contextmanager
def _edge_running(config: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`borne edge` running (its log beside its configuration); stopped by SIGTERM."""
    with (config.parent / "edge.log").open("wb") as log:
        process = subprocess.Popen(
            [*BORNE, "edge", "--config", str(config)], stdout=log, stderr=subprocess.STDOUT
        )
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=120)


def _wait_shown(view: KioskView, gtin: str, edge: subprocess.Popen[bytes], log: Path) -> float:
    """Seconds until a fresh kiosk shows the product: the snapshot, then its catalog."""
    started = time.perf_counter()
    while view.shown(gtin) is None:
        if edge.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"borne edge exited {edge.returncode}: {tail}")
        if time.perf_counter() - started > READY_TIMEOUT:
            raise TimeoutError("the kiosk never showed the product")
        time.sleep(0.2)
    return time.perf_counter() - started


def _until(read: Callable[[], int | None], wanted: int, timeout: float) -> float:
    """Poll `read()` until it gives `wanted`; when it did (perf_counter)."""
    deadline = time.perf_counter() + timeout
    while read() != wanted:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"the kiosk never showed {wanted}")
        time.sleep(POLL_EVERY)
    return time.perf_counter()


def _import_quantity(hub: HubSide, folder: Path, quantity: int) -> None:
    """`borne hub import` of a one-row local inventory feed (its summary kept quiet)."""
    feed = folder / "inventory-change.tsv"
    feed.write_text(
        f"store_code\tid\tquantity\tavailability\n{STORE_ID}\tsku-{PRODUCT}\t{quantity}\tin_stock\n"
    )
    with contextlib.redirect_stdout(io.StringIO()):
        status = hub_import(load_hub_config(hub.config, environ={}), [feed])
    if status != 0:
        raise RuntimeError(f"borne hub import exited {status}")


def _catalog_show_here(config: Path, gtin: str) -> int | None:
    """The quantity here that `borne catalog show GTIN --json` prints (None: it failed)."""
    result = subprocess.run(
        [*BORNE, "catalog", "show", gtin, "--json", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        print(f"borne catalog show failed: {result.stderr.strip()[-300:]}")
        return None
    here: int = json.loads(result.stdout)["stock"]["here"]
    return here


def _rounds(hub: HubSide, folder: Path, view: KioskView, changes: int) -> list[dict[str, float]]:
    gtin = gtin_of(PRODUCT)
    samples = []
    for number in range(changes):
        quantity = 100 + number  # the generated stock is below 40: every round a change
        started = time.perf_counter()
        _import_quantity(hub, folder, quantity)
        imported = time.perf_counter()
        held = _until(lambda: view.held(gtin), quantity, CHANGE_TIMEOUT)
        shown = _until(lambda: view.shown(gtin), quantity, CHANGE_TIMEOUT)
        samples.append(
            {
                "import_ms": (imported - started) * 1000,
                "held_ms": (held - started) * 1000,
                "shown_ms": (shown - started) * 1000,
            }
        )
    return samples


def _measure(hub: HubSide, broker: Broker, folder: Path, changes: int) -> dict[str, Any]:
    config = _kiosk_config(folder, broker.port)
    view = KioskView(load_config(config, environ={}))
    gtin = gtin_of(PRODUCT)
    try:
        with hub_serving(hub.config, broker), _edge_running(config) as edge:
            ready_s = _wait_shown(view, gtin, edge, folder / "edge.log")
            samples = _rounds(hub, folder, view, changes)
            shown_by_command = _catalog_show_here(config, gtin)
    finally:
        view.close()
    return {"samples": samples, "first_shown_s": ready_s, "catalog_show_here": shown_by_command}


def _percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def run(products: int = 100_000, changes: int = 20) -> dict[str, Any]:
    """Measure `changes` imports on a store of `products`; prints a table."""
    with tempfile.TemporaryDirectory(prefix="borne-bench-import-") as name:
        folder = Path(name)
        with broker_for_streams(folder) as broker:
            hub = prepare_hub(folder, products, broker.port)
            measured = _measure(hub, broker, folder, changes)
    figures: dict[str, Any] = {"products": products, "changes": changes}
    for what in ("import_ms", "held_ms", "shown_ms"):
        values = [sample[what] for sample in measured["samples"]]
        figures[what] = {"p50": statistics.median(values), "p95": _percentile(values, 0.95)}
    figures |= {
        "first_shown_s": measured["first_shown_s"],
        "catalog_show_here": measured["catalog_show_here"],
        "catalog_show_agrees": measured["catalog_show_here"] == 100 + changes - 1,
        "budget_ms": BUDGET_MS,
        "samples": measured["samples"],
    }
    _print_table(figures)
    return figures


def _print_table(figures: dict[str, Any]) -> None:
    print(
        f"\nInventory change imported at the hub -> shown by the kiosk (borne edge), "
        f"{figures['products']} products, {figures['changes']} changes"
    )
    print(f"{'from the import starting, until':<52} {'p50 ms':>8} {'p95 ms':>8}")
    labels = {
        "import_ms": "the import committed and published (hub)",
        "held_ms": "the kiosk's stream cache holds it",
        "shown_ms": "the kiosk shows it (as borne catalog show reads)",
    }
    for key, label in labels.items():
        print(f"{label:<52} {figures[key]['p50']:>8.1f} {figures[key]['p95']:>8.1f}")
    printed = figures["catalog_show_here"]
    agrees = "yes" if figures["catalog_show_agrees"] else f"NO (it printed {printed})"
    print(f"borne catalog show --json shows the last quantity: {agrees}")
    print(f"fresh kiosk: first showed the product after {figures['first_shown_s']:.1f} s")
    print(f"budget: p95 <= {BUDGET_MS:.0f} ms")
