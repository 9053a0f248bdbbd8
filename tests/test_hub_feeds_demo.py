"""The demo store written as feeds reads back as the same products, prices, stock, reviews
and loyalty customers; the feeds committed under assets/demo-store/feeds/ are exactly
what the export writes, so they cannot drift from the demo's catalog."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from edge.hub.feeds import (
    Customer,
    FeedError,
    FeedKind,
    LocalInventory,
    Money,
    Product,
    Promotion,
    Review,
    read_feed,
)
from edge.hub.feeds.demo_export import HERE_STORE, ONLINE_STORE, export_demo_store

CATALOG = Path(__file__).resolve().parent.parent / "assets" / "demo-store" / "catalog.json"
COMMITTED_FEEDS = CATALOG.parent / "feeds"


@pytest.fixture(scope="module")
def demo() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(CATALOG.read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[FeedKind, list[Any]]:
    files = export_demo_store(CATALOG, tmp_path_factory.mktemp("demo-feeds"))
    records: dict[FeedKind, list[Any]] = {kind: [] for kind in FeedKind}
    for path in files.all():
        result = read_feed(path)
        assert result.rejected == ()
        records[result.kind].extend(result.records)
    return records


def test_every_product_reads_back_with_its_title_price_and_gtin(
    demo: dict[str, Any], exported: dict[FeedKind, list[Any]]
) -> None:
    products = {product.gtin: product for product in exported[FeedKind.PRODUCTS]}
    assert len(products) == len(demo["products"])
    for expected in demo["products"]:
        product = products[expected["gtin"].zfill(14)]
        assert isinstance(product, Product)
        assert product.id == expected["gtin"]
        assert product.title == expected["name"]["fr"]
        assert product.description == expected["description"]["fr"]
        assert product.brand == expected["brand"]
        assert product.price == Money(expected["price_cents"], expected["currency"])


def test_promotions_become_sale_prices_and_promotions(
    demo: dict[str, Any], exported: dict[FeedKind, list[Any]]
) -> None:
    products = {product.id: product for product in exported[FeedKind.PRODUCTS]}
    promotions = {promotion.promotion_id: promotion for promotion in exported[FeedKind.PROMOTIONS]}
    assert len(promotions) == len(demo["promotions"])
    for expected in demo["promotions"]:
        product = products[expected["gtin"]]
        promotion = promotions[expected["id"]]
        assert isinstance(promotion, Promotion)
        assert product.sale_price == Money(expected["price_cents"], "EUR")
        assert promotion.item_ids == (expected["gtin"],)
        assert promotion.long_title == expected["title"]["fr"]
        assert promotion.money_off_amount == Money(
            product.price.cents - expected["price_cents"], "EUR"
        )
        assert promotion.promotion_effective_dates.end.date().isoformat() == expected["ends"]


def test_stock_here_nearby_and_online_reads_back_per_store(
    demo: dict[str, Any], exported: dict[FeedKind, list[Any]]
) -> None:
    stock: dict[tuple[str, str], int] = {}
    for row in exported[FeedKind.LOCAL_INVENTORY]:
        assert isinstance(row, LocalInventory)
        stock[row.store_code, row.id] = row.quantity
    nearby = [store["id"] for store in demo["store"]["nearby"]]
    assert len(stock) == len(demo["products"]) * (2 + len(nearby))
    for product in demo["products"]:
        gtin, expected = product["gtin"], product["stock"]
        assert stock[HERE_STORE, gtin] == expected["here"]
        assert stock[ONLINE_STORE, gtin] == expected["online"]
        for store in nearby:
            assert stock[store, gtin] == expected["nearby"][store]


def test_every_review_reads_back_with_its_author_rating_and_text(
    demo: dict[str, Any], exported: dict[FeedKind, list[Any]]
) -> None:
    by_gtin: dict[str, list[Review]] = {}
    for review in exported[FeedKind.REVIEWS]:
        assert isinstance(review, Review)
        (product,) = review.products
        by_gtin.setdefault(product.skus[0], []).append(review)
        assert product.gtins == (product.skus[0].zfill(14),)
    for product in demo["products"]:
        reviews = by_gtin[product["gtin"]]
        assert [(r.reviewer_name, r.stars, r.content) for r in reviews] == [
            (said["author"], float(said["rating"]), said["text"]) for said in product["reviews"]
        ]


def test_a_missing_catalog_is_a_feed_error(tmp_path: Path) -> None:
    with pytest.raises(FeedError, match="is not a readable demo catalog"):
        export_demo_store(tmp_path / "absent.json", tmp_path / "out")


def test_loyalty_customers_read_back_by_pseudonym_with_their_points_and_offers(
    demo: dict[str, Any], exported: dict[FeedKind, list[Any]]
) -> None:
    customers = {customer.pseudonym: customer for customer in exported[FeedKind.CUSTOMERS]}
    assert len(customers) == len(demo["customers"])
    for expected in demo["customers"]:
        customer = customers[expected["pseudonym"]]
        assert isinstance(customer, Customer)
        assert (customer.first_name, customer.points, customer.personalisation) == (
            expected["first_name"],
            expected["points"],
            expected["personalisation"],
        )
        assert [(offer.gtin, dict(offer.title)) for offer in customer.offers] == [
            (offer["gtin"].zfill(14), offer["title"]) for offer in expected["offers"]
        ]


def test_the_committed_demo_feeds_are_exactly_what_the_export_writes(tmp_path: Path) -> None:
    files = export_demo_store(CATALOG, tmp_path)
    written = {path.name for path in files.everything()}
    assert {path.name for path in COMMITTED_FEEDS.iterdir()} == written
    for path in files.everything():
        committed = COMMITTED_FEEDS / path.name
        assert committed.read_bytes() == path.read_bytes(), (
            f"{committed} differs from the export: run"
            " export_demo_store(assets/demo-store/catalog.json, assets/demo-store/feeds)"
        )
