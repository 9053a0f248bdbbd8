"""The catalog at a retailer's size: every call a scan or a touch makes, at 100,000 products.

Generated products have names in French and English from a shop's vocabulary (accents
included), a brand, a shelf, stock in three stores and three reviews each. Measured:
the load, the GTIN look-up, the whole per-scan path (look-up + similar products, which
is everything the product screen reads), search (accents, case, prefixes), a shelf, the
attract loop's promotions, a loyalty customer, and look-ups while another thread reloads.

Baselines in the same run: a Python dict of the same documents (parse included) is the
floor for a look-up and for the per-scan path; the previous design (search as a LIKE
scan over folded text, similar products as the whole shelf read and sorted) on the same
products is the baseline for both. Budget: p99 <= 5 ms for every call a scan or a touch
makes (shared/BENCHMARKS.md: p99 <= 1 ms for the primary-key look-up).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sqlite3
import statistics
import tempfile
import threading
import time
import unicodedata
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from devices.barcode.gs1 import gtin_check_digit
from edge.catalog import SHELF_LIMIT, Catalog

BUDGET_MS = 5.0
LOOKUP_BUDGET_MS = 1.0
SHELVES = [
    ("cuisine", "Cuisine", "Kitchen"),
    ("audio", "Audio", "Audio"),
    ("maison", "Maison", "Home"),
    ("jeux", "Jeux et jouets", "Toys"),
    ("sport", "Sport", "Sport"),
    ("beaute", "Beauté", "Beauty"),
    ("jardin", "Jardin", "Garden"),
    ("bureau", "Bureau", "Office"),
    ("bebe", "Bébé", "Baby"),
    ("bricolage", "Bricolage", "DIY"),
    ("animaux", "Animalerie", "Pets"),
    ("epicerie", "Épicerie fine", "Delicatessen"),
]
NOUNS = [
    ("Cafetière", "coffee maker"),
    ("Théière", "teapot"),
    ("Bouilloire", "kettle"),
    ("Casque", "headphones"),
    ("Enceinte", "speaker"),
    ("Lampe", "lamp"),
    ("Plaid", "throw"),
    ("Peluche", "plush"),
    ("Gourde", "bottle"),
    ("Crème", "cream"),
    ("Sèche-cheveux", "hair dryer"),
    ("Tondeuse", "mower"),
    ("Perceuse", "drill"),
    ("Chaise", "chair"),
    ("Bougie", "candle"),
    ("Poêle", "frying pan"),
    ("Couteau", "knife"),
    ("Ballon", "ball"),
    ("Tapis", "mat"),
    ("Miel", "honey"),
]
QUALITIES = [
    ("sans fil", "wireless"),
    ("en inox", "stainless steel"),
    ("pour enfant", "for children"),
    ("isotherme", "insulated"),
    ("à piston", "French press"),
    ("mérinos", "merino"),
    ("électrique", "electric"),
    ("compacte", "compact"),
    ("bio", "organic"),
    ("pliable", "foldable"),
]
BRANDS = [
    f"{stem}{end}"
    for stem in ("Sono", "Brise", "Ray", "Envo", "Kali", "Nor")
    for end in "abcdefghij"
]
QUERIES = [
    "cafetiere",
    "CAFETIÈRE piston",
    "caf",
    "casque sans fil",
    "théière inox",
    "sèche-cheveux",
    "lampe enf",
    "kitchen",
    "bougie norb",
    "poele electrique 12",
    "zzzz",
]


def _gtin(index: int) -> str:
    body = f"376{index:09d}"
    return body + str(gtin_check_digit(body))


def _catalog_document(count: int, rng: random.Random) -> dict[str, Any]:
    products: list[dict[str, Any]] = []
    for index in range(count):
        noun_fr, noun_en = rng.choice(NOUNS)
        quality_fr, quality_en = rng.choice(QUALITIES)
        model = rng.randrange(1, 100)
        brand = rng.choice(BRANDS)
        products.append(
            {
                "gtin": _gtin(index),
                "name": {
                    "fr": f"{noun_fr} {quality_fr} {brand} {model}",
                    "en": f"{brand} {model} {quality_en} {noun_en}",
                },
                "description": {"fr": f"{noun_fr} {quality_fr}, garantie deux ans."},
                "brand": brand,
                "category": SHELVES[index % len(SHELVES)][0],
                "price_cents": rng.randrange(199, 50000, 10),
                "rating": round(rng.uniform(2.5, 5.0), 1),
                "review_count": rng.randrange(0, 800),
                "stock": {
                    "here": rng.randrange(0, 12),
                    "nearby": {"lyon-01": rng.randrange(0, 9), "lille-01": rng.randrange(0, 9)},
                    "online": rng.randrange(0, 200),
                    "delivery_days": rng.randrange(1, 6),
                },
                "reviews": [
                    {
                        "author": rng.choice(("Julie", "Karim", "Anne", "Léa", "Hugo")),
                        "rating": rng.randrange(1, 6),
                        "text": "Très bien, conforme à la description, livré vite.",
                        "helpful": rng.randrange(0, 60),
                    }
                    for _ in range(3)
                ],
            }
        )
    promotions = [
        {
            "id": f"promo-{number}",
            "gtin": products[number * 997 % count]["gtin"],
            "price_cents": 99,
            "title": {"fr": f"Promotion {number}"},
            "ends": "2099-12-31",
        }
        for number in range(30)
        if products[number * 997 % count]["price_cents"] > 99
    ]
    customers = [
        {
            "pseudonym": f"{rng.getrandbits(256):064x}",
            "first_name": "Camille",
            "points": rng.randrange(0, 5000),
            "offers": [{"gtin": rng.choice(products)["gtin"], "title": {"fr": "−5 €"}}],
        }
        for _ in range(2000)
    ]
    return {
        "store": {
            "id": "bench",
            "nearby": [{"id": "lyon-01", "name": "Lyon"}, {"id": "lille-01", "name": "Lille"}],
            "product_page": "https://shop.example/p/{gtin}",
        },
        "categories": [{"id": i, "name": {"fr": fr, "en": en}} for i, fr, en in SHELVES],
        "products": products,
        "promotions": promotions,
        "customers": customers,
    }


def _timed(call: Callable[[], object], repeats: int) -> list[float]:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def _percentiles(samples: list[float]) -> tuple[float, float, float]:
    """p50, p99 and the worst."""
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered), p99, ordered[-1]


def _fold(text: str) -> str:
    """The previous design's folding, done in Python for every product at load."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def _previous_design(
    document: dict[str, Any], wanted: list[str], repeats: int
) -> dict[str, list[float]]:
    """The previous design, timed: search as a LIKE '%word%' of every word over folded
    text, and similar products as the whole shelf read, parsed and sorted by price."""
    shelf_names = {c["id"]: " ".join(c["name"].values()) for c in document["categories"]}
    db = sqlite3.connect(":memory:")
    db.execute(
        "CREATE TABLE products (gtin TEXT PRIMARY KEY, category TEXT, search_text TEXT, doc TEXT)"
    )
    db.execute("CREATE INDEX products_by_category ON products (category)")
    db.executemany(
        "INSERT INTO products VALUES (?, ?, ?, ?)",
        (
            (
                p["gtin"],
                p["category"],
                _fold(" ".join([*p["name"].values(), p["brand"], shelf_names[p["category"]]])),
                json.dumps(p),
            )
            for p in document["products"]
        ),
    )

    def best_first(rows: list[tuple[str]]) -> list[dict[str, Any]]:
        parsed = [json.loads(row[0]) for row in rows]
        parsed.sort(key=lambda p: (-p["rating"], -p["review_count"], p["gtin"]))
        return parsed

    def search(query: str) -> None:
        words = re.findall(r"\w+", _fold(query))
        clause = " AND ".join("search_text LIKE ?" for _ in words)
        best_first(
            db.execute(
                f"SELECT doc FROM products WHERE {clause}",  # only placeholders
                [f"%{word}%" for word in words],
            ).fetchall()
        )

    def similar(gtin: str) -> None:
        (doc,) = db.execute("SELECT doc FROM products WHERE gtin = ?", (gtin,)).fetchone()
        product = json.loads(doc)
        shelf = best_first(
            db.execute(
                "SELECT doc FROM products WHERE category = ?", (product["category"],)
            ).fetchall()
        )
        others = [other for other in shelf if other["gtin"] != gtin]
        others.sort(key=lambda o: (abs(o["price_cents"] - product["price_cents"]), o["gtin"]))

    searches = [s for query in QUERIES for s in _timed(partial(search, query), repeats)]
    picks = iter(wanted)
    similars = _timed(lambda: similar(next(picks)), repeats * len(QUERIES))
    db.close()
    return {"search": searches, "similar": similars}


def _lookups_during_reload(
    catalog: Catalog, source: Path, document: dict[str, Any], wanted: list[str]
) -> tuple[list[float], float]:
    """Look-ups on this thread while another thread loads a changed source."""
    document["store"]["name"] = "changed"  # a new digest: a real reload
    source.write_text(json.dumps(document, ensure_ascii=False))
    loader = threading.Thread(target=catalog.load_source, args=(source,))
    samples = []
    started = time.perf_counter()
    loader.start()
    index = 0
    while loader.is_alive():
        gtin = wanted[index % len(wanted)]
        began = time.perf_counter()
        catalog.lookup(gtin)
        samples.append((time.perf_counter() - began) * 1000)
        index += 1
    loader.join()
    return samples, time.perf_counter() - started


def run(count: int = 100_000, lookups: int = 20_000) -> dict[str, Any]:
    """Measure and print a table; returns the figures."""
    rng = random.Random(3)
    document = _catalog_document(count, rng)
    wanted = [rng.choice(document["products"])["gtin"] for _ in range(lookups)]
    shelves = [shelf for shelf, _, _ in SHELVES]
    customers = [c["pseudonym"] for c in document["customers"]]
    searches = max(lookups // 10 // len(QUERIES), 1)
    rows: dict[str, tuple[float, float, float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "catalog.json"
        source.write_text(json.dumps(document, ensure_ascii=False))
        started = time.perf_counter()
        json.loads(source.read_bytes())
        parse_seconds = time.perf_counter() - started
        catalog = Catalog(Path(folder) / "catalog.sqlite")
        started = time.perf_counter()
        catalog.load_source(source)
        load_seconds = time.perf_counter() - started
        assert catalog.count() == count

        def scan(gtin: str) -> None:
            product = catalog.lookup(gtin)
            assert product is not None
            catalog.similar(product)

        picks = iter(wanted * 2)
        rows["look-up"] = _percentiles(_timed(lambda: catalog.lookup(next(picks)), lookups))
        rows["scan: look-up + similar"] = _percentiles(_timed(lambda: scan(next(picks)), lookups))
        queries = iter(QUERIES * searches)
        rows["search"] = _percentiles(
            _timed(lambda: catalog.search(next(queries)), searches * len(QUERIES))
        )
        shelf_picks = iter(shelves * (lookups // 10))
        rows["shelf (first screen)"] = _percentiles(
            _timed(lambda: catalog.in_category(next(shelf_picks)), lookups // 10)
        )
        deep = iter(shelves * (lookups // 10))
        rows["shelf, page 40"] = _percentiles(
            _timed(lambda: catalog.in_category(next(deep), offset=SHELF_LIMIT * 39), lookups // 10)
        )
        rows["promotions"] = _percentiles(_timed(catalog.promotions, lookups // 20))
        customer_picks = iter(customers * lookups)
        rows["customer"] = _percentiles(
            _timed(lambda: catalog.customer(next(customer_picks)), lookups // 10)
        )
        during, reload_seconds = _lookups_during_reload(catalog, source, document, wanted)
        rows["look-up during a reload"] = _percentiles(during)
        catalog.close()
    in_memory = {p["gtin"]: json.dumps(p) for p in document["products"]}
    floor_picks = iter(wanted * 5)
    rows["floor: dict + JSON, 1 product"] = _percentiles(
        _timed(lambda: json.loads(in_memory[next(floor_picks)]), lookups)
    )
    rows["floor: dict + JSON, 4 products"] = _percentiles(
        _timed(lambda: [json.loads(in_memory[next(floor_picks)]) for _ in range(4)], lookups)
    )
    previous = _previous_design(document, wanted, repeats=3 if count >= 50_000 else 10)
    rows["previous design: search"] = _percentiles(previous["search"])
    rows["previous design: similar"] = _percentiles(previous["similar"])
    budgets = {
        "look-up": LOOKUP_BUDGET_MS,
        "scan: look-up + similar": BUDGET_MS,
        "search": BUDGET_MS,
        "shelf (first screen)": BUDGET_MS,
        "shelf, page 40": BUDGET_MS,
        "promotions": BUDGET_MS,
        "customer": BUDGET_MS,
    }
    print(
        f"\nCatalog, {count} products with 3 reviews each: load {load_seconds:.2f} s"
        f" (floor: json.loads of the file {parse_seconds:.2f} s);"
        f" a reload in a worker thread took {reload_seconds:.2f} s"
    )
    print(f"{'call':<32} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'p99 budget':>11}")
    for name, (p50, p99, worst) in rows.items():
        budget = budgets.get(name)
        verdict = "" if budget is None else f"{'ok' if p99 <= budget else 'OVER'} {budget:g}"
        print(f"{name:<32} {p50:>8.3f} {p99:>8.3f} {worst:>8.2f} {verdict:>11}")
    for call, previous_call in (
        ("search", "previous design: search"),
        ("scan: look-up + similar", "previous design: similar"),
    ):
        speedup = rows[previous_call][1] / rows[call][1]
        print(f"{call} p99: {speedup:.0f} times faster than the {previous_call}")
    return {
        "products": count,
        "load_seconds": load_seconds,
        "parse_floor_seconds": parse_seconds,
        "reload_in_worker_seconds": reload_seconds,
        "p50_ms": {name: p50 for name, (p50, _, _) in rows.items()},
        "p99_ms": {name: p99 for name, (_, p99, _) in rows.items()},
        "max_ms": {name: worst for name, (_, _, worst) in rows.items()},
        "budget_p99_ms": budgets,
        "within_budget": all(rows[name][1] <= budget for name, budget in budgets.items()),
    }


def main() -> None:
    """`python -m benchmarks.catalog [--products N] [--out FILE]`: this benchmark alone."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.catalog")
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--lookups", type=int, default=20_000)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/catalog.json"))
    args = parser.parse_args()
    results = run(count=args.products, lookups=args.lookups)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"\nJSON written to {args.out}")


if __name__ == "__main__":
    main()
