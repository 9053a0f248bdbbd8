"""The demo store (`assets/demo-store/catalog.json`) written as the feeds a retailer publishes.

This is how the demo becomes feeds: a product TSV, a local inventory TSV per store (the
kiosk's own store, the nearby ones, and "online"), a reviews XML 2.3, a promotions TSV
and Borne's loyalty feed (JSON Lines, by pseudonym as the demo's JSON gives them, with
the profile fields staff see), which `read_feed` reads back into the same products,
prices, stock, reviews and customers; and Borne's staff and orders feeds, from the fixed
demo data of `demo_staff` (the staff feed gives badges: reading it needs the demo's key).
The files are committed under assets/demo-store/feeds/ (tests keep them the same).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from xml.etree.ElementTree import Element, ElementTree, SubElement, indent
from zoneinfo import ZoneInfo

from edge.hub.feeds import demo_staff
from edge.hub.feeds.errors import FeedError

HERE_STORE = "paris-01"  # the demo kiosk's own store, "here" in catalog.json
ONLINE_STORE = "online"  # the store code the web shop's stock is published under
DEMO_TIMEZONE = ZoneInfo("Europe/Paris")
# The JSON gives no review dates nor promotion starts; feeds need both, so the export
# uses these fixed instants (the same every run, so the files are reproducible).
REVIEWED_AT = datetime(2026, 11, 1, 10, 0, tzinfo=DEMO_TIMEZONE)
PROMOTIONS_START = datetime(2026, 11, 1, 0, 0, tzinfo=DEMO_TIMEZONE)

PRODUCT_COLUMNS = (
    "id",
    "title",
    "description",
    "link",
    "image_link",
    "availability",
    "price",
    "sale_price",
    "sale_price_effective_date",
    "gtin",
    "brand",
    "product_type",
)
INVENTORY_COLUMNS = ("store_code", "id", "quantity", "price", "availability")
PROMOTION_COLUMNS = (
    "promotion_id",
    "product_applicability",
    "offer_type",
    "long_title",
    "promotion_effective_dates",
    "redemption_channel",
    "money_off_amount",
    "item_id",
)


@dataclass(frozen=True, slots=True)
class DemoFeedFiles:
    """The files `export_demo_store` wrote."""

    products: Path
    inventories: tuple[Path, ...]
    reviews: Path
    promotions: Path
    customers: Path
    staff: Path
    orders: Path

    def all(self) -> tuple[Path, ...]:
        """Every file a hub reads without the retailer's key, products first (the others
        refer to its ids): all but the staff feed, whose badges need the key."""
        return (
            self.products,
            *self.inventories,
            self.reviews,
            self.promotions,
            self.customers,
            self.orders,
        )

    def everything(self) -> tuple[Path, ...]:
        """Every file written, the staff feed last."""
        return (*self.all(), self.staff)


def export_demo_store(catalog: Path, folder: Path) -> DemoFeedFiles:
    """Writes the demo store's catalog JSON as feeds into `folder` (created if missing).

    Raises FeedError when the catalog cannot be read or lacks what the feeds need.
    """
    try:
        demo = json.loads(catalog.read_text(encoding="utf-8"))
        store = demo["store"]
        products: list[dict[str, Any]] = demo["products"]
        promotions: list[dict[str, Any]] = demo["promotions"]
        customers: list[dict[str, Any]] = demo.get("customers", [])
        categories = {category["id"]: category["name"]["fr"] for category in demo["categories"]}
        nearby = [neighbour["id"] for neighbour in store["nearby"]]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise FeedError(str(catalog), f"is not a readable demo catalog ({error!r})") from None
    folder.mkdir(parents=True, exist_ok=True)
    by_gtin = {promotion["gtin"]: promotion for promotion in promotions}
    site = urlsplit(store["product_page"])
    files = DemoFeedFiles(
        products=folder / "products.tsv",
        inventories=tuple(
            folder / f"inventory-{code}.tsv" for code in (HERE_STORE, *nearby, ONLINE_STORE)
        ),
        reviews=folder / "reviews.xml",
        promotions=folder / "promotions.tsv",
        customers=folder / "customers.jsonl",
        staff=folder / "staff.jsonl",
        orders=folder / "orders.jsonl",
    )
    _write_tsv(
        files.products,
        PRODUCT_COLUMNS,
        (
            _product_row(product, categories, by_gtin.get(product["gtin"]), store, site.netloc)
            for product in products
        ),
    )
    for path in files.inventories:
        code = path.stem.removeprefix("inventory-")
        _write_tsv(path, INVENTORY_COLUMNS, (_stock_row(product, code) for product in products))
    _write_reviews(files.reviews, store["name"], products)
    _write_tsv(
        files.promotions,
        PROMOTION_COLUMNS,
        (_promotion_row(promotion, products) for promotion in promotions),
    )
    _write_customers(files.customers, customers)
    _write_lines(files.staff, (_staff_line(member) for member in demo_staff.STAFF))
    pseudonyms = {customer["first_name"]: customer["pseudonym"] for customer in customers}
    by_gtin = {product["gtin"]: product for product in products}
    try:
        orders = [_order_line(order, pseudonyms, by_gtin) for order in demo_staff.ORDERS]
    except KeyError as error:
        raise FeedError(str(catalog), f"lacks what a demo order names ({error!r})") from None
    _write_lines(files.orders, orders)
    return files


def _amount(cents: int, currency: str) -> str:
    """12999, "EUR" -> "129.99 EUR"."""
    return f"{cents // 100}.{cents % 100:02d} {currency}"


def _until(day: str) -> datetime:
    """The last second of a "YYYY-MM-DD" day in the demo's time zone."""
    return datetime.combine(date.fromisoformat(day), time(23, 59, 59), tzinfo=DEMO_TIMEZONE)


def _period(promotion: Mapping[str, Any]) -> str:
    """A promotion's dates as two ISO 8601 instants joined by "/"."""
    return f"{PROMOTIONS_START.isoformat()}/{_until(promotion['ends']).isoformat()}"


def _product_row(
    product: Mapping[str, Any],
    categories: Mapping[str, str],
    promotion: Mapping[str, Any] | None,
    store: Mapping[str, Any],
    host: str,
) -> Sequence[str]:
    currency = product["currency"]
    return (
        product["gtin"],  # the demo has no SKUs: the GTIN is the retailer's id
        product["name"]["fr"],
        product["description"]["fr"],
        store["product_page"].format(gtin=product["gtin"]),
        f"https://{host}/images/{product['gtin']}.png",
        "in_stock" if product["stock"]["online"] > 0 else "out_of_stock",
        _amount(product["price_cents"], currency),
        "" if promotion is None else _amount(promotion["price_cents"], currency),
        "" if promotion is None else _period(promotion),
        product["gtin"],
        product["brand"],
        categories.get(product["category"], product["category"]),
    )


def _stock_row(product: Mapping[str, Any], store_code: str) -> Sequence[str]:
    stock = product["stock"]
    if store_code == HERE_STORE:
        quantity = stock["here"]
    elif store_code == ONLINE_STORE:
        quantity = stock["online"]
    else:
        quantity = stock["nearby"][store_code]
    return (
        store_code,
        product["gtin"],
        str(quantity),
        _amount(product["price_cents"], product["currency"]),
        "in_stock" if quantity > 0 else "out_of_stock",
    )


def _promotion_row(
    promotion: Mapping[str, Any], products: Sequence[Mapping[str, Any]]
) -> Sequence[str]:
    product = next(product for product in products if product["gtin"] == promotion["gtin"])
    off = product["price_cents"] - promotion["price_cents"]
    return (
        promotion["id"],
        "specific_products",
        "no_code",
        promotion["title"]["fr"],
        _period(promotion),
        "in_store,online",
        _amount(off, product["currency"]),
        promotion["gtin"],
    )


def _write_tsv(path: Path, header: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """A UTF-8 TSV; blank space inside a value (a tab, a newline) becomes one space."""
    lines = ["\t".join(header)]
    lines.extend("\t".join(" ".join(cell.split()) for cell in row) for row in rows)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _write_customers(path: Path, customers: Iterable[Mapping[str, Any]]) -> None:
    """The demo's loyalty customers as Borne's loyalty feed: one JSON object a line."""
    lines = (
        {
            "pseudonym": customer["pseudonym"],
            "first_name": customer["first_name"],
            "points": customer["points"],
            "personalisation": customer.get("personalisation", True),
            "offers": [
                {"gtin": offer["gtin"], "title": offer["title"]}
                for offer in customer.get("offers", [])
            ],
            **demo_staff.PROFILES.get(customer["first_name"], {}),
        }
        for customer in customers
    )
    _write_lines(path, lines)


def _write_lines(path: Path, lines: Iterable[Mapping[str, Any]]) -> None:
    """A JSON Lines file, UTF-8 as it reads."""
    texts = (json.dumps(line, ensure_ascii=False) for line in lines)
    path.write_text("".join(f"{text}\n" for text in texts), encoding="utf-8")


def _staff_line(member: demo_staff.DemoStaff) -> dict[str, Any]:
    return {
        "badge": member.badge,
        "name": member.name,
        "role": member.role,
        "stores": list(member.stores),
        "pin_hash": member.pin_hash,
    }


def _order_line(
    order: demo_staff.DemoOrder,
    pseudonyms: Mapping[str, str],
    products: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    """An order of the orders feed: titles and amounts from the demo catalog."""

    def line(gtin: str, quantity: int) -> dict[str, Any]:
        product = products[gtin]
        cents = product["price_cents"] * quantity
        return {
            "gtin": gtin,
            "title": product["name"]["fr"],
            "quantity": quantity,
            "amount": f"{cents // 100}.{cents % 100:02d}",
        }

    lines = [line(gtin, quantity) for gtin, quantity in order.lines]
    total = sum(products[gtin]["price_cents"] * quantity for gtin, quantity in order.lines)
    document: dict[str, Any] = {
        "order": order.number,
        "pseudonym": pseudonyms[order.customer],
        "channel": order.channel,
        "placed": order.placed,
        "where": order.where,
        "status": order.status,
        "currency": "EUR",
        "total": f"{total // 100}.{total % 100:02d}",
        "lines": lines,
        "returned": [line(gtin, quantity) for gtin, quantity in order.returned],
    }
    if order.pickup_store is not None:
        document["pickup_store"] = order.pickup_store
    return document


def _write_reviews(path: Path, publisher: str, products: Sequence[Mapping[str, Any]]) -> None:
    """The demo's reviews as a product reviews feed, schema 2.3."""
    feed = Element("feed")
    SubElement(feed, "version").text = "2.3"
    SubElement(SubElement(feed, "publisher"), "name").text = publisher
    reviews = SubElement(feed, "reviews")
    for product in products:
        for number, said in enumerate(product["reviews"], start=1):
            review = SubElement(reviews, "review")
            SubElement(review, "review_id").text = f"demo-{product['gtin']}-{number}"
            name = SubElement(SubElement(review, "reviewer"), "name", is_anonymous="false")
            name.text = said["author"]
            SubElement(review, "review_timestamp").text = REVIEWED_AT.isoformat()
            SubElement(review, "content").text = said["text"]
            ratings = SubElement(review, "ratings")
            SubElement(ratings, "overall", min="1", max="5").text = str(said["rating"])
            reviewed = SubElement(SubElement(review, "products"), "product")
            ids = SubElement(reviewed, "product_ids")
            SubElement(SubElement(ids, "gtins"), "gtin").text = product["gtin"]
            SubElement(SubElement(ids, "skus"), "sku").text = product["gtin"]
            SubElement(SubElement(ids, "brands"), "brand").text = product["brand"]
            SubElement(reviewed, "product_name").text = product["name"]["fr"]
    indent(feed)
    ElementTree(feed).write(path, encoding="utf-8", xml_declaration=True)
