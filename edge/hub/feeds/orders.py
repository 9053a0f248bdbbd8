"""A line of Borne's orders feed (JSON Lines, docs/feeds.md) -> `OrderRecord`.

One order a line, on any channel (store, web, app): its number, its customer (`card`,
turned into its pseudonym here and never kept, or `pseudonym`), where and when it was
placed, its status, its lines and what was returned. The hub keeps orders only to
answer staff requests; they are never published in a stream.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from edge.hub.feeds import fields
from edge.hub.feeds.customers import CardPseudonym, customer_pseudonym
from edge.hub.feeds.errors import FeedValueError
from edge.staff.wire import ORDER_NUMBER, TOPIC_LEVEL

# As the kiosk's edge.staff.view names them (a test keeps the two the same); not
# imported from there: that module brings the kiosk's catalog, which the hub never needs.
CHANNELS = ("store", "web", "app")
ORDER_STATUSES = (
    "placed",
    "shipped",
    "delivered",
    "ready_for_pickup",
    "handed_over",
    "cancelled",
    "returned",
)
MAX_LINES = 200
MAX_TEXT = 200
MAX_QUANTITY = 9_999
_AMOUNT = re.compile(r"([0-9]{1,9})(?:\.([0-9]{1,2}))?")
_CURRENCY = re.compile(r"[A-Z]{3}")


@dataclass(frozen=True, slots=True)
class OrderLineRecord:
    """One line of an order (or of what was returned): a product, how many, the amount."""

    gtin: str | None  # GTIN-14, check digit verified; None for what has none (a gift card)
    title: str
    quantity: int
    amount: str  # decimal text with two decimals, "99.99"


@dataclass(frozen=True, slots=True)
class OrderRecord:
    """One order of one customer; what it holds stays out of the repr."""

    number: str
    customer: str = field(repr=False)  # the customer's card pseudonym (64 lowercase hex)
    channel: str  # one of edge.staff.view.CHANNELS
    placed: str  # ISO 8601 date or date and time, as the feed gave it
    placed_at: datetime = field(repr=False)  # the same, as an instant (a date: its midnight UTC)
    where: str = field(repr=False)
    status: str = "placed"  # one of edge.staff.view.ORDER_STATUSES
    currency: str = field(default="EUR", repr=False)
    total: str = field(default="0.00", repr=False)
    lines: tuple[OrderLineRecord, ...] = field(default=(), repr=False)
    returned: tuple[OrderLineRecord, ...] = field(default=(), repr=False)
    pickup_store: str | None = None  # click & collect: the store it is collected at


def names_order(line: Any) -> bool:
    """Whether a parsed line is an orders feed's: it names an order."""
    return isinstance(line, dict) and "order" in line


def order_from_line(line: Any, card_pseudonym: CardPseudonym | None) -> OrderRecord:
    """The order a parsed line describes; raises FeedValueError naming the first bad field."""
    if not isinstance(line, dict):
        raise FeedValueError("(line)", "expected a JSON object")
    number = line.get("order")
    if not isinstance(number, str) or not ORDER_NUMBER.fullmatch(number):
        raise FeedValueError("order", "expected 4 to 32 capital letters, digits or '-'")
    placed, placed_at = _placed(line.get("placed"))
    return OrderRecord(
        number=number,
        customer=customer_pseudonym(line, card_pseudonym),
        channel=_choice(line, "channel", CHANNELS),
        placed=placed,
        placed_at=placed_at,
        where=fields.text("where", line.get("where"), MAX_TEXT),
        status=_choice(line, "status", ORDER_STATUSES),
        currency=_currency(line.get("currency")),
        total=amount("total", line.get("total")),
        lines=_lines(line, "lines", required=True),
        returned=_lines(line, "returned", required=False),
        pickup_store=_pickup_store(line.get("pickup_store")),
    )


def amount(name: str, value: Any) -> str:
    """A decimal amount as text ("99.9" -> "99.90"); a JSON number would round cents."""
    match = _AMOUNT.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise FeedValueError(name, 'expected a decimal amount, as text: "99.99"')
    units, cents = match.groups()
    return f"{int(units)}.{(cents or '0').ljust(2, '0')}"


def _placed(value: Any) -> tuple[str, datetime]:
    if not isinstance(value, str):
        raise FeedValueError("placed", "expected an ISO 8601 date, or date and time")
    if len(value) == 10:
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise FeedValueError("placed", "expected an ISO 8601 date: 2026-10-02") from None
        return value, datetime(day.year, day.month, day.day, tzinfo=UTC)
    return value, fields.instant("placed", value)


def _choice(line: Mapping[str, Any], name: str, allowed: tuple[str, ...]) -> str:
    value = line.get(name)
    if value not in allowed:
        raise FeedValueError(name, f"expected one of: {', '.join(allowed)}")
    return str(value)


def _currency(value: Any) -> str:
    if not isinstance(value, str) or not _CURRENCY.fullmatch(value):
        raise FeedValueError("currency", "expected an ISO 4217 code, as EUR")
    return value


def _lines(line: Mapping[str, Any], name: str, *, required: bool) -> tuple[OrderLineRecord, ...]:
    value = line.get(name, None if required else [])
    if not isinstance(value, list) or len(value) > MAX_LINES or (required and not value):
        least = 1 if required else 0
        raise FeedValueError(name, f"expected a list of {least} to {MAX_LINES} lines")
    return tuple(_line(item, f"{name}[{index}]") for index, item in enumerate(value))


def _line(item: Any, where: str) -> OrderLineRecord:
    if not isinstance(item, dict):
        raise FeedValueError(where, "expected an object with title, quantity and amount")
    gtin = item.get("gtin")
    if gtin is not None and not isinstance(gtin, str):
        raise FeedValueError(f"{where}.gtin", "expected a GTIN, as text")
    quantity = item.get("quantity")
    if (
        isinstance(quantity, bool)
        or not isinstance(quantity, int)
        or not 1 <= quantity <= MAX_QUANTITY
    ):
        raise FeedValueError(f"{where}.quantity", f"expected a whole number, 1 to {MAX_QUANTITY}")
    return OrderLineRecord(
        gtin=None if gtin is None else fields.gtin(f"{where}.gtin", gtin),
        title=fields.text(f"{where}.title", item.get("title"), MAX_TEXT),
        quantity=quantity,
        amount=amount(f"{where}.amount", item.get("amount")),
    )


def _pickup_store(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not TOPIC_LEVEL.fullmatch(value):
        raise FeedValueError("pickup_store", "a store code is 1-64 characters, no '/', '+', '#'")
    return value
