"""Catalog look-ups with 100,000 products: p50/p99 per GTIN look-up.

Baseline in the same run: a Python dict of the same 100,000 documents (parse included),
the floor for any on-disk cache. Budget (shared/BENCHMARKS.md): p99 <= 1 ms.
"""

from __future__ import annotations

import json
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from devices.barcode.gs1 import gtin_check_digit
from edge.catalog import Catalog


def _catalog_document(count: int) -> dict[str, Any]:
    products = []
    for index in range(count):
        body = f"376{index:09d}"
        products.append(
            {
                "gtin": body + str(gtin_check_digit(body)),
                "name": {"fr": f"Produit {index}", "en": f"Product {index}"},
                "brand": "Marque",
                "category": f"cat-{index % 12}",
                "price_cents": 100 + index % 9000,
                "rating": 3.5,
                "review_count": index % 500,
                "stock": {"here": index % 7, "nearby": {"lyon-01": 2}, "online": 10},
            }
        )
    return {
        "store": {"id": "bench", "nearby": [{"id": "lyon-01", "name": "Lyon"}]},
        "products": products,
    }


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.99)]


def run(count: int = 100_000, lookups: int = 20_000) -> dict[str, Any]:
    """Measure and print a table; returns the figures."""
    document = _catalog_document(count)
    rng = random.Random(3)
    wanted = [rng.choice(document["products"])["gtin"] for _ in range(lookups)]
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "catalog.json"
        source.write_text(json.dumps(document))
        catalog = Catalog(Path(folder) / "catalog.sqlite")
        started = time.perf_counter()
        catalog.load_source(source, str)
        load_seconds = time.perf_counter() - started
        borne = []
        for gtin in wanted:
            started = time.perf_counter()
            assert catalog.lookup(gtin) is not None
            borne.append((time.perf_counter() - started) * 1000)
        catalog.close()
    in_memory = {p["gtin"].zfill(14): json.dumps(p) for p in document["products"]}
    floor = []
    for gtin in wanted:
        started = time.perf_counter()
        json.loads(in_memory[gtin.zfill(14)])
        floor.append((time.perf_counter() - started) * 1000)
    rows = {
        "SQLite catalog cache": _percentiles(borne),
        "floor: dict + JSON parse": _percentiles(floor),
    }
    print(
        f"\nCatalog look-up, {count} products, {lookups} random GTINs (load {load_seconds:.1f} s)"
    )
    print(f"{'cache':<28} {'p50 ms':>8} {'p99 ms':>8}")
    for name, (p50, p99) in rows.items():
        print(f"{name:<28} {p50:>8.3f} {p99:>8.3f}")
    return {
        "products": count,
        "load_seconds": load_seconds,
        "p50_ms": {name: p50 for name, (p50, _) in rows.items()},
        "p99_ms": {name: p99 for name, (_, p99) in rows.items()},
        "budget_p99_ms": 1.0,
    }
