"""`borne hub import` into SQLite and into PostgreSQL: a whole catalog, then single changes.

Per backend, on a fresh database: the first import of N products (catalog, stock in
two stores and online, three reviews each), which makes every store's streams; then
imports of one changed quantity each (the incremental path a stock update takes),
p50 and p95. The baseline is measured in the same run on the same database: the items
the import ended with, written as bare (key, value) rows in one transaction (SQLite
`executemany`, PostgreSQL `COPY`): what storing those rows costs at the least, so the
ratio is the stream store's own cost. Both backends commit durably (SQLite
synchronous=FULL, PostgreSQL with fsync on: benchmarks/durable_postgres.py).

    python -m benchmarks.hub_streams_import [--products 100000] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import psycopg

from benchmarks.durable_postgres import DurablePostgres
from benchmarks.retail_feeds import changed_quantity, inventory, products, reviews
from edge.hub.streams import STREAMS, SqliteStreamDatabase, StreamDatabase, StreamStore
from edge.hub.streams.postgres import PostgresStreamDatabase

STORES = ("paris-01", "lyon-01")


def _timed(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def _one_backend(database: StreamDatabase, count: int, changes: int) -> dict[str, Any]:
    """The full import, then `changes` single-quantity imports, on one fresh database."""
    rng = random.Random(7)
    feeds = [products(count, rng), *(inventory(count, s, rng) for s in STORES), reviews(count, rng)]
    streams = StreamStore(database)
    try:
        full = _timed(lambda: streams.import_feeds(feeds))
        single = []
        for number in range(changes):
            change = changed_quantity(number, STORES[0], 1_000 + number)
            single.append(_timed(partial(streams.import_feed, change)))
        held = [
            (f"{store}/{stream}/{key}", value)
            for store in streams.stores()
            for stream in STREAMS
            for key, value in _texts(streams, store, stream).items()
        ]
    finally:
        streams.close()
    quantiles = statistics.quantiles(single, n=20) if len(single) > 1 else single * 19
    return {
        "full_import_s": full,
        "items_held": len(held),
        "change_p50_ms": statistics.median(single) * 1000,
        "change_p95_ms": quantiles[18] * 1000,
        "held": held,
    }


def _texts(streams: StreamStore, store: str, stream: Any) -> dict[str, str]:
    return {key: json.dumps(value) for key, value in streams.items(store, stream).items()}


def _bare_sqlite(path: Path, rows: list[tuple[str, str]]) -> float:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE bare (key TEXT PRIMARY KEY, value TEXT NOT NULL)")

    def write() -> None:
        db.execute("BEGIN IMMEDIATE")
        db.executemany("INSERT INTO bare VALUES (?, ?)", rows)
        db.execute("COMMIT")

    try:
        return _timed(write)
    finally:
        db.close()


def _bare_postgres(dsn: str, rows: list[tuple[str, str]]) -> float:
    with psycopg.connect(dsn, autocommit=True) as db:
        db.execute("CREATE TABLE bare (key TEXT PRIMARY KEY, value TEXT NOT NULL)")

        def write() -> None:
            statement = "COPY bare (key, value) FROM STDIN"
            with db.transaction(), db.cursor() as cursor, cursor.copy(statement) as copy:
                for row in rows:
                    copy.write_row(row)

        return _timed(write)


def run(count: int = 100_000, changes: int = 40) -> dict[str, Any]:
    """Both backends; prints a table, returns the figures."""
    results: dict[str, dict[str, Any]] = {}
    postgres = DurablePostgres()
    postgres.start()
    try:
        with tempfile.TemporaryDirectory(prefix="borne-bench-streams-") as folder:
            sqlite_path = Path(folder) / "streams.sqlite"
            results["sqlite"] = _one_backend(SqliteStreamDatabase(sqlite_path), count, changes)
            held = results["sqlite"].pop("held")
            results["sqlite"]["bare_s"] = _bare_sqlite(Path(folder) / "bare.sqlite", held)
        dsn = postgres.new_database()
        results["postgres"] = _one_backend(PostgresStreamDatabase(dsn), count, changes)
        held = results["postgres"].pop("held")
        results["postgres"]["bare_s"] = _bare_postgres(postgres.new_database(), held)
    finally:
        postgres.stop()
    for figures in results.values():
        figures["ratio_to_bare"] = figures["full_import_s"] / figures["bare_s"]
    _print_table(results, count, changes)
    return {"products": count, "stores": len(STORES), "changes": changes, "backends": results}


def _print_table(results: dict[str, dict[str, Any]], count: int, changes: int) -> None:
    print(
        f"\nhub streams import: {count:,} products, {len(STORES)} stores + online, 3 reviews each"
    )
    print(
        f"{'backend':<10}{'full import':>13}{'bare rows':>11}{'ratio':>7}"
        f"{'items':>10}{'change p50':>12}{'p95':>9}"
    )
    for name, figures in results.items():
        print(
            f"{name:<10}{figures['full_import_s']:>12.2f}s{figures['bare_s']:>10.2f}s"
            f"{figures['ratio_to_bare']:>7.1f}{figures['items_held']:>10,}"
            f"{figures['change_p50_ms']:>10.1f}ms{figures['change_p95_ms']:>7.1f}ms"
        )
    print(f"(change: one quantity imported, {changes} times; bare: the same items as rows)")


def main() -> None:
    """Run at the size given, print the table, write the JSON."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.hub_streams_import")
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--changes", type=int, default=40)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/hub_streams.json"))
    args = parser.parse_args()
    figures = run(args.products, args.changes)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2))
    print(f"JSON written to {args.out}")


if __name__ == "__main__":
    main()
