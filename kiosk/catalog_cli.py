"""`borne catalog`: what the kiosk holds of the platform's streams, and what it shows.

Both commands read the kiosk's files while it runs (SQLite WAL: a reader never blocks
the kiosk's writes) and change nothing in them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devices.barcode.gs1 import normalize_gtin
from devices.errors import InputError

if TYPE_CHECKING:
    from edge.catalog import Product
    from edge.config import Config
    from edge.sync.status import SyncStatus


def add_catalog_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `borne catalog` and its commands to the `borne` parser."""
    catalog = commands.add_parser(
        "catalog", help="the platform's streams as the kiosk holds them, and what it shows"
    )
    catalog_commands = catalog.add_subparsers(dest="catalog_command", required=True)
    status = catalog_commands.add_parser(
        "status", help="each stream's version, items and age, and the link's state"
    )
    status.add_argument("--config", type=Path, required=True)
    status.add_argument("--json", action="store_true")
    show = catalog_commands.add_parser(
        "show", help="what the kiosk would show for a product right now"
    )
    show.add_argument("gtin", metavar="GTIN")
    show.add_argument("--config", type=Path, required=True)
    show.add_argument("--json", action="store_true")


def run_catalog_command(config: Config, args: argparse.Namespace) -> int:
    """Run `borne catalog ...`; returns the exit status."""
    if args.catalog_command == "status":
        return _status(config, as_json=args.json)
    return _show(config, args.gtin, as_json=args.json)


def _status(config: Config, *, as_json: bool) -> int:
    from edge.catalog_live import STREAM_CACHE
    from edge.sync.status import read_sync_status

    status = read_sync_status(config.data_dir / STREAM_CACHE)
    now = time.time()
    if as_json:
        print(json.dumps(status_document(status, now)))
        return 0
    for line in describe_status(status, now):
        print(line)
    return 0


def status_document(status: SyncStatus, now: float) -> dict[str, Any]:
    """`borne catalog status --json`: each stream, and the link."""
    link = status.link
    return {
        "streams": [
            {
                "stream": str(held.stream),
                "epoch": held.epoch,
                "version": held.version,
                "items": held.count,
                "synced_at": _rfc3339(held.synced_at),
                "age_seconds": _seconds(held.age(now)),
            }
            for held in status.streams
        ],
        "link": {
            "connected": link.connected,
            "since": _rfc3339(link.since),
            "pending": [str(stream) for stream in link.pending],
            "counters": link.counters.as_dict(),
            "problem": link.problem,
            "recorded_at": _rfc3339(link.recorded_at),
        },
    }


def describe_status(status: SyncStatus, now: float) -> list[str]:
    """`borne catalog status`: one line per stream, then the link's."""
    lines = [f"{'stream':<10} {'epoch':<20} {'version':>8} {'items':>9}  age"]
    for held in status.streams:
        age = held.age(now)
        lines.append(
            f"{held.stream:<10} {held.epoch or '-':<20} {held.version:>8} {held.count:>9}"
            f"  {'never synced' if age is None else _age(age)}"
        )
    link = status.link
    if link.recorded_at is None:
        lines.append("link: no downlink has run on this cache yet")
    else:
        state = "connected" if link.connected else "disconnected"
        since = "" if link.since is None else f" since {_local(link.since)}"
        lines.append(f"link: {state}{since} (as of {_age(now - link.recorded_at)} ago)")
        if link.pending:
            lines.append(f"resyncs outstanding: {', '.join(map(str, link.pending))}")
        counters = link.counters.as_dict()
        lines.append("messages: " + ", ".join(f"{n} {name}" for name, n in counters.items()))
        if link.problem:
            lines.append(f"last problem: {link.problem}")
    return lines


def _show(config: Config, text: str, *, as_json: bool) -> int:
    # Imported here: the `borne` commands that do not need the catalog start faster.
    from edge.catalog import CATALOG_CACHE, Catalog
    from edge.catalog_live import STREAM_CACHE, StreamFile, StreamReads
    from edge.errors import CatalogError
    from edge.sync.messages import Stream

    try:
        gtin = normalize_gtin(text.strip())
    except InputError as error:
        print(f"borne: {text[:40]!r} is not a GTIN: {error.reason}", file=sys.stderr)
        return 2  # a usage error, as argparse's
    catalog_path = config.data_dir / CATALOG_CACHE
    streams_path = config.data_dir / STREAM_CACHE
    cache = StreamFile(streams_path) if streams_path.is_file() else None
    try:
        live = (
            None
            if cache is None
            else StreamReads(
                cache, store_names=config.catalog.store_names, stale_after=config.sync.stale_after
            )
        )
        catalog = Catalog(catalog_path, live=live, read_only=True)
        try:
            product = catalog.lookup(gtin)
        finally:
            catalog.close()
        stock_age = None if cache is None else cache.age(Stream.STOCK, time.time())
    finally:
        if cache is not None:
            cache.close()
    if product is None:
        raise CatalogError(f"product {gtin.lstrip('0').zfill(13)}: not in the kiosk's catalog")
    shown = product_document(product, stock_age)
    if as_json:
        print(json.dumps(shown, ensure_ascii=False))
    else:
        for line in describe_product(shown):
            print(line)
    return 0


def product_document(product: Product, stock_age: float | None) -> dict[str, Any]:
    """`borne catalog show --json`: what the product screen shows, in French."""
    promotion = product.promotion
    stock = product.stock
    return {
        "gtin": product.gtin,
        "title": product.display_name("fr"),
        "brand": product.brand,
        "category": product.category,
        "currency": product.currency,
        "price_cents": product.price_cents,
        "current_price_cents": product.current_price_cents,
        "promotion": None
        if promotion is None
        else {
            "id": promotion.id,
            "title": promotion.display_title("fr"),
            "price_cents": promotion.price_cents,
            "ends": promotion.ends.isoformat(),
        },
        "stock": {
            "here": stock.here,
            "nearby": [{"store": store, "units": units} for store, units in stock.nearby],
            "online": stock.online,
            "as_of": None if stock.as_of is None else stock.as_of.isoformat(),
            "age_seconds": _seconds(stock_age),
            "stale": stock.stale,
        },
        "rating": product.rating,
        "review_count": product.review_count,
    }


def describe_product(shown: dict[str, Any]) -> list[str]:
    """`borne catalog show`: the product document, one fact a line."""
    price = f"{shown['current_price_cents'] / 100:.2f} {shown['currency']}"
    lines = [f"{shown['gtin']}  {shown['title']} ({shown['brand'] or 'no brand'})"]
    promotion = shown["promotion"]
    if promotion is None:
        lines.append(f"price: {price}")
    else:
        was = f"{shown['price_cents'] / 100:.2f}"
        lines.append(f"price: {price} (was {was}; {promotion['title']}, until {promotion['ends']})")
    stock = shown["stock"]
    nearby = ", ".join(f"{store} {units}" for store, units in _pairs(stock["nearby"])) or "none"
    lines.append(f"stock here: {stock['here']}, online: {stock['online']}, nearby: {nearby}")
    age = stock["age_seconds"]
    if age is not None:
        flag = " (stale: the screen shows its time)" if stock["stale"] else ""
        lines.append(f"stock confirmed {_age(age)} ago{flag}")
    elif stock["stale"]:
        lines.append("stock: never received from the platform")
    else:
        lines.append("stock: from the catalog source file (no time)")
    lines.append(f"rating: {shown['rating']:.1f}/5 from {shown['review_count']} reviews")
    return lines


def _pairs(nearby: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return [(entry["store"], entry["units"]) for entry in nearby]


def _seconds(age: float | None) -> float | None:
    return None if age is None else round(age, 1)


def _rfc3339(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


def _local(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
