"""A retailer's feeds at full size, as `read_feed` would give them, for the hub's streams.

Products with French titles and descriptions, a price, a brand and a shelf; each
product's stock in one store and online; three reviews each. The records are the
feed importers' own types, so `StreamStore.import_feeds` turns them into the stores'
streams exactly as `borne hub import` does with the files.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from devices.barcode.gs1 import gtin_check_digit, normalize_gtin
from edge.hub.feeds import (
    Availability,
    FeedKind,
    FeedResult,
    LocalInventory,
    Money,
    Product,
    Review,
    ReviewedProduct,
    StoreAvailability,
)
from edge.hub.streams import ONLINE_STORE, StreamStore

REVIEWS_PER_PRODUCT = 3
REVIEWED_FROM = datetime(2026, 1, 1, tzinfo=UTC)
_NOUNS = ("Cafetière", "Théière", "Casque", "Enceinte", "Lampe", "Plaid", "Gourde", "Perceuse")
_QUALITIES = ("sans fil", "en inox", "isotherme", "à piston", "électrique", "pliable")
_SHELVES = ("Maison > Cuisine", "Audio > Casques", "Maison > Déco", "Bricolage > Outils")
_TEXT = "Très bien, conforme à la description, livré vite. Je recommande à mes proches."


def gtin_of(index: int) -> str:
    """The GTIN-14 of the `index`-th product (a French GS1 prefix, its check digit)."""
    body = f"376{index:09d}"
    return normalize_gtin(body + str(gtin_check_digit(body)))


def products(count: int, rng: random.Random) -> FeedResult:
    """A product feed of `count` products."""
    records = tuple(
        Product(
            id=f"sku-{index}",
            title=f"{rng.choice(_NOUNS)} {rng.choice(_QUALITIES)} {index % 97}",
            description=f"{rng.choice(_NOUNS)} {rng.choice(_QUALITIES)}, garantie deux ans.",
            price=Money(rng.randrange(199, 50_000, 10), "EUR"),
            link=f"https://shop.example/p/{index}",
            image_link=f"https://shop.example/img/{index}.jpg",
            availability=Availability.IN_STOCK,
            gtin=gtin_of(index),
            brand=f"Marque{index % 60}",
            product_type=tuple(rng.choice(_SHELVES).split(" > ")),
        )
        for index in range(count)
    )
    return FeedResult(FeedKind.PRODUCTS, records, ())


def inventory(count: int, store_id: str, rng: random.Random) -> FeedResult:
    """A local inventory feed: each product's quantity in `store_id` and online."""
    records = tuple(
        LocalInventory(
            store_code=code,
            id=f"sku-{index}",
            quantity=rng.randrange(0, 40),
            availability=StoreAvailability.IN_STOCK,
        )
        for index in range(count)
        for code in (store_id, ONLINE_STORE)
    )
    return FeedResult(FeedKind.LOCAL_INVENTORY, records, ())


def changed_quantity(index: int, store_id: str, quantity: int) -> FeedResult:
    """A local inventory feed of one row: product `index` now has `quantity` in `store_id`."""
    row = LocalInventory(
        store_code=store_id,
        id=f"sku-{index}",
        quantity=quantity,
        availability=StoreAvailability.IN_STOCK,
    )
    return FeedResult(FeedKind.LOCAL_INVENTORY, (row,), ())


def reviews(count: int, rng: random.Random) -> FeedResult:
    """A reviews feed: three reviews of each product."""
    records = tuple(
        Review(
            review_id=f"r-{index}-{number}",
            timestamp=REVIEWED_FROM + timedelta(minutes=index * 3 + number),
            stars=float(rng.randrange(1, 6)),
            products=(ReviewedProduct(gtins=(gtin_of(index),)),),
            reviewer_name=rng.choice(("Julie", "Karim", "Anne", "Léa", "Hugo")),
            title="Bon produit",
            content=_TEXT,
        )
        for index in range(count)
        for number in range(REVIEWS_PER_PRODUCT)
    )
    return FeedResult(FeedKind.REVIEWS, records, ())


def build_streams(path: Path, count: int, store_id: str, seed: int = 7) -> StreamStore:
    """A hub stream store at `path` holding `count` products' catalog, stock and reviews."""
    rng = random.Random(seed)
    streams = StreamStore(path)
    streams.import_feeds(
        [products(count, rng), inventory(count, store_id, rng), reviews(count, rng)]
    )
    return streams
