"""The catalog cache: products, shelves, promotions and loyalty customers in SQLite.

Loaded from the store's source file on first run (and again whenever that file
changes) until the platform's downlink keeps it fresh. Loyalty customers are stored
under their pseudonym, never their card number.

Every answer a scan or a touch needs is one or two indexed reads, whatever the size of
the catalog: shelves and search results are read best first and stop at a screenful,
similar products are found at load. The cache may be used from any one thread (calls
are serialised), and a load runs on its own connection, so a worker thread can reload
it while the kiosk keeps answering from the previous cache until the new one commits.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from edge.catalog_index import CacheRows, cache_rows, searchable_text
from edge.catalog_source import SourceReader
from edge.catalog_types import (
    Category,
    Customer,
    Offer,
    Product,
    Promotion,
    Review,
    Stock,
    in_language,
)
from edge.errors import CatalogError
from edge.sqlite_tx import translated

__all__ = [
    "SCHEMA_VERSION",
    "SEARCH_LIMIT",
    "SHELF_LIMIT",
    "Catalog",
    "Category",
    "Customer",
    "Offer",
    "Product",
    "Promotion",
    "Review",
    "Stock",
    "in_language",
]

# Bumped whenever the tables change: an older cache is dropped and reloaded from source.
SCHEMA_VERSION = 4
_TABLES = ("products", "product_words", "customers", "meta")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS products (
    rank INTEGER PRIMARY KEY,  -- best first: rating, review count, GTIN (see catalog_index)
    gtin TEXT NOT NULL UNIQUE,
    category TEXT NOT NULL,
    similar TEXT NOT NULL,  -- ranks of the closest in price on the shelf, closest first
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS products_by_shelf ON products (category, rank);
-- Contentless: only the row ids (ranks) are read back. Prefix indexes make a word
-- being typed ("caf") as cheap to find as a whole one.
CREATE VIRTUAL TABLE IF NOT EXISTS product_words USING fts5(
    words, content='', prefix='1 2 3', tokenize='unicode61 remove_diacritics 2'
);
CREATE TABLE IF NOT EXISTS customers (pseudonym TEXT PRIMARY KEY, doc TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value);
"""
SEARCH_LIMIT = 24  # one screen of results: a shopper refines rather than scrolls
SHELF_LIMIT = 48  # a shelf's first screens; further products are read by `offset`
_WORD = re.compile(r"[^\W_]+")  # letters and digits, as the FTS5 tokenizer splits them


class Catalog:
    """Product, shelf, promotion and customer look-ups against the local cache.

    With no source ever loaded, every call answers empty.
    """

    def __init__(self, db_path: Path, *, today: Callable[[], date] = date.today) -> None:
        self._path = db_path
        self._today = today
        self._lock = threading.Lock()  # one connection, so one call at a time
        self._load_lock = threading.Lock()  # and one load at a time
        with translated(CatalogError, "catalog open"):
            db_path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._migrate()
            self._read_store_meta()

    def _migrate(self) -> None:
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value)")
        if self._meta("schema_version") != SCHEMA_VERSION:
            drops = "".join(f"DROP TABLE IF EXISTS {table};" for table in _TABLES)
            version = f"INSERT INTO meta VALUES ('schema_version', {SCHEMA_VERSION});"  # noqa: S608
            self._db.executescript(f"BEGIN IMMEDIATE;{drops}{_SCHEMA}{version}COMMIT;")

    def _read_store_meta(self) -> None:
        self._lists = _StoreLists.from_json(
            self._meta("categories") or "[]", self._meta("promotions") or "[]"
        )

    def _meta(self, key: str) -> Any:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def close(self) -> None:
        """Close the cache."""
        with self._lock:
            self._db.close()

    def load_source(self, source: Path) -> bool:
        """(Re)load the cache from `source` if the file changed; True if it did.

        The source is validated whole first: a bad one raises CatalogError naming the
        product and the field, and the previous cache keeps answering as before.
        Safe to call from a worker thread while other calls go on.
        """
        try:
            raw = source.read_bytes()
        except OSError as error:
            raise CatalogError(f"{source}: cannot be read ({error.strerror})") from None
        digest = hashlib.sha256(raw).hexdigest()
        with self._load_lock:
            with self._lock, translated(CatalogError, "catalog read"):
                if self._meta("source_sha256") == digest:
                    return False
            rows = cache_rows(SourceReader(raw, source.name), source.parent / "images")
            self._write(rows, digest)
        return True

    def _write(self, rows: CacheRows, digest: str) -> None:
        # A connection of the loading thread: readers keep the previous cache (WAL)
        # until the commit, and wait for nothing but the commit itself.
        with translated(CatalogError, "catalog load"):
            writer = sqlite3.connect(self._path, isolation_level=None, timeout=30)
        try:
            with translated(CatalogError, "catalog load"):
                # A crash mid-load loses at most this load: the digest rolls back with it.
                writer.execute("PRAGMA synchronous=NORMAL")
                # Copying the new rows into the database is done after the commit, not
                # inside it, where readers would wait for it.
                writer.execute("PRAGMA wal_autocheckpoint=0")
                writer.execute("BEGIN IMMEDIATE")
                try:
                    self._replace_rows(writer, rows, digest)
                except BaseException:
                    writer.execute("ROLLBACK")
                    raise
                lists = _StoreLists.from_json(rows.categories, rows.promotions)
                with self._lock:  # the new rows and the new promotions, seen together
                    writer.execute("COMMIT")
                    self._lists = lists
                writer.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            writer.close()

    @staticmethod
    def _replace_rows(writer: sqlite3.Connection, rows: CacheRows, digest: str) -> None:
        writer.execute("DELETE FROM products")
        writer.execute("INSERT INTO product_words (product_words) VALUES ('delete-all')")
        writer.execute("DELETE FROM customers")
        writer.executemany("INSERT INTO products VALUES (?, ?, ?, ?, ?)", rows.products)
        writer.executemany("INSERT INTO product_words (rowid, words) VALUES (?, ?)", rows.words)
        writer.execute("INSERT INTO product_words (product_words) VALUES ('optimize')")
        writer.executemany("INSERT INTO customers VALUES (?, ?)", rows.customers)
        writer.executemany(
            "INSERT OR REPLACE INTO meta VALUES (?, ?)",
            [
                ("source_sha256", digest),
                ("categories", rows.categories),
                ("promotions", rows.promotions),
            ],
        )

    def lookup(self, gtin: str) -> Product | None:
        """The product with this GTIN (any length; normalized), or None."""
        found = self._products("SELECT doc FROM products WHERE gtin = ?", (gtin.zfill(14),))
        return found[0] if found else None

    def customer(self, pseudonym: str) -> Customer | None:
        """The loyalty customer with this pseudonym, or None."""
        with self._lock, translated(CatalogError, "catalog read"):
            row = self._db.execute(
                "SELECT doc FROM customers WHERE pseudonym = ?", (pseudonym,)
            ).fetchone()
            if row is None:
                return None
            doc = json.loads(row[0])
            gtins = json.dumps([gtin for gtin, _ in doc["offers"]])
            offered = [json.loads(text) for (text,) in self._db.execute(_BY_GTINS, (gtins,))]
        pictures = {product["gtin"]: product["picture"] for product in offered}
        offers = tuple(
            Offer(gtin, title, picture=pictures[gtin])
            for gtin, title in doc["offers"]
            if gtin in pictures  # an offer outlives its product only until the next load
        )
        return Customer(doc["first_name"], doc["points"], doc["personalisation"], offers)

    def categories(self) -> tuple[Category, ...]:
        """The store's shelves, in the order the store lists them."""
        return self._lists.categories

    def in_category(
        self, category: str, limit: int = SHELF_LIMIT, offset: int = 0
    ) -> tuple[Product, ...]:
        """The products of a shelf, best rated first: `limit` of them from `offset`."""
        return self._products(
            "SELECT doc FROM products WHERE category = ? ORDER BY rank LIMIT ? OFFSET ?",
            (category, limit, offset),
        )

    def search(self, query: str, limit: int = SEARCH_LIMIT) -> tuple[Product, ...]:
        """Products whose name, brand or shelf have a word starting with each word of
        `query`, best rated first.

        Accents and case are ignored ("cafet" finds "Cafetière"); an empty query finds
        nothing.
        """
        words = _WORD.findall(searchable_text(query))
        if not words:
            return ()
        # Each word quoted, so that nothing the shopper types is FTS5 syntax.
        match = " ".join(f'"{word}"*' for word in words)
        return self._products(
            "SELECT doc FROM products WHERE rank IN ("
            " SELECT rowid FROM product_words WHERE product_words MATCH ?"
            " ORDER BY rowid LIMIT ?"
            ") ORDER BY rank",
            (match, limit),
        )

    def similar(self, product: Product) -> tuple[Product, ...]:
        """Other products of the same shelf, the closest in price first."""
        return self._products(
            "SELECT p.doc FROM json_each((SELECT similar FROM products WHERE gtin = ?)) AS near"
            " JOIN products AS p ON p.rank = near.value ORDER BY near.key",
            (product.gtin,),
        )

    def promotions(self) -> tuple[Product, ...]:
        """The products on promotion today, in the order the store lists them."""
        today = self._today()
        with self._lock, translated(CatalogError, "catalog read"):
            lists = self._lists
            running = dict.fromkeys(p.gtin for p in lists.promotions if p.ends >= today)
            rows = self._db.execute(_BY_GTINS, (json.dumps(list(running)),)).fetchall()
        return tuple(_product(doc, lists, today) for (doc,) in rows)

    def gtins(self) -> list[str]:
        """Every product's GTIN-14, in order."""
        with self._lock, translated(CatalogError, "catalog read"):
            return [row[0] for row in self._db.execute("SELECT gtin FROM products ORDER BY gtin")]

    def count(self) -> int:
        """How many products the cache holds."""
        with self._lock, translated(CatalogError, "catalog read"):
            return int(self._db.execute("SELECT COUNT(*) FROM products").fetchone()[0])

    def _products(self, sql: str, parameters: tuple[object, ...]) -> tuple[Product, ...]:
        """The products `sql` selects (their documents), with today's promotions."""
        today = self._today()
        with self._lock, translated(CatalogError, "catalog read"):
            # The promotions taken with the rows: a reload never mixes old and new.
            lists = self._lists
            rows = self._db.execute(sql, parameters).fetchall()
        return tuple(_product(doc, lists, today) for (doc,) in rows)


# The products of a JSON list of GTIN-14s, in the list's order.
_BY_GTINS = (
    "SELECT p.doc FROM json_each(?) AS wanted"
    " JOIN products AS p ON p.gtin = wanted.value ORDER BY wanted.key"
)


@dataclass(frozen=True, slots=True)
class _StoreLists:
    """The shelves and promotions of the loaded source, swapped whole by a reload."""

    categories: tuple[Category, ...]
    promotions: tuple[Promotion, ...]
    by_gtin: dict[str, tuple[Promotion, ...]]

    @classmethod
    def from_json(cls, categories: str, promotions: str) -> _StoreLists:
        """The lists as the cache's meta table keeps them."""
        running = tuple(
            Promotion(**{**doc, "ends": date.fromisoformat(doc["ends"])})
            for doc in json.loads(promotions)
        )
        by_gtin: dict[str, tuple[Promotion, ...]] = {}
        for promotion in running:
            by_gtin[promotion.gtin] = (*by_gtin.get(promotion.gtin, ()), promotion)
        shelves = tuple(Category(**item) for item in json.loads(categories))
        return cls(shelves, running, by_gtin)


def _product(text: str, lists: _StoreLists, today: date) -> Product:
    """A product from its stored document, with the first of its promotions running today."""
    doc = json.loads(text)
    here, nearby, online, delivery_days = doc["stock"]
    running = (p for p in lists.by_gtin.get(doc["gtin"], ()) if p.ends >= today)
    return Product(
        gtin=doc["gtin"],
        name=doc["name"],
        brand=doc["brand"],
        category=doc["category"],
        price_cents=doc["price_cents"],
        currency=doc["currency"],
        page_url=doc["page_url"],
        rating=doc["rating"],
        review_count=doc["review_count"],
        stock=Stock(here, tuple((name, units) for name, units in nearby), online, delivery_days),
        reviews=tuple(Review(*review) for review in doc["reviews"]),
        description=doc["description"],
        picture=doc["picture"],
        promotion=next(running, None),
        label=doc["label"],
    )
