"""The hub's answers to staff requests, read strictly into the staff view's types.

Outside input: anything malformed is a `StaffAnswerError`, never a half-read file.
GTINs stay GTINs here; the desk turns them into the kiosk's catalog products.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from edge.staff.directory import StaffError
from edge.staff.payloads import read_object
from edge.staff.view import CHANNELS, ORDER_STATUSES, Order, OrderLine
from edge.staff.wire import TOPIC_LEVEL

MAX_ANSWER_BYTES = 256 * 1024
_TEXT_MAX = 200
_LIST_MAX = 500


class StaffAnswerError(StaffError):
    """An answer of the hub that the kiosk cannot read."""


@dataclass(frozen=True, slots=True)
class CustomerData:
    """A customer's file as the hub sent it (wishlist as GTINs). In memory only."""

    first_name: str
    last_name: str
    tier: str
    points: int
    email: str
    phone: str
    contact_masked: bool
    preferences: tuple[str, ...]
    sizes: tuple[tuple[str, str], ...]
    orders: tuple[Order, ...]
    wishlist: tuple[str, ...]

    def __repr__(self) -> str:
        return f"CustomerData(orders={len(self.orders)})"


@dataclass(frozen=True, slots=True)
class CustomerAnswer:
    status: str  # "ok", "declined", "unknown", "refused"
    customer: CustomerData | None = None


@dataclass(frozen=True, slots=True)
class OrderAnswer:
    """An order look-up's or a handover's answer."""

    status: str  # order: "ok", "unknown", "refused"; handover: also "not_ready"
    order: Order | None = None
    first_name: str = ""


def _document(payload: bytes) -> Mapping[str, Any]:
    return read_object(payload, limit=MAX_ANSWER_BYTES, what="answer", error=StaffAnswerError)


def _status(document: Mapping[str, Any], allowed: tuple[str, ...]) -> str:
    status = document.get("status")
    if status not in allowed:
        raise StaffAnswerError(f"answer: status: expected one of {', '.join(allowed)}")
    return str(status)


def _text(value: Mapping[str, Any], field: str, *, where: str, optional: bool = False) -> str:
    text = value.get(field)
    if text is None and optional:
        return ""
    if not isinstance(text, str) or len(text) > _TEXT_MAX:
        raise StaffAnswerError(f"{where}: {field}: expected text")
    return text


def _list(value: Any, *, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > _LIST_MAX:
        raise StaffAnswerError(f"{where}: expected a list")
    return value


def _count(value: Any, *, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10**9:
        raise StaffAnswerError(f"{where}: expected a whole number")
    return value


def _amount(value: Mapping[str, Any], field: str, *, where: str) -> str:
    text = _text(value, field, where=where)
    digits = text.removeprefix("-")
    whole, _, cents = digits.partition(".")
    if not (whole.isdigit() and whole.isascii() and (cents == "" or cents.isdigit())):
        raise StaffAnswerError(f"{where}: {field}: expected a decimal amount")
    return text


def _line(value: Any, where: str) -> OrderLine:
    if not isinstance(value, dict):
        raise StaffAnswerError(f"{where}: expected an object")
    gtin = value.get("gtin")
    if gtin is not None and not (isinstance(gtin, str) and gtin.isdigit() and len(gtin) <= 14):
        raise StaffAnswerError(f"{where}: gtin: expected digits")
    return OrderLine(
        gtin=gtin,
        title=_text(value, "title", where=where),
        quantity=_count(value.get("quantity"), where=f"{where}: quantity"),
        amount=_amount(value, "amount", where=where),
    )


def order_from_value(value: Any, where: str = "order") -> Order:
    """One ORDER object of the contract."""
    if not isinstance(value, dict):
        raise StaffAnswerError(f"{where}: expected an object")
    channel = value.get("channel")
    if channel not in CHANNELS:
        raise StaffAnswerError(f"{where}: channel: expected one of {', '.join(CHANNELS)}")
    status = value.get("status")
    if status not in ORDER_STATUSES:
        raise StaffAnswerError(f"{where}: status: expected one of {', '.join(ORDER_STATUSES)}")
    pickup = value.get("pickup_store")
    if pickup is not None and (not isinstance(pickup, str) or not TOPIC_LEVEL.fullmatch(pickup)):
        raise StaffAnswerError(f"{where}: pickup_store: expected a store code or null")
    lines = _list(value.get("lines"), where=f"{where}: lines")
    returned = _list(value.get("returned"), where=f"{where}: returned")
    return Order(
        number=_text(value, "order", where=where),
        channel=str(channel),
        placed=_text(value, "placed", where=where),
        where=_text(value, "where", where=where),
        status=str(status),
        total=_amount(value, "total", where=where),
        currency=_text(value, "currency", where=where),
        lines=tuple(_line(line, f"{where}: lines[{i}]") for i, line in enumerate(lines)),
        returned=tuple(_line(line, f"{where}: returned[{i}]") for i, line in enumerate(returned)),
        pickup_store=pickup,
    )


def _customer(value: Any) -> CustomerData:
    where = "customer"
    if not isinstance(value, dict):
        raise StaffAnswerError("customer: expected an object")
    masked = value.get("contact_masked", True)
    if not isinstance(masked, bool):
        raise StaffAnswerError("customer: contact_masked: expected true or false")
    preferences = _list(value.get("preferences"), where="customer: preferences")
    if not all(isinstance(text, str) and len(text) <= _TEXT_MAX for text in preferences):
        raise StaffAnswerError("customer: preferences: expected texts")
    sizes = value.get("sizes") or {}
    if not isinstance(sizes, dict) or not all(
        isinstance(label, str) and isinstance(size, str) and len(label + size) <= _TEXT_MAX
        for label, size in sizes.items()
    ):
        raise StaffAnswerError("customer: sizes: expected labels and sizes")
    orders = _list(value.get("orders"), where="customer: orders")
    wishlist = _list(value.get("wishlist"), where="customer: wishlist")
    if not all(isinstance(gtin, str) and gtin.isdigit() and len(gtin) <= 14 for gtin in wishlist):
        raise StaffAnswerError("customer: wishlist: expected GTINs")
    return CustomerData(
        first_name=_text(value, "first_name", where=where),
        last_name=_text(value, "last_name", where=where, optional=True),
        tier=_text(value, "tier", where=where, optional=True),
        points=_count(value.get("points", 0), where="customer: points"),
        email=_text(value, "email", where=where, optional=True),
        phone=_text(value, "phone", where=where, optional=True),
        contact_masked=masked,
        preferences=tuple(preferences),
        sizes=tuple((str(label), str(size)) for label, size in sizes.items()),
        orders=tuple(
            order_from_value(order, f"customer: orders[{i}]") for i, order in enumerate(orders)
        ),
        wishlist=tuple(wishlist),
    )


def parse_customer_answer(payload: bytes) -> CustomerAnswer:
    """The answer to a customer request."""
    document = _document(payload)
    status = _status(document, ("ok", "declined", "unknown", "refused"))
    if status != "ok":
        return CustomerAnswer(status)  # a declined customer's answer carries nothing else
    return CustomerAnswer(status, _customer(document.get("customer")))


def parse_order_answer(payload: bytes) -> OrderAnswer:
    """The answer to an order look-up."""
    document = _document(payload)
    status = _status(document, ("ok", "unknown", "refused"))
    if status != "ok":
        return OrderAnswer(status)
    first_name = _text(document, "first_name", where="answer", optional=True)
    return OrderAnswer(status, order_from_value(document.get("order")), first_name)


def parse_handover_answer(payload: bytes) -> OrderAnswer:
    """The answer to a handover request."""
    document = _document(payload)
    status = _status(document, ("ok", "not_ready", "unknown", "refused"))
    if status in ("unknown", "refused"):
        return OrderAnswer(status)
    return OrderAnswer(status, order_from_value(document.get("order")))
