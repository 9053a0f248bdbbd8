"""The catalog cache: products, shelves, promotions and loyalty customers in SQLite.

Loaded from the store's source file on first run (and again whenever that file
changes) until the platform's downlink keeps it fresh. Loyalty customers are stored
under their pseudonym, never their card number.

Every answer a scan or a touch needs is one indexed read, whatever the size of the
catalog: shelves and search results are read best first and stop at a screenful,
similar products are found at load. The cache may be used from a thread other than the
one that opened it (calls are serialised). A big source loads in a child process
(`edge.catalog_load`): the kiosk keeps answering from the previous cache until the new
one is committed, and each answer reads its rows and its promotions from one snapshot.

Fed by the platform's streams, the cache holds products, shelves and promotions, while
stock and loyalty customers are read live (`LiveReads`): they change too often to
rebuild the catalog for.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any, Protocol

from edge.catalog_index import searchable_text
from edge.catalog_load import load_in_child, load_into, load_key, pictures_of
from edge.catalog_schema import (
    SCHEMA_VERSION,
    meta,
    open_cache_or_read_only,
    open_cache_read_only,
)
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
    "CATALOG_CACHE",
    "CHILD_LOAD_BYTES",
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

# Sources bigger than this are loaded by a child process (see edge.catalog_load). A
# smaller one is loaded here, a chunk at a time, sooner than a process starts (0.3 s),
# holding the GIL for a few milliseconds at most.
CHILD_LOAD_BYTES = 4 << 20
CATALOG_CACHE = "catalog.sqlite"  # the cache's name in the kiosk's data folder
SEARCH_LIMIT = 24  # one screen of results: a shopper refines rather than scrolls
SHELF_LIMIT = 24  # a screenful, as for search; further products are read by `offset`
_WORD = re.compile(r"[^\W_]+")  # letters and digits, as the FTS5 tokenizer splits them


class LiveReads(Protocol):
    """What the catalog reads live rather than from its last load (stock, customers)."""

    def stock(self, gtin: str) -> Stock | None:
        """The product's stock now (GTIN-14), or None to keep the loaded one."""

    def customer(self, pseudonym: str) -> dict[str, Any] | None:
        """The customer's stored document (see `edge.catalog_live`), or None."""


class Catalog:
    """Product, shelf, promotion and customer look-ups against the local cache.

    With no source ever loaded, every call answers empty. With `live`, a looked-up
    product's stock and the customers come from it instead. `read_only`: for another
    process while the kiosk runs (it cannot load).
    """

    def __init__(
        self,
        db_path: Path,
        *,
        today: Callable[[], date] = date.today,
        child_load_bytes: int = CHILD_LOAD_BYTES,
        live: LiveReads | None = None,
        read_only: bool = False,
    ) -> None:
        self._path = db_path
        self._today = today
        self._live = live
        self._child_load_bytes = child_load_bytes
        self._lock = threading.Lock()  # one connection, so one call at a time
        self._load_lock = threading.Lock()  # and one load at a time
        # Read-only: another process reading the kiosk's cache while it runs, or the
        # kiosk's own when its disk takes no writes (then loads are refused).
        if read_only:
            self._db, self.read_only = open_cache_read_only(db_path), True
        else:
            self._db, self.read_only = open_cache_or_read_only(db_path)
        self._lists = _StoreLists((), (), {}, digest=None)  # as no load has left any

    def close(self) -> None:
        """Close the cache."""
        with self._lock:
            self._db.close()

    def load_source(self, source: Path, pictures: Path | None = None) -> bool:
        """(Re)load the cache from the file `source` if it changed; True if it did.

        Product pictures are `<gtin-13>.png` in `pictures` (default: `images` beside
        the source).

        The source is validated whole first (a big one in a child process): a bad one
        raises CatalogError naming the product and the field, and the cache keeps
        answering as before. Meant for a worker thread: the calls of other threads go
        on meanwhile.
        """
        try:
            with source.open("rb") as file:
                digest = hashlib.file_digest(file, "sha256").hexdigest()
                size = os.fstat(file.fileno()).st_size
        except OSError as error:
            raise CatalogError(f"{source}: cannot be read ({error.strerror})") from None
        with self._load_lock:
            with self._lock, translated(CatalogError, "catalog read"):
                if meta(self._db, "source_sha256") == load_key(
                    digest, pictures_of(source, pictures)
                ):
                    return False
            if self.read_only:
                raise CatalogError(
                    f"{self._path} is open read-only (its disk takes no writes): {source} "
                    f"is not loaded, the {self.count()} products cached before are served"
                )
            if size > self._child_load_bytes:
                load_in_child(self._path, source, pictures)
            else:
                load_into(self._path, source, pictures)
        return True

    @contextmanager
    def _reading(self) -> Iterator[_StoreLists]:
        """One snapshot of the cache, with the shelves and promotions of its load."""
        with self._lock, translated(CatalogError, "catalog read"):
            self._db.execute("BEGIN")
            try:
                digest = meta(self._db, "source_sha256")
                if digest != self._lists.digest:  # a load committed since the last call
                    self._lists = _StoreLists.from_json(
                        meta(self._db, "categories"), meta(self._db, "promotions"), digest
                    )
                yield self._lists
            finally:
                self._db.execute("COMMIT")

    def lookup(self, gtin: str) -> Product | None:
        """The product with this GTIN (any length; normalized), with its stock of now
        when it is read live, or None."""
        found = self._products("SELECT doc FROM products WHERE gtin = ?", (gtin.zfill(14),))
        if not found:
            return None
        stock = self._live.stock(found[0].gtin) if self._live is not None else None
        return found[0] if stock is None else replace(found[0], stock=stock)

    def customer(self, pseudonym: str) -> Customer | None:
        """The loyalty customer with this pseudonym, or None."""
        live = self._live.customer(pseudonym) if self._live is not None else None
        with self._reading():
            if self._live is not None:
                doc = live
            else:
                row = self._db.execute(
                    "SELECT doc FROM customers WHERE pseudonym = ?", (pseudonym,)
                ).fetchone()
                doc = None if row is None else json.loads(row[0])
            if doc is None:
                return None
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
        with self._reading() as lists:
            return lists.categories

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
        with self._reading() as lists:
            running = dict.fromkeys(p.gtin for p in lists.promotions if p.ends >= today)
            rows = self._db.execute(_BY_GTINS, (json.dumps(list(running)),)).fetchall()
        return tuple(_product(doc, lists, today) for (doc,) in rows)

    def gtins(self) -> list[str]:
        """Every product's GTIN-14, in order."""
        with self._lock, translated(CatalogError, "catalog read"):
            return [row[0] for row in self._db.execute("SELECT gtin FROM products ORDER BY gtin")]

    def is_empty(self) -> bool:
        """Whether the cache holds no product at all (without counting them)."""
        with self._lock, translated(CatalogError, "catalog read"):
            row = self._db.execute("SELECT EXISTS (SELECT 1 FROM products)").fetchone()
        return not row[0]

    def count(self) -> int:
        """How many products the cache holds."""
        with self._lock, translated(CatalogError, "catalog read"):
            return int(self._db.execute("SELECT COUNT(*) FROM products").fetchone()[0])

    def _products(self, sql: str, parameters: tuple[object, ...]) -> tuple[Product, ...]:
        """The products `sql` selects (their documents), with today's promotions."""
        today = self._today()
        with self._reading() as lists:
            rows = self._db.execute(sql, parameters).fetchall()
        return tuple(_product(doc, lists, today) for (doc,) in rows)


# The products of a JSON list of GTIN-14s, in the list's order.
_BY_GTINS = (
    "SELECT p.doc FROM json_each(?) AS wanted"
    " JOIN products AS p ON p.gtin = wanted.value ORDER BY wanted.key"
)


@dataclass(frozen=True, slots=True)
class _StoreLists:
    """The shelves and promotions of one load (`digest`: of its source; None: no load)."""

    categories: tuple[Category, ...]
    promotions: tuple[Promotion, ...]
    by_gtin: dict[str, tuple[Promotion, ...]]
    digest: str | None

    @classmethod
    def from_json(cls, categories: str, promotions: str, digest: str) -> _StoreLists:
        """The lists as the load left them in the meta table."""
        running = tuple(
            Promotion(**{**doc, "ends": date.fromisoformat(doc["ends"])})
            for doc in json.loads(promotions)
        )
        by_gtin: dict[str, tuple[Promotion, ...]] = {}
        for promotion in running:
            by_gtin[promotion.gtin] = (*by_gtin.get(promotion.gtin, ()), promotion)
        shelves = tuple(Category(**item) for item in json.loads(categories))
        return cls(shelves, running, by_gtin, digest)


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
