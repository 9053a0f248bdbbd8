"""The catalog cache: products, stock and loyalty customers in SQLite.

Loaded from the store's source file on first run (and again whenever that file
changes) until the platform's downlink keeps it fresh. Loyalty customers are stored
under their pseudonym, never their card number.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devices.barcode.gs1 import normalize_gtin
from devices.errors import InputError
from edge.errors import CatalogError
from edge.sqlite_tx import transaction, translated

_SCHEMA = """
CREATE TABLE IF NOT EXISTS products (gtin TEXT PRIMARY KEY, doc TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS customers (pseudonym TEXT PRIMARY KEY, doc TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value);
"""


@dataclass(frozen=True, slots=True)
class Stock:
    """Units available here, in nearby stores (by store name) and online."""

    here: int
    nearby: tuple[tuple[str, int], ...]
    online: int
    delivery_days: int


@dataclass(frozen=True, slots=True)
class Review:
    """An online review, shown in store."""

    author: str
    rating: int
    text: str
    helpful: int


@dataclass(frozen=True, slots=True)
class Product:
    """A product as the product screen shows it."""

    gtin: str
    name: dict[str, str]
    brand: str
    category: str
    price_cents: int
    currency: str
    page_url: str  # the product on the retailer's site ("" if the store has none)
    rating: float
    review_count: int
    stock: Stock
    reviews: tuple[Review, ...] = ()  # most helpful first

    def display_name(self, language: str) -> str:
        """The name in `language`, falling back to French."""
        return self.name.get(language) or self.name["fr"]


@dataclass(frozen=True, slots=True)
class Customer:
    """A loyalty customer, known by pseudonym."""

    first_name: str
    points: int
    personalisation: bool

    def __repr__(self) -> str:
        return "Customer(<redacted>)"


class Catalog:
    """Product and customer look-ups against the local cache."""

    def __init__(self, db_path: Path) -> None:
        with translated(CatalogError, "catalog open"):
            db_path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
            self._nearby_names: dict[str, str] = json.loads(self._meta("nearby_names") or "{}")
            self._product_page: str = self._meta("product_page") or ""

    def _meta(self, key: str) -> Any:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def close(self) -> None:
        """Close the cache."""
        self._db.close()

    def load_source(self, source: Path, pseudonymize: Callable[[str], str]) -> bool:
        """(Re)load the cache from `source` if it changed; True if it did."""
        try:
            raw = source.read_bytes()
        except OSError as error:
            raise CatalogError(f"{source}: cannot be read ({error.strerror})") from None
        # Customers are stored under pseudonyms: a new key must reload them too.
        digest = hashlib.sha256(raw + pseudonymize("catalog key check").encode()).hexdigest()
        with translated(CatalogError, "catalog read"):
            if self._meta("source_sha256") == digest:
                return False
        try:
            document = json.loads(raw)
            products = [_product_row(item) for item in document["products"]]
            customers = [
                (pseudonymize(str(item["card"])), _customer_doc(item))
                for item in document.get("customers", [])
            ]
            nearby = {str(s["id"]): str(s["name"]) for s in document["store"].get("nearby", [])}
            page = str(document["store"].get("product_page", ""))
            if page and (not page.startswith("https://") or "{gtin}" not in page):
                raise ValueError("store.product_page must be an https URL with {gtin}")
        except (ValueError, KeyError, TypeError, InputError) as error:
            raise CatalogError(f"{source}: invalid catalog ({error!r})") from None
        with translated(CatalogError, "catalog load"), transaction(self._db):
            self._db.execute("DELETE FROM products")
            self._db.execute("DELETE FROM customers")
            self._db.executemany("INSERT INTO products VALUES (?, ?)", products)
            self._db.executemany("INSERT INTO customers VALUES (?, ?)", customers)
            self._db.executemany(
                "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                [
                    ("source_sha256", digest),
                    ("nearby_names", json.dumps(nearby)),
                    ("product_page", page),
                ],
            )
        self._nearby_names = nearby
        self._product_page = page
        return True

    def lookup(self, gtin: str) -> Product | None:
        """The product with this GTIN (any length; normalized), or None."""
        with translated(CatalogError, "catalog lookup"):
            row = self._db.execute(
                "SELECT doc FROM products WHERE gtin = ?", (gtin.zfill(14),)
            ).fetchone()
        return None if row is None else self._product(json.loads(row[0]))

    def customer(self, pseudonym: str) -> Customer | None:
        """The loyalty customer with this pseudonym, or None."""
        with translated(CatalogError, "catalog lookup"):
            row = self._db.execute(
                "SELECT doc FROM customers WHERE pseudonym = ?", (pseudonym,)
            ).fetchone()
        return None if row is None else Customer(**json.loads(row[0]))

    def gtins(self) -> list[str]:
        """Every product's GTIN-14, in order."""
        with translated(CatalogError, "catalog list"):
            return [row[0] for row in self._db.execute("SELECT gtin FROM products ORDER BY gtin")]

    def count(self) -> int:
        """How many products the cache holds."""
        with translated(CatalogError, "catalog count"):
            return int(self._db.execute("SELECT COUNT(*) FROM products").fetchone()[0])

    def _product(self, doc: dict[str, Any]) -> Product:
        stock = doc["stock"]
        nearby = tuple(
            (self._nearby_names.get(store, store), int(units))
            for store, units in sorted(stock.get("nearby", {}).items())
        )
        return Product(
            gtin=doc["gtin"],
            name=doc["name"],
            brand=doc["brand"],
            category=doc["category"],
            price_cents=doc["price_cents"],
            currency=doc.get("currency", "EUR"),
            page_url=self._product_page.format(gtin=doc["gtin"].lstrip("0").zfill(13)),
            rating=doc["rating"],
            review_count=doc["review_count"],
            reviews=tuple(
                sorted(
                    (Review(**review) for review in doc.get("reviews", [])),
                    key=lambda review: -review.helpful,
                )
            ),
            stock=Stock(
                here=stock["here"],
                nearby=nearby,
                online=stock["online"],
                delivery_days=stock.get("delivery_days", 3),
            ),
        )


def _product_row(item: dict[str, Any]) -> tuple[str, str]:
    gtin = normalize_gtin(str(item["gtin"]))
    if not isinstance(item["name"], dict) or "fr" not in item["name"]:
        raise ValueError(f"product {item['gtin']}: name needs a French text")
    int(item["price_cents"])
    float(item["rating"])
    return gtin, json.dumps({**item, "gtin": gtin}, ensure_ascii=False)


def _customer_doc(item: dict[str, Any]) -> str:
    return json.dumps(
        {
            "first_name": str(item["first_name"]),
            "points": int(item["points"]),
            "personalisation": bool(item.get("personalisation", True)),
        },
        ensure_ascii=False,
    )
