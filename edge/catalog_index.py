"""The cache's rows, computed once at load so that a scan or a touch only reads.

Products are numbered best first (rating, then review count, then GTIN): that number
is the row id of the product and of its search words, so a shelf or a search reads
its first rows in display order and stops. Each product's closest-in-price neighbours
on its shelf are found here too, and everything a product screen shows (store names,
the product page, reviews in order) is resolved into its stored document.
"""

from __future__ import annotations

import json
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from edge.catalog_source import SourceCustomer, SourceProduct, SourcePromotion, SourceReader

SIMILAR_COUNT = 3  # beside a product: what fits under it on the product screen


@dataclass(frozen=True, slots=True)
class CacheRows:
    """Everything a load writes, ready for `executemany`."""

    products: list[tuple[int, str, str, str, str]]  # rank, gtin, category, similar (JSON), doc
    words: list[tuple[int, str]]  # rank, names, brand and shelf names
    customers: list[tuple[str, str]]  # pseudonym, doc
    categories: str  # JSON, in the store's order
    promotions: str  # JSON, in the store's order


def cache_rows(source: SourceReader, pictures: Path) -> CacheRows:
    """The rows of the cache for `source`, validated as they are made; pictures are
    `<gtin-13>.png` in `pictures`.

    Each product is turned into its stored text as soon as it is validated: only small
    rows stay alive, never 100,000 validated products at once.
    """
    drawn = _picture_names(pictures)
    store = source.store
    store_names = {nearby.id: nearby.name for nearby in store.nearby}
    shelf_words = {shelf.id: " ".join(shelf.name.values()) for shelf in source.shelves}
    ranking: list[tuple[float, int, str]] = []  # sorted, the best product first
    made: dict[str, tuple[str, int, str, str]] = {}  # gtin: category, price, doc, words
    for product in source.products():
        ean = product.gtin.lstrip("0").zfill(13)
        picture = str(pictures / f"{ean}.png") if f"{ean}.png" in drawn else ""
        # Not format(): a "{x}" in the pattern stays text.
        page = product.page_url or store.product_page.replace("{gtin}", ean)
        names = [*product.name.values(), product.brand, shelf_words[product.category]]
        made[product.gtin] = (
            product.category,
            product.price_cents,
            _product_doc(product, store_names, picture, page),
            searchable_text(" ".join(names)),
        )
        ranking.append((-product.rating, -product.review_count, product.gtin))
    promotions = [_promotion_doc(promotion) for promotion in source.promotions()]
    customers = [(customer.pseudonym, _customer_doc(customer)) for customer in source.customers()]
    ranking.sort()
    rank_of = {gtin: rank for rank, (_, _, gtin) in enumerate(ranking, start=1)}
    similar = closest_in_price((made[gtin][0], made[gtin][1], gtin) for gtin in rank_of)
    products = []
    words = []
    for gtin, rank in rank_of.items():
        category, _, doc, searchable = made[gtin]
        neighbours = f"[{','.join(str(rank_of[other]) for other in similar[gtin])}]"  # JSON
        products.append((rank, gtin, category, neighbours, doc))
        words.append((rank, searchable))
    categories = [{"id": shelf.id, "name": shelf.name} for shelf in source.shelves]
    return CacheRows(
        products=products,
        words=words,
        customers=customers,
        categories=json.dumps(categories, ensure_ascii=False),
        promotions=json.dumps(promotions, ensure_ascii=False),
    )


def _promotion_doc(promotion: SourcePromotion) -> dict[str, object]:
    return {
        "id": promotion.id,
        "gtin": promotion.gtin,
        "price_cents": promotion.price_cents,
        "title": promotion.title,
        "ends": promotion.ends.isoformat(),
    }


def _customer_doc(customer: SourceCustomer) -> str:
    return json.dumps(
        {
            "first_name": customer.first_name,
            "points": customer.points,
            "personalisation": customer.personalisation,
            "offers": [[offer.gtin, offer.title] for offer in customer.offers],
        },
        ensure_ascii=False,
    )


def searchable_text(text: str) -> str:
    """`text` as the search index and queries both see it.

    Compatibility forms are unified here ("ﬁ" is "fi"); case and accents are folded by
    the index's tokenizer (unicode61, remove_diacritics 2), in C, on both sides.
    """
    return unicodedata.normalize("NFKC", text)


def _picture_names(folder: Path) -> frozenset[str]:
    # One directory listing rather than a stat per product: 100,000 stats cost seconds.
    try:
        return frozenset(entry.name for entry in folder.iterdir())
    except OSError:
        return frozenset()


def _product_doc(
    product: SourceProduct, store_names: dict[str, str], picture: str, page: str
) -> str:
    stock = product.stock
    stores = sorted(stock.nearby.items())
    nearby = [[store_names.get(store, store), units] for store, units in stores]
    reviews = sorted(product.reviews, key=lambda review: -review.helpful)
    return json.dumps(
        {
            "gtin": product.gtin,
            "name": product.name,
            "brand": product.brand,
            "category": product.category,
            "price_cents": product.price_cents,
            "currency": product.currency,
            "page_url": page,
            "rating": product.rating,
            "review_count": product.review_count,
            "stock": [
                stock.here,
                nearby,
                stock.online,
                stock.delivery_days,
            ],
            "reviews": [[r.author, r.rating, r.text, r.helpful] for r in reviews],
            "description": product.description,
            "picture": picture,
            "label": product.label,
        },
        ensure_ascii=False,
    )


def closest_in_price(
    products: Iterable[tuple[str, int, str]], count: int = SIMILAR_COUNT
) -> dict[str, list[str]]:
    """For each (shelf, price, gtin), the GTINs of the `count` others of its shelf closest
    in price, ties broken by GTIN.

    Prices are grouped: a product's picks come from its own price group first, then from
    the nearer of the groups below and above, so each product costs O(count), however
    many products share a price.
    """
    by_shelf: dict[str, dict[int, list[str]]] = defaultdict(lambda: defaultdict(list))
    for shelf, price, gtin in products:
        by_shelf[shelf][price].append(gtin)
    similar: dict[str, list[str]] = {}
    for groups in by_shelf.values():
        prices = sorted(groups)
        for group in groups.values():
            group.sort()
        for position, price in enumerate(prices):
            for gtin in groups[price]:
                similar[gtin] = _closest(groups, prices, position, gtin, count)
    return similar


def _closest(
    groups: dict[int, list[str]], prices: list[int], position: int, gtin: str, count: int
) -> list[str]:
    price = prices[position]
    picked = [other for other in groups[price][: count + 1] if other != gtin][:count]
    below, above = position - 1, position + 1
    while len(picked) < count and (below >= 0 or above < len(prices)):
        wanted = count - len(picked)
        gap_below = price - prices[below] if below >= 0 else None
        gap_above = prices[above] - price if above < len(prices) else None
        if gap_above is None or (gap_below is not None and gap_below < gap_above):
            picked += groups[prices[below]][:wanted]
            below -= 1
        elif gap_below is None or gap_above < gap_below:
            picked += groups[prices[above]][:wanted]
            above += 1
        else:  # as far below as above: the smaller GTINs of both, in order
            both = groups[prices[below]][:wanted] + groups[prices[above]][:wanted]
            picked += sorted(both)[:wanted]
            below, above = below - 1, above + 1
    return picked
