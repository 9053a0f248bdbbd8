"""The catalog cache: products, categories, promotions and loyalty customers in SQLite.

Loaded from the store's source file on first run (and again whenever that file
changes) until the platform's downlink keeps it fresh. Loyalty customers are stored
under their pseudonym, never their card number.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from devices.barcode.gs1 import normalize_gtin
from devices.errors import InputError
from edge.errors import CatalogError
from edge.sqlite_tx import transaction, translated

# Bumped whenever the tables change: an older cache is dropped and reloaded from source.
SCHEMA_VERSION = 2
_TABLES = ("products", "customers", "meta")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS products (
    gtin TEXT PRIMARY KEY,
    category TEXT NOT NULL,
    search_text TEXT NOT NULL,  -- names, brand and category, folded (see fold())
    doc TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS products_by_category ON products (category);
CREATE TABLE IF NOT EXISTS customers (pseudonym TEXT PRIMARY KEY, doc TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value);
"""
SEARCH_LIMIT = 24  # one screen of results: a shopper refines rather than scrolls


def in_language(texts: dict[str, str], language: str) -> str:
    """The text in `language`, falling back to French (every text has a French one)."""
    return texts.get(language) or texts["fr"]


def fold(text: str) -> str:
    """Lower case without accents: "Cafetière" and "cafetiere" match."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


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
class Promotion:
    """A price cut the attract loop advertises, valid until `ends` (inclusive)."""

    id: str
    gtin: str
    price_cents: int
    title: dict[str, str]
    ends: date

    def display_title(self, language: str) -> str:
        """The headline in `language`, falling back to French."""
        return in_language(self.title, language)


@dataclass(frozen=True, slots=True)
class Category:
    """A shelf of the store, as the browse screen lists it."""

    id: str
    name: dict[str, str]

    def display_name(self, language: str) -> str:
        """The name in `language`, falling back to French."""
        return in_language(self.name, language)


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
    description: dict[str, str] | None = None
    picture: str = ""  # path of the product's picture ("" if it has none)
    promotion: Promotion | None = None  # a price cut running today
    label: str = ""  # the code on the pack beside the EAN: "gs1-datamatrix", "gs1-qr" or ""

    def display_name(self, language: str) -> str:
        """The name in `language`, falling back to French."""
        return in_language(self.name, language)

    def display_description(self, language: str) -> str:
        """The short description in `language` ("" if there is none)."""
        texts = self.description or {}
        return texts.get(language) or texts.get("fr", "")

    @property
    def current_price_cents(self) -> int:
        """What the shopper pays today."""
        return self.promotion.price_cents if self.promotion else self.price_cents


@dataclass(frozen=True, slots=True)
class Offer:
    """A loyalty offer made to one customer, about one product."""

    gtin: str
    title: dict[str, str]
    picture: str = ""  # the product's picture ("" if it has none)

    def display_title(self, language: str) -> str:
        """The offer in `language`, falling back to French."""
        return in_language(self.title, language)


@dataclass(frozen=True, slots=True)
class Customer:
    """A loyalty customer, known by pseudonym."""

    first_name: str
    points: int
    personalisation: bool
    offers: tuple[Offer, ...] = ()

    def __repr__(self) -> str:
        return "Customer(<redacted>)"


class Catalog:
    """Product, category, promotion and customer look-ups against the local cache."""

    def __init__(self, db_path: Path, *, today: Callable[[], date] = date.today) -> None:
        self._today = today
        with translated(CatalogError, "catalog open"):
            db_path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._migrate()
            self._read_store_meta()

    def _migrate(self) -> None:
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value)")
        if self._meta("schema_version") != SCHEMA_VERSION:
            with transaction(self._db):
                for table in _TABLES:
                    self._db.execute(f"DROP TABLE IF EXISTS {table}")
        self._db.executescript(_SCHEMA)
        self._db.execute(
            "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,)
        )

    def _read_store_meta(self) -> None:
        self._nearby_names: dict[str, str] = json.loads(self._meta("nearby_names") or "{}")
        self._product_page: str = self._meta("product_page") or ""
        self._categories = tuple(
            Category(**item) for item in json.loads(self._meta("categories") or "[]")
        )
        self._promotions = tuple(
            _promotion(item) for item in json.loads(self._meta("promotions") or "[]")
        )

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
            categories = [_category_doc(item) for item in document.get("categories", [])]
            names = {item["id"]: item["name"] for item in categories}
            pictures = source.parent / "images"
            products = [_product_row(item, names, pictures) for item in document["products"]]
            known = {
                row[0]: int(item["price_cents"])
                for row, item in zip(products, document["products"], strict=True)
            }
            promotions = [_promotion_doc(item, known) for item in document.get("promotions", [])]
            customers = [
                (pseudonymize(str(item["card"])), _customer_doc(item, known))
                for item in document.get("customers", [])
            ]
            nearby = {str(s["id"]): str(s["name"]) for s in document["store"].get("nearby", [])}
            page = str(document["store"].get("product_page", ""))
            if page and (not page.startswith("https://") or "{gtin}" not in page):
                raise ValueError("store.product_page must be an https URL with {gtin}")
        except (ValueError, KeyError, TypeError, AttributeError, InputError) as error:
            raise CatalogError(f"{source}: invalid catalog ({error!r})") from None
        with translated(CatalogError, "catalog load"), transaction(self._db):
            self._db.execute("DELETE FROM products")
            self._db.execute("DELETE FROM customers")
            self._db.executemany("INSERT INTO products VALUES (?, ?, ?, ?)", products)
            self._db.executemany("INSERT INTO customers VALUES (?, ?)", customers)
            self._db.executemany(
                "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                [
                    ("source_sha256", digest),
                    ("nearby_names", json.dumps(nearby)),
                    ("product_page", page),
                    ("categories", json.dumps(categories, ensure_ascii=False)),
                    ("promotions", json.dumps(promotions, ensure_ascii=False)),
                ],
            )
        self._read_store_meta()
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
        if row is None:
            return None
        doc = json.loads(row[0])
        offers = []
        for offer in doc.pop("offers", []):
            product = self.lookup(offer["gtin"])
            if product is not None:  # an offer outlives its product only until the next load
                offers.append(Offer(**offer, picture=product.picture))
        return Customer(**doc, offers=tuple(offers))

    def categories(self) -> tuple[Category, ...]:
        """The store's shelves, in the order the store lists them."""
        return self._categories

    def in_category(self, category: str) -> tuple[Product, ...]:
        """The products of a shelf, best rated first."""
        with translated(CatalogError, "catalog browse"):
            rows = self._db.execute(
                "SELECT doc FROM products WHERE category = ?", (category,)
            ).fetchall()
        return _best_first(self._product(json.loads(row[0])) for row in rows)

    def search(self, query: str, limit: int = SEARCH_LIMIT) -> tuple[Product, ...]:
        """Products whose name, brand or shelf hold every word of `query`, best rated first.

        Accents and case are ignored; an empty query finds nothing.
        """
        words = re.findall(r"\w+", fold(query))
        if not words:
            return ()
        clause = " AND ".join("search_text LIKE ? ESCAPE '\\'" for _ in words)
        patterns = [f"%{_escape_like(word)}%" for word in words]
        with translated(CatalogError, "catalog search"):
            rows = self._db.execute(
                f"SELECT doc FROM products WHERE {clause}",  # noqa: S608 - only placeholders
                patterns,
            ).fetchall()
        return _best_first(self._product(json.loads(row[0])) for row in rows)[:limit]

    def similar(self, product: Product, limit: int = 3) -> tuple[Product, ...]:
        """Other products of the same shelf, the closest in price first."""
        others = [o for o in self.in_category(product.category) if o.gtin != product.gtin]
        others.sort(key=lambda other: (abs(other.price_cents - product.price_cents), other.gtin))
        return tuple(others[:limit])

    def promotions(self) -> tuple[Product, ...]:
        """The products on promotion today, in the order the store lists them."""
        products = (self.lookup(promotion.gtin) for promotion in self._running_promotions())
        return tuple(product for product in products if product is not None)

    def _running_promotions(self) -> list[Promotion]:
        today = self._today()
        return [promotion for promotion in self._promotions if promotion.ends >= today]

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
        gtin = doc["gtin"]
        promotion = next((p for p in self._running_promotions() if p.gtin == gtin), None)
        return Product(
            gtin=gtin,
            name=doc["name"],
            brand=doc["brand"],
            category=doc["category"],
            price_cents=doc["price_cents"],
            currency=doc.get("currency", "EUR"),
            page_url=self._product_page.format(gtin=gtin.lstrip("0").zfill(13)),
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
            description=doc.get("description"),
            picture=doc.get("picture_path", ""),
            promotion=promotion,
            label=doc.get("label", ""),
        )


def _best_first(products: Any) -> tuple[Product, ...]:
    return tuple(sorted(products, key=lambda p: (-p.rating, -p.review_count, p.gtin)))


def _escape_like(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _texts(value: Any, what: str) -> dict[str, str]:
    """A {language: text} object with at least French."""
    if not isinstance(value, dict) or not isinstance(value.get("fr"), str):
        raise ValueError(f"{what} needs a French text")
    return {str(language): str(text) for language, text in value.items()}


def _category_doc(item: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(item["id"]), "name": _texts(item["name"], f"category {item['id']}")}


def _product_row(
    item: dict[str, Any], category_names: dict[str, dict[str, str]], pictures: Path
) -> tuple[str, str, str, str]:
    gtin = normalize_gtin(str(item["gtin"]))
    name = _texts(item["name"], f"product {item['gtin']}")
    if "description" in item:
        _texts(item["description"], f"product {item['gtin']} description")
    int(item["price_cents"])
    float(item["rating"])
    category = str(item["category"])
    picture = pictures / f"{gtin.lstrip('0').zfill(13)}.png"
    doc = {**item, "gtin": gtin, "picture_path": str(picture) if picture.is_file() else ""}
    searchable = [*name.values(), str(item["brand"]), *category_names.get(category, {}).values()]
    return gtin, category, fold(" ".join(searchable)), json.dumps(doc, ensure_ascii=False)


def _promotion_doc(item: dict[str, Any], known: dict[str, int]) -> dict[str, Any]:
    gtin = normalize_gtin(str(item["gtin"]))
    if gtin not in known:
        raise ValueError(f"promotion {item['id']} is for an unknown product")
    if not 0 < int(item["price_cents"]) < known[gtin]:
        raise ValueError(f"promotion {item['id']} does not lower the price")
    return {
        "id": str(item["id"]),
        "gtin": gtin,
        "price_cents": int(item["price_cents"]),
        "title": _texts(item["title"], f"promotion {item['id']}"),
        "ends": date.fromisoformat(str(item["ends"])).isoformat(),
    }


def _promotion(doc: dict[str, Any]) -> Promotion:
    return Promotion(**{**doc, "ends": date.fromisoformat(doc["ends"])})


def _customer_doc(item: dict[str, Any], known: dict[str, int]) -> str:
    offers = []
    for offer in item.get("offers", []):
        gtin = normalize_gtin(str(offer["gtin"]))
        if gtin not in known:
            raise ValueError("a customer offer is for an unknown product")
        offers.append({"gtin": gtin, "title": _texts(offer["title"], "offer")})
    return json.dumps(
        {
            "first_name": str(item["first_name"]),
            "points": int(item["points"]),
            "personalisation": bool(item.get("personalisation", True)),
            "offers": offers,
        },
        ensure_ascii=False,
    )
