"""Full feeds turned into the hub-wide items of a stream: pure functions of records.

A product feed gives the catalog (and which retailer id is which GTIN), a reviews feed
the reviews of each product, a promotions feed the offers, a loyalty feed the customers.
Each is full: what it gives replaces what came before.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from edge.hub.feeds import Customer, OrderRecord, Product, Promotion, Review, StaffRecord
from edge.hub.streams.tables import OrderRow
from edge.hub.streams.values import (
    canonical,
    customer_value,
    offer_value,
    order_value,
    product_value,
    profile_value,
    reviews_value,
    rfc3339,
    staff_source_value,
)


@dataclass(frozen=True, slots=True)
class Catalog:
    """A product feed's catalog items (GTIN-14 -> value text) and id -> GTIN map."""

    items: dict[str, str]
    skus: dict[str, str]
    without_gtin: int  # products skipped: a kiosk finds a product by its GTIN


@dataclass(frozen=True, slots=True)
class Reviews:
    """A reviews feed's items (GTIN-14 -> value text), and the reviews left out."""

    items: dict[str, str]
    spam: int
    unmatched: int  # no GTIN, and no SKU of an imported product


@dataclass(frozen=True, slots=True)
class Offers:
    """A promotions feed's items (promotion id -> value text), and ids of unknown products."""

    items: dict[str, str]
    unknown_ids: tuple[str, ...]


def catalog(products: Iterable[Product]) -> Catalog:
    """The catalog of a product feed; a later product with the same GTIN wins."""
    items: dict[str, str] = {}
    skus: dict[str, str] = {}
    without_gtin = 0
    for product in products:
        if product.gtin is None:
            without_gtin += 1
            continue
        items[product.gtin] = canonical(product_value(product))
        skus[product.id] = product.gtin
    return Catalog(items, skus, without_gtin)


def reviews(feed: Iterable[Review], skus: Mapping[str, str]) -> Reviews:
    """Each product's reviews: matched by the review's GTINs, else by its SKUs."""
    by_gtin: dict[str, dict[str, Review]] = defaultdict(dict)
    spam = unmatched = 0
    for review in feed:
        if review.is_spam:
            spam += 1
            continue
        gtins = _reviewed_gtins(review, skus)
        if not gtins:
            unmatched += 1
        for gtin in gtins:
            by_gtin[gtin][review.review_id] = review  # a review listed twice counts once
    items = {gtin: canonical(reviews_value(found.values())) for gtin, found in by_gtin.items()}
    return Reviews(dict(sorted(items.items())), spam, unmatched)


def _reviewed_gtins(review: Review, skus: Mapping[str, str]) -> set[str]:
    found: set[str] = set()
    for product in review.products:
        from_skus = {skus[sku] for sku in product.skus if sku in skus}
        found |= set(product.gtins) or from_skus
    return found


def offers(promotions: Iterable[Promotion], skus: Mapping[str, str]) -> Offers:
    """The offers of a promotions feed, their products' ids mapped to GTINs."""
    items: dict[str, str] = {}
    unknown: list[str] = []
    for promotion in promotions:
        gtins = [skus[item] for item in promotion.item_ids if item in skus]
        unknown.extend(item for item in promotion.item_ids if item not in skus)
        items[promotion.promotion_id] = canonical(offer_value(promotion, gtins))
    return Offers(items, tuple(unknown))


@dataclass(frozen=True, slots=True)
class Customers:
    """A loyalty feed's items (pseudonym -> value text), and its offers of unknown products."""

    items: dict[str, str]
    unknown_offers: int  # kept: a kiosk leaves out what it does not sell


def customers(feed: Iterable[Customer], gtins: Collection[str]) -> Customers:
    """The customers of a loyalty feed; a later line with the same pseudonym wins."""
    items: dict[str, str] = {}
    unknown = 0
    for customer in feed:
        items[customer.pseudonym] = canonical(customer_value(customer))
        unknown += sum(offer.gtin not in gtins for offer in customer.offers)
    return Customers(dict(sorted(items.items())), unknown)


def profiles(feed: Iterable[Customer]) -> dict[str, str]:
    """The profiles a loyalty feed gives (pseudonym -> value text); a later line wins."""
    return {
        customer.pseudonym: canonical(profile_value(customer.profile))
        for customer in feed
        if customer.profile is not None
    }


def staff(feed: Iterable[StaffRecord]) -> dict[str, str]:
    """The staff directory of a staff feed (badge pseudonym -> value text); a later line
    with the same badge wins."""
    return dict(
        sorted((member.pseudonym, canonical(staff_source_value(member))) for member in feed)
    )


def orders(feed: Iterable[OrderRecord], handed_over: Collection[str]) -> list[OrderRow]:
    """The rows of an orders feed; a later line with the same number wins.

    An order the hub handed over stays handed over when the feed, exported before the
    handover reached the retailer's system, still says it is ready for pickup.
    """
    rows: dict[str, OrderRow] = {}
    for order in feed:
        value = order_value(order)
        if order.status == "ready_for_pickup" and order.number in handed_over:
            value["status"] = "handed_over"
        rows[order.number] = (
            order.number,
            order.customer,
            rfc3339(order.placed_at),
            value["status"],
            canonical(value),
        )
    return list(rows.values())
