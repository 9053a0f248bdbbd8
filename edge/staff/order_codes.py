"""An order's number from what was scanned or typed: pure, for outside input."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from edge.staff.wire import ORDER_NUMBER

__all__ = ["ORDER_NUMBER", "order_number", "typed_order_number"]
_ORDER_CHAR = re.compile(r"[A-Z0-9-]")
_TEXT_MAX = 2048


def order_number(text: str) -> str | None:
    """The order number a code holds: the number itself, or a URL whose `order=`
    parameter or last path segment is one; None when it holds none."""
    text = text.strip()
    if len(text) > _TEXT_MAX:
        return None
    if ORDER_NUMBER.fullmatch(text):
        return text
    try:
        url = urlsplit(text)
    except ValueError:
        return None
    if url.scheme not in ("http", "https") or not url.netloc:
        return None
    for value in parse_qs(url.query).get("order", []):
        if ORDER_NUMBER.fullmatch(value):
            return value
    segment = url.path.rstrip("/").rsplit("/", 1)[-1]
    return segment if ORDER_NUMBER.fullmatch(segment) else None


def typed_order_number(text: str) -> str:
    """What the keypad typed, kept to an order number's characters and length."""
    kept = "".join(char for char in text.upper() if _ORDER_CHAR.fullmatch(char))
    return kept[:32]
