"""The platform's streams as a catalog source: what the kiosk's `Catalog` loads.

The catalog, reviews, offers and stock streams (items as edge/hub/streams/values.py
makes them) become the source document `edge.catalog_source` reads, so the streams go
through the same validation, indexing and child-process load as a source file.

- A product's names: the feed has one title, shown in every language (`{"fr": title}`).
- Its shelf: the first level of its `product_type` ("Maison > Cuisine" is "Maison");
  a product without one is on the "Other" shelf.
- Its promotion: a `sale_price` valid now (headlined by its cut, "−25 %"), or an offer
  naming its GTIN that is running now and redeemable in store, whichever is lower. An
  offer for every product of the retailer is not any product's promotion.
- Its stock: as held when the document is made; the catalog reads it live anyway.

Items that cannot be shown (no valid GTIN, no price, a malformed field) are left out
and counted, never refused whole: one bad product must not empty the kiosk.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from devices.barcode.gs1 import normalize_gtin
from devices.errors import InputError

OTHER_SHELF = {"id": "other", "name": {"fr": "Autres", "en": "Other"}}
_SLUG = re.compile(r"[^a-z0-9]+")
_MAX_CENTS = 10**11  # a billion in any currency: a corrupt price, not a product's

Item = Mapping[str, Any]


class _Unusable(ValueError):
    """An item the kiosk cannot show (says which field)."""


@dataclass(frozen=True, slots=True)
class StreamSource:
    """A catalog source made from the streams.

    `text`: the source document (UTF-8 JSON). `skipped`: products left out because
    they cannot be shown. `next_start`: when the next known promotion starts, after
    which the document must be made again (None: none is coming).
    """

    text: bytes
    products: int
    skipped: int
    next_start: datetime | None


def source_document(
    *,
    store_id: str,
    store_names: Mapping[str, str],
    catalog: Mapping[str, Item],
    reviews: Mapping[str, Item],
    offers: Mapping[str, Item],
    stock: Mapping[str, Item],
    now: datetime,
) -> StreamSource:
    """The catalog source for the streams' items (each stream: key -> value) at `now`."""
    products: list[str] = []
    shelves: dict[str, dict[str, Any]] = {}
    promotions: list[dict[str, Any]] = []
    skipped = 0
    by_product, next_start = _running_offers(offers, now)
    for key, item in catalog.items():
        try:
            gtin = _gtin(key)
            product, shelf = _product(gtin, item, reviews.get(key), stock.get(key, {}))
        except _Unusable:
            skipped += 1
            continue
        shelves.setdefault(shelf["id"], shelf)
        promotion, starts = _promotion(gtin, item, by_product.get(gtin, ()), now)
        if promotion is not None:
            promotions.append(promotion)
        if starts is not None and (next_start is None or starts < next_start):
            next_start = starts
        products.append(json.dumps(product, ensure_ascii=False))
    store = {
        "id": store_id,
        "nearby": [
            {"id": code, "name": name} for code, name in sorted(store_names.items()) if name
        ],
    }
    ordered = sorted(shelves.values(), key=lambda shelf: shelf["name"]["fr"].casefold())
    head = json.dumps(
        {"store": store, "categories": ordered, "promotions": promotions}, ensure_ascii=False
    )
    # Products joined as text: 100,000 of them never make one big list of dicts.
    text = f'{head[:-1]}, "products": [{",".join(products)}]}}'
    # A lone surrogate (JSON text may escape one) is not UTF-8: it becomes "?".
    return StreamSource(text.encode(errors="replace"), len(products), skipped, next_start)


def _gtin(key: str) -> str:
    try:
        return normalize_gtin(key)
    except InputError as error:
        raise _Unusable(f"key: {error.reason}") from None


def _text(item: Item, field: str, *, required: bool = False) -> str:
    value = item.get(field, "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise _Unusable(f"{field}: expected text")
    return value


def _money(value: Any, field: str) -> tuple[int, str]:
    """Cents and currency of a price; _Unusable unless a positive amount."""
    if not isinstance(value, dict):
        raise _Unusable(f"{field}: expected a price")
    cents, currency = value.get("cents"), value.get("currency")
    if isinstance(cents, bool) or not isinstance(cents, int) or not 0 < cents <= _MAX_CENTS:
        raise _Unusable(f"{field}.cents: expected a positive amount")
    if not isinstance(currency, str) or not re.fullmatch(r"[A-Z]{3}", currency):
        raise _Unusable(f"{field}.currency: expected a currency code")
    return cents, currency


def _period(value: Any, field: str) -> tuple[datetime, datetime]:
    if not isinstance(value, dict):
        raise _Unusable(f"{field}: expected a start and an end")
    try:
        start = datetime.fromisoformat(value["start"])
        end = datetime.fromisoformat(value["end"])
    except (KeyError, TypeError, ValueError):
        raise _Unusable(f"{field}: expected RFC 3339 times") from None
    if start.tzinfo is None or end.tzinfo is None:
        raise _Unusable(f"{field}: expected times with their offset")
    return start, end


def shelf_of(product_type: Any) -> dict[str, Any]:
    """The shelf of a product: the first level of its `product_type`, or "Other"."""
    if not isinstance(product_type, list) or not product_type:
        return OTHER_SHELF
    first = product_type[0]
    if not isinstance(first, str) or not first.strip():
        return OTHER_SHELF
    name = first.strip()
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = _SLUG.sub("-", folded.lower()).strip("-")[:64]
    return {"id": slug or "shelf-" + name.encode().hex()[:32], "name": {"fr": name}}


def _product(
    gtin: str, item: Item, reviewed: Item | None, stock: Item
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A source product and its shelf."""
    title = _text(item, "title", required=True)
    cents, currency = _money(item.get("price"), "price")
    description = _text(item, "description")
    link = _text(item, "link")
    shelf = shelf_of(item.get("product_type"))
    rating, count, reviews = _reviews(reviewed or {})
    return {
        "gtin": gtin,
        "name": {"fr": title},
        **({"description": {"fr": description}} if description else {}),
        "brand": _text(item, "brand"),
        "category": shelf["id"],
        "price_cents": cents,
        "currency": currency,
        "rating": rating,
        "review_count": count,
        "stock": _stock(stock),
        "reviews": reviews,
        "page_url": link if link.startswith("https://") else "",
    }, shelf


def _reviews(item: Item) -> tuple[float, int, list[dict[str, Any]]]:
    """Rating out of 5, number of reviews, and the reviews sent (newest first)."""
    rating, count, listed = item.get("rating", 0), item.get("count", 0), item.get("reviews", [])
    if isinstance(rating, bool) or not isinstance(rating, int | float) or not 0 <= rating <= 5:
        raise _Unusable("rating: expected 0 to 5")
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise _Unusable("count: expected a number of reviews")
    if not isinstance(listed, list):
        raise _Unusable("reviews: expected a list")
    return float(rating), count, [_review(review) for review in listed]


def _review(review: Any) -> dict[str, Any]:
    if not isinstance(review, dict):
        raise _Unusable("reviews: expected objects")
    stars = review.get("stars")
    if isinstance(stars, bool) or not isinstance(stars, int | float) or not 0 <= stars <= 5:
        raise _Unusable("reviews.stars: expected 0 to 5")
    title, content = _text(review, "title"), _text(review, "content")
    return {
        "author": _text(review, "author"),
        "rating": min(5, max(1, round(stars))),
        "text": f"{title} — {content}" if title and content else title or content,
        "helpful": 0,  # the reviews feed has no votes: the newest come first
    }


def _stock(item: Item) -> dict[str, Any]:
    def units(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise _Unusable("stock: expected whole numbers of units")
        return value

    nearby = item.get("nearby", {})
    if not isinstance(nearby, dict):
        raise _Unusable("stock.nearby: expected stores and their units")
    return {
        "here": units(item.get("here", 0)),
        "nearby": {str(code): units(count) for code, count in nearby.items()},
        "online": units(item.get("online", 0)),
        "delivery_days": None,
    }


@dataclass(frozen=True, slots=True)
class _Offer:
    id: str
    title: str
    percent_off: int | None
    money_off: tuple[int, str] | None
    start: datetime
    end: datetime


def _running_offers(
    offers: Mapping[str, Item], now: datetime
) -> tuple[dict[str, tuple[_Offer, ...]], datetime | None]:
    """The in-store offers running at `now`, by GTIN; and when the next one starts."""
    by_product: dict[str, tuple[_Offer, ...]] = {}
    next_start = None
    for key, item in offers.items():
        try:
            offer, gtins = _offer(key, item)
        except _Unusable:
            continue
        if offer.start > now:
            next_start = offer.start if next_start is None else min(next_start, offer.start)
        if not offer.start <= now < offer.end:
            continue
        for gtin in gtins:
            by_product[gtin] = (*by_product.get(gtin, ()), offer)
    return by_product, next_start


def _offer(key: str, item: Item) -> tuple[_Offer, list[str]]:
    channels = item.get("channels", [])
    if isinstance(channels, list) and channels and "in_store" not in channels:
        raise _Unusable("channels: not redeemable in store")
    gtins = item.get("gtins", [])
    if not isinstance(gtins, list):
        raise _Unusable("gtins: expected a list")
    start, end = _period(item.get("effective"), "effective")
    percent = item.get("percent_off")
    if percent is not None and (
        isinstance(percent, bool) or not isinstance(percent, int) or not 0 < percent <= 100
    ):
        raise _Unusable("percent_off: expected 1 to 100")
    money = None if item.get("money_off") is None else _money(item["money_off"], "money_off")
    if percent is None and money is None:
        raise _Unusable("neither percent_off nor money_off")
    title = _text(item, "title", required=True)
    return _Offer(key, title, percent, money, start, end), list(_gtins(gtins))


def _gtins(listed: list[Any]) -> Iterator[str]:
    for text in listed:
        if isinstance(text, str):
            try:
                yield normalize_gtin(text)
            except InputError:
                continue


def _promotion(
    gtin: str, item: Item, offers: tuple[_Offer, ...], now: datetime
) -> tuple[dict[str, Any] | None, datetime | None]:
    """The product's lowest price cut running at `now`, as a source promotion; and
    when its sale price starts, if that is to come."""
    cents, currency = _money(item.get("price"), "price")
    cuts: list[tuple[int, str, dict[str, str] | None, datetime | None]] = []
    starts = None
    try:
        sale_cents, sale_currency = _money(item["sale_price"], "sale_price")
        start, end = (
            _period(item["sale_price_effective_date"], "sale_price_effective_date")
            if "sale_price_effective_date" in item
            else (None, None)
        )
    except (KeyError, _Unusable):
        pass
    else:
        if start is not None and start > now:
            starts = start
        elif (end is None or now < end) and sale_currency == currency:
            cuts.append((sale_cents, f"sale-{gtin}", None, end))  # headline: the cut
    for offer in offers:
        if offer.percent_off is not None:
            cut = cents * (100 - offer.percent_off) // 100
        elif offer.money_off is not None and offer.money_off[1] == currency:
            cut = cents - offer.money_off[0]
        else:
            continue
        cuts.append((cut, offer.id, {"fr": offer.title}, offer.end))
    usable = [cut for cut in cuts if 0 < cut[0] < cents]
    if not usable:
        return None, starts
    price, identity, headline, end = min(usable, key=lambda cut: cut[0])
    return {
        "id": identity,
        "gtin": gtin,
        "price_cents": price,
        "title": headline or _percent_off(cents, price),
        "ends": _last_day(end).isoformat(),
    }, starts


def _percent_off(price: int, cut: int) -> dict[str, str]:
    """The headline of a sale price, which has no title of its own: "−25 %"."""
    percent = round(100 * (price - cut) / price)
    if percent < 1:
        return {"fr": "Prix réduit", "en": "Price cut"}
    return {"fr": f"−{percent} %", "en": f"{percent}% off"}


def _last_day(end: datetime | None) -> date:
    """The last local day a cut ending at `end` (exclusive) runs; `date.max`: no end."""
    if end is None:
        return date.max
    return (end.astimezone() - timedelta(microseconds=1)).date()


def utc_now() -> datetime:
    """Now, as an aware UTC time (the default clock of the catalog's rebuilds)."""
    return datetime.now(UTC)
