"""The kiosk's catalog made from the platform's streams, at a big retailer's size.

A stream cache holds N products (catalog, stock, 3 reviews each, a few offers) as a
snapshot delivered in pages would leave it. Measured, in the same run:

- the rebuild (`CatalogFollower.rebuild`: the streams read, the source document made,
  then loaded), against its baseline, loading that same document as a source file into
  a fresh catalog: the ratio is what coming from the streams costs;
- the kiosk process's peak memory (max RSS) after the rebuild, against before it (a
  big catalog is made in a child process: the kiosk's should not grow);
- a look-up with its stock read live from the cache, against one from the catalog alone
  (budget: p99 <= 1 ms, as any look-up);
- a stock change set applied, until a look-up shows it (no rebuild).

`python -m benchmarks.catalog_streams [--products N] [--out FILE]`.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from devices.barcode.gs1 import gtin_check_digit
from edge.catalog import Catalog
from edge.catalog_live import StreamReads
from edge.catalog_rebuild import CatalogPlace
from edge.catalog_sync import CatalogFollower
from edge.sync.cache import Handled, StreamCache
from edge.sync.messages import Stream

LOOKUP_BUDGET_MS = 1.0
PAGE_ITEMS = 5_000
KINDS = ["Audio", "Cuisine", "Maison", "Sport", "Jeux", "Beauté", "Jardin", "Bureau"]
NOW = datetime.now(UTC)


def _gtin(index: int) -> str:
    body = f"376{index:09d}"
    return f"0{body}{gtin_check_digit(body)}"


def _items(count: int, rng: random.Random) -> dict[Stream, dict[str, dict[str, Any]]]:
    catalog, stock, reviews = {}, {}, {}
    for index in range(count):
        gtin = _gtin(index)
        cents = rng.randrange(199, 99_999)
        catalog[gtin] = {
            "title": f"Produit {index} {rng.choice(['inox', 'bois', 'verre', 'coton'])}",
            "description": "Une description de deux lignes, comme un flux en porte. " * 2,
            "brand": f"Marque {index % 400}",
            "product_type": [rng.choice(KINDS), "Sous-rayon"],
            "link": f"https://shop.example/p/{gtin}",
            "price": {"cents": cents, "currency": "EUR"},
        }
        stock[gtin] = {
            "here": rng.randrange(0, 30),
            "nearby": {"lyon-01": rng.randrange(0, 9), "lille-01": rng.randrange(0, 9)},
            "online": rng.randrange(0, 500),
            "as_of": "2026-11-30T10:42:00Z",
        }
        reviews[gtin] = {
            "rating": round(rng.uniform(1, 5), 2),
            "count": 3,
            "reviews": [
                {"stars": rng.randrange(1, 6), "author": "Léa", "content": "Très bien. " * 8}
                for _ in range(3)
            ],
        }
    effective = {
        "start": (NOW - timedelta(days=1)).isoformat(),
        "end": (NOW + timedelta(days=9)).isoformat(),
    }
    offers = {
        f"offer-{n}": {
            "title": f"-{10 + n} % cette semaine",
            "effective": effective,
            "percent_off": 10 + n,
            "gtins": [_gtin(rng.randrange(count)) for _ in range(50)],
        }
        for n in range(20)
    }
    return {
        Stream.CATALOG: catalog,
        Stream.STOCK: stock,
        Stream.REVIEWS: reviews,
        Stream.OFFERS: offers,
    }


def _deliver(cache: StreamCache, stream: Stream, items: dict[str, dict[str, Any]]) -> None:
    """A snapshot of `items` in pages, as the hub sends one to a fresh kiosk."""
    keys = list(items)
    pages = max(1, -(-len(keys) // PAGE_ITEMS))
    for page in range(pages):
        chunk = keys[page * PAGE_ITEMS : (page + 1) * PAGE_ITEMS]
        document = {
            "store": "paris-01",
            "stream": str(stream),
            "epoch": "bench",
            "version": 1,
            "page": page + 1,
            "pages": pages,
            "items": [{"key": key, "value": items[key]} for key in chunk],
        }
        outcome = cache.handle(json.dumps(document).encode(), "paris-01", time.time())
        assert outcome.handled in (Handled.HELD, Handled.APPLIED), outcome


def _timed_ms(call: Callable[[], object], repeats: int) -> list[float]:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def _max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def run(count: int = 100_000, lookups: int = 5_000) -> dict[str, Any]:
    """Measure and print a table; returns the figures."""
    rng = random.Random(9)
    streams = _items(count, rng)
    wanted = [_gtin(rng.randrange(count)) for _ in range(lookups)]
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        cache = StreamCache(folder / "streams.sqlite")
        for stream, items in streams.items():
            _deliver(cache, stream, items)
        del streams
        reads = StreamReads(cache, store_names={"lyon-01": "Lyon"}, stale_after=600)
        catalog = Catalog(folder / "catalog.sqlite", live=reads)
        place = CatalogPlace(
            streams=folder / "streams.sqlite",
            catalog=folder / "catalog.sqlite",
            source=folder / "streams-catalog.json",
            pictures=None,
            store_id="paris-01",
        )
        follower = CatalogFollower(cache, place)
        rss_before = _max_rss_mib()
        started = time.perf_counter()
        assert follower.rebuild()  # a child makes and loads it, at this size
        rebuild_seconds = time.perf_counter() - started
        rss_after = _max_rss_mib()
        started = time.perf_counter()  # the document alone, made here to time it
        follower.document()
        document_seconds = time.perf_counter() - started
        assert catalog.count() == count
        # The baseline: the same document, loaded as a source file into a fresh catalog.
        plain = Catalog(folder / "plain.sqlite")
        started = time.perf_counter()
        assert plain.load_source(place.source)
        baseline_seconds = time.perf_counter() - started
        picks = iter(wanted * 2)
        live = _percentiles(_timed_ms(lambda: catalog.lookup(next(picks)), lookups))
        alone = _percentiles(_timed_ms(lambda: plain.lookup(next(picks)), lookups))
        quantities = iter(range(1, 10**6))

        def change_shown() -> None:
            quantity = next(quantities)
            gtin = wanted[quantity % len(wanted)]
            version = cache.position(Stream.STOCK).version + 1
            document = {
                "store": "paris-01",
                "stream": "stock",
                "epoch": "bench",
                "version": version,
                "changes": [{"key": gtin, "value": {"here": quantity}}],
            }
            cache.handle(json.dumps(document).encode(), "paris-01", time.time())
            shown = catalog.lookup(gtin)
            assert shown is not None
            assert shown.stock.here == quantity

        change = _percentiles(_timed_ms(change_shown, 300))
        plain.close()
        catalog.close()
        cache.close()
    ratio = rebuild_seconds / baseline_seconds
    print(f"\nCatalog from the streams, {count} products (3 reviews, stock, 20 offers)")
    print(f"{'what':<44} {'figure':>12} {'baseline':>12} {'ratio':>7}")
    print(
        f"{'rebuild (document + load) s':<44} {rebuild_seconds:>12.2f}"
        f" {baseline_seconds:>12.2f} {ratio:>7.2f}"
    )
    print(f"{'  of which the document from the streams s':<44} {document_seconds:>12.2f}")
    print(f"{'kiosk max RSS MiB (before -> after)':<44} {rss_before:>12.0f} {rss_after:>12.0f}")
    print(
        f"{'look-up p99 ms, stock live (vs catalog only)':<44} {live[1]:>12.3f}"
        f" {alone[1]:>12.3f} {live[1] / alone[1]:>7.2f}"
    )
    print(
        f"{'stock change applied -> shown, p50 / p99 ms':<44} {change[0]:>12.2f} {change[1]:>12.2f}"
    )
    verdict = "ok" if live[1] <= LOOKUP_BUDGET_MS else "OVER"
    print(f"look-up budget p99 <= {LOOKUP_BUDGET_MS:g} ms: {verdict}")
    return {
        "products": count,
        "rebuild_seconds": rebuild_seconds,
        "document_seconds": document_seconds,
        "baseline_load_seconds": baseline_seconds,
        "rebuild_over_baseline": ratio,
        "max_rss_mib_before": rss_before,
        "max_rss_mib_after": rss_after,
        "lookup_live_ms": {"p50": live[0], "p99": live[1]},
        "lookup_catalog_only_ms": {"p50": alone[0], "p99": alone[1]},
        "stock_change_shown_ms": {"p50": change[0], "p99": change[1]},
        "within_budget": live[1] <= LOOKUP_BUDGET_MS,
    }


def main() -> None:
    """`python -m benchmarks.catalog_streams [--products N] [--out FILE]`."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.catalog_streams")
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/catalog_streams.json"))
    args = parser.parse_args()
    results = run(count=args.products)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"\nJSON written to {args.out}")


if __name__ == "__main__":
    main()
