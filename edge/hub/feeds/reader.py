"""Recognising a feed file and reading it into records and rejected rows."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element

from edge.hub.feeds.customers import CardPseudonym, customer_from_line, gives_card
from edge.hub.feeds.errors import FeedError, FeedValueError
from edge.hub.feeds.fields import Row
from edge.hub.feeds.inventory import inventory_from_row
from edge.hub.feeds.orders import OrderRecord, names_order, order_from_line
from edge.hub.feeds.products import product_from_row
from edge.hub.feeds.promotions import promotion_from_row
from edge.hub.feeds.records import Customer, LocalInventory, Product, Promotion, Review
from edge.hub.feeds.reviews import review_from_element
from edge.hub.feeds.source import (
    ATOM_NS,
    MAX_FEED_BYTES,
    JsonLinesFeed,
    MalformedLine,
    TsvFeed,
    XmlFeed,
    item_row,
    looks_like_json_lines,
    looks_like_xml,
    parse_xml,
    read_text,
    split_json_lines,
    split_tsv,
)
from edge.hub.feeds.staff import StaffRecord, names_staff, staff_from_line

REVIEWS_SCHEMA_VERSION = "2.3"

FeedRecord = Product | LocalInventory | Review | Promotion | Customer | StaffRecord | OrderRecord
ParsedFeed = TsvFeed | XmlFeed | JsonLinesFeed
# What names a customer on the first line of a JSON Lines file: it is a loyalty feed
# (unless it also names an order or a badge: those feeds are told apart first).
_CUSTOMER_KEYS = ("pseudonym", "card")


class FeedKind(StrEnum):
    """The kinds of feed `borne hub` imports."""

    PRODUCTS = "products"
    LOCAL_INVENTORY = "local_inventory"
    REVIEWS = "reviews"
    PROMOTIONS = "promotions"
    CUSTOMERS = "customers"  # Borne's loyalty feed (docs/feeds.md)
    STAFF = "staff"  # Borne's staff feed: badges, roles, PIN hashes
    ORDERS = "orders"  # Borne's orders feed, every channel's


@dataclass(frozen=True, slots=True)
class Rejection:
    """A row left out: where it is and why (never the refused value itself)."""

    file: str
    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.reason}"


@dataclass(frozen=True, slots=True)
class FeedResult:
    """What a feed file gave: its kind, the good records, the rows rejected."""

    kind: FeedKind
    records: tuple[FeedRecord, ...]
    rejected: tuple[Rejection, ...]


_ROW_BUILDERS: dict[FeedKind, Callable[[Row], FeedRecord]] = {
    FeedKind.PRODUCTS: product_from_row,
    FeedKind.LOCAL_INVENTORY: inventory_from_row,
    FeedKind.PROMOTIONS: promotion_from_row,
}


def detect_feed(path: Path, max_bytes: int = MAX_FEED_BYTES) -> FeedKind:
    """The kind of feed a file holds: from its TSV header, its XML root and items, or
    its first JSON line.

    Raises FeedError when the file is not a feed this importer knows, or is refused.
    """
    return _open(path, max_bytes)[0]


def read_feed(
    path: Path, max_bytes: int = MAX_FEED_BYTES, *, card_pseudonym: CardPseudonym | None = None
) -> FeedResult:
    """Reads a feed file: a bad row is rejected with its line and field, the rest is kept.

    `card_pseudonym` keys the card numbers of a loyalty or orders feed and the badges of
    a staff feed (`Pseudonyms.card`); they are never kept. Raises FeedError, naming the
    file, when the whole file is refused: unreadable, over `max_bytes`, not UTF-8,
    malformed or unsafe XML, not a known feed, or a feed that gives card numbers or
    badges when no `card_pseudonym` is given.
    """
    kind, parsed = _open(path, max_bytes)
    if isinstance(parsed, JsonLinesFeed) and card_pseudonym is None:
        _refuse_card_numbers(path, kind, parsed)
    records: list[FeedRecord] = []
    rejected: list[Rejection] = []
    for line, build in _pending(kind, parsed, card_pseudonym):
        try:
            records.append(build())
        except FeedValueError as error:
            rejected.append(Rejection(str(path), line, error.field, error.reason))
    return FeedResult(kind=kind, records=tuple(records), rejected=tuple(rejected))


def _open(path: Path, max_bytes: int) -> tuple[FeedKind, ParsedFeed]:
    """The file parsed, and the kind of feed it is."""
    text = read_text(path, max_bytes)
    if looks_like_xml(text):
        xml = parse_xml(path, text)
        return _xml_kind(path, xml.root), xml
    if looks_like_json_lines(text):
        lines = split_json_lines(text)
        first = lines.first_value()
        if names_order(first):
            return FeedKind.ORDERS, lines
        if names_staff(first):
            return FeedKind.STAFF, lines
        if not isinstance(first, dict) or not any(key in first for key in _CUSTOMER_KEYS):
            raise FeedError(
                str(path),
                "is not a known feed (its first line names no order, badge, pseudonym nor card)",
                1,
            )
        return FeedKind.CUSTOMERS, lines
    tsv = split_tsv(text)
    return _tsv_kind(path, tsv.header), tsv


def _tsv_kind(path: Path, header: tuple[str, ...]) -> FeedKind:
    """A TSV feed's kind, from the attributes its header names."""
    names = set(header)
    if "promotion_id" in names:
        return FeedKind.PROMOTIONS
    if "store_code" in names:
        return FeedKind.LOCAL_INVENTORY
    if {"id", "title"} <= names:
        return FeedKind.PRODUCTS
    raise FeedError(str(path), "is not a known feed (its header names no feed's attributes)", 1)


def _xml_kind(path: Path, root: Element) -> FeedKind:
    """An XML feed's kind: a reviews `<feed>`, or RSS/Atom items told apart by attributes."""
    if root.tag == "feed" and (
        root.find("reviews") is not None or root.find("version") is not None
    ):
        version = (root.findtext("version") or "").strip()
        if version != REVIEWS_SCHEMA_VERSION:
            raise FeedError(
                str(path), f"is a reviews feed of a version other than {REVIEWS_SCHEMA_VERSION}"
            )
        if not (root.findtext("publisher/name") or "").strip():
            raise FeedError(str(path), "is a reviews feed without its required publisher name")
        return FeedKind.REVIEWS
    if root.tag not in {"rss", f"{{{ATOM_NS}}}feed"}:
        raise FeedError(
            str(path), "is not a known feed (its root is neither RSS, Atom nor reviews)"
        )
    for item in _items(root):
        names = item_row(item).values
        if "promotion_id" in names:
            return FeedKind.PROMOTIONS
        if "store_code" in names:
            return FeedKind.LOCAL_INVENTORY
    return FeedKind.PRODUCTS


def _refuse_card_numbers(path: Path, kind: FeedKind, feed: JsonLinesFeed) -> None:
    """Refuse a feed giving card numbers (or badges) whole when there is no key to hide
    them: importing the rest would silently drop those customers, and keeping a number
    is never an option."""
    if kind is FeedKind.STAFF and feed.lines:
        raise FeedError(
            str(path),
            "gives staff badges, and no [privacy] pseudonym_key_file is configured"
            " to turn them into the kiosks' pseudonyms",
            feed.lines[0][0],
        )
    for line, value in feed.lines:
        if gives_card(value):
            raise FeedError(
                str(path),
                "gives card numbers, and no [privacy] pseudonym_key_file is configured"
                " to turn them into pseudonyms",
                line,
            )


def _items(root: Element) -> list[Element]:
    """RSS `<channel><item>` or Atom `<entry>` elements."""
    if root.tag == "rss":
        return root.findall("channel/item")
    return root.findall(f"{{{ATOM_NS}}}entry")


def _pending(
    kind: FeedKind, parsed: ParsedFeed, card_pseudonym: CardPseudonym | None
) -> Iterator[tuple[int, Callable[[], FeedRecord]]]:
    """Each row's line and the call that builds its record (or raises FeedValueError)."""
    if isinstance(parsed, JsonLinesFeed):
        build_line = _LINE_BUILDERS[kind]
        for line, value in parsed.lines:
            yield line, partial(_build_line, build_line, value, card_pseudonym)
    elif isinstance(parsed, TsvFeed):
        build = _ROW_BUILDERS[kind]
        for line, row in parsed.rows:
            yield line, partial(_build_tsv_row, build, row)
    elif kind is FeedKind.REVIEWS:
        for review in parsed.root.iterfind("reviews/review"):
            yield parsed.line_of(review), partial(review_from_element, review)
    else:
        build = _ROW_BUILDERS[kind]
        for item in _items(parsed.root):
            yield parsed.line_of(item), partial(build, item_row(item))


_LineBuilder = Callable[[Any, CardPseudonym | None], FeedRecord]
_LINE_BUILDERS: dict[FeedKind, _LineBuilder] = {
    FeedKind.CUSTOMERS: customer_from_line,
    FeedKind.STAFF: staff_from_line,
    FeedKind.ORDERS: order_from_line,
}


def _build_line(
    build: _LineBuilder, value: object, card_pseudonym: CardPseudonym | None
) -> FeedRecord:
    """The line's record; a line that is not JSON is rejected whole."""
    if isinstance(value, MalformedLine):
        raise FeedValueError("(line)", value.reason)
    return build(value, card_pseudonym)


def _build_tsv_row(build: Callable[[Row], FeedRecord], row: Row | None) -> FeedRecord:
    """The row's record; a row with more cells than the header names is rejected whole."""
    if row is None:
        raise FeedValueError("(row)", "more cells than the header names (a tab inside a value?)")
    return build(row)
