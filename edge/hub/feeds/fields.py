"""Parsers of single feed values, and the row view the record builders read from.

Each parser takes the attribute's name so that its `FeedValueError` says which field
was refused; none quotes the value back.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TypeVar

from devices.barcode.gs1 import normalize_gtin
from devices.errors import InputError
from edge.hub.feeds.errors import FeedValueError
from edge.hub.feeds.records import Money, Period

E = TypeVar("E", bound=StrEnum)

# ASCII digits only: `\d` would also take Arabic-Indic or full-width digits.
_MONEY = re.compile(r"([0-9]{1,12})(?:\.([0-9]{1,2}))?[ \t]+([A-Za-z]{3})")
_INTEGER = re.compile(r"[0-9]{1,9}")
_NUMBER = re.compile(r"-?[0-9]{1,9}(?:\.[0-9]{1,6})?")
MAX_ID_LENGTH = 50  # Merchant Center's limit on `id`


@dataclass(frozen=True, slots=True)
class Row:
    """One row of a feed, whatever its format: attribute name -> its values, in order.

    TSV rows hold one value per attribute; XML items may repeat an element. Empty values
    are dropped when the row is built, so an absent and a blank attribute read the same.
    """

    values: Mapping[str, tuple[str, ...]]

    def first(self, name: str) -> str | None:
        """The attribute's first value, or None when it is absent."""
        found = self.values.get(name, ())
        return found[0] if found else None

    def required(self, name: str) -> str:
        """The attribute's first value; refuses the row when it is absent."""
        value = self.first(name)
        if value is None:
            raise FeedValueError(name, "required and missing")
        return value

    def every(self, name: str) -> tuple[str, ...]:
        """Every value of the attribute, a TSV cell's comma-separated list split apart."""
        parts = (part.strip() for value in self.values.get(name, ()) for part in value.split(","))
        return tuple(part for part in parts if part)


def identifier(name: str, text: str) -> str:
    """A retailer's id: at most 50 characters, no control characters."""
    if len(text) > MAX_ID_LENGTH:
        raise FeedValueError(name, f"longer than {MAX_ID_LENGTH} characters")
    if any(not char.isprintable() for char in text):
        raise FeedValueError(name, "contains control characters")
    return text


def text(name: str, value: object, longest: int) -> str:
    """A required, non-blank, printable JSON text of at most `longest` characters, trimmed."""
    if value is None:
        raise FeedValueError(name, "required and missing")
    if not isinstance(value, str) or not value.strip():
        raise FeedValueError(name, "expected text")
    if len(value) > longest:
        raise FeedValueError(name, f"longer than {longest} characters")
    if not value.isprintable():
        raise FeedValueError(name, "contains control characters")
    return value.strip()


def money(name: str, text: str) -> Money:
    """ "15.00 EUR" -> Money(1500, "EUR"): a number, a space, an ISO 4217 code."""
    match = _MONEY.fullmatch(text)
    if match is None:
        raise FeedValueError(name, "expected an amount and a currency, as in 15.00 EUR")
    units, fraction, currency = match.groups()
    cents = int(units) * 100 + int((fraction or "0").ljust(2, "0"))
    return Money(cents=cents, currency=currency.upper())


def instant(name: str, text: str) -> datetime:
    """An ISO 8601 instant with its UTC offset (an instant without one is ambiguous)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise FeedValueError(name, "expected an ISO 8601 date and time") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise FeedValueError(name, "needs a UTC offset (as in +01:00 or Z)")
    return moment


def period(name: str, text: str) -> Period:
    """Two ISO 8601 instants joined by "/", the first before the second."""
    halves = text.split("/")
    if len(halves) != 2:
        raise FeedValueError(name, "expected two ISO 8601 instants joined by /")
    start, end = (instant(name, half.strip()) for half in halves)
    if start >= end:
        raise FeedValueError(name, "ends before it starts")
    return Period(start=start, end=end)


def gtin(name: str, text: str) -> str:
    """A GTIN-8/12/13/14 with a right check digit, as GTIN-14."""
    try:
        return normalize_gtin(text)
    except InputError as error:
        raise FeedValueError(name, error.reason) from None


def quantity(name: str, text: str) -> int:
    """A whole number of items, zero or more."""
    if _INTEGER.fullmatch(text) is None:
        raise FeedValueError(name, "expected a whole number, zero or more")
    return int(text)


def number(name: str, text: str) -> float:
    """A decimal number such as 4.5 (ratings may be fractional)."""
    if _NUMBER.fullmatch(text) is None:
        raise FeedValueError(name, "expected a number")
    return float(text)


def boolean(name: str, text: str) -> bool:
    """ "true"/"false" (also "yes"/"no", "1"/"0", any case)."""
    lowered = text.lower()
    if lowered in {"true", "yes", "1"}:
        return True
    if lowered in {"false", "no", "0"}:
        return False
    raise FeedValueError(name, "expected true or false")


def choice(name: str, text: str, kind: type[E]) -> E:
    """One of an enumeration's values; case, and "_" or " " between words, do not matter."""
    wanted = text.strip().lower()
    for member in kind:
        if wanted in {member.value, member.value.replace(" ", "_"), member.value.replace("_", " ")}:
            return member
    allowed = ", ".join(member.value for member in kind)
    raise FeedValueError(name, f"expected one of: {allowed}")


def optional_money(row: Row, name: str) -> Money | None:
    """The row's amount for `name`, None when absent."""
    text = row.first(name)
    return None if text is None else money(name, text)


def optional_period(row: Row, name: str) -> Period | None:
    """The row's period for `name`, None when absent."""
    text = row.first(name)
    return None if text is None else period(name, text)


def optional_choice(row: Row, name: str, kind: type[E]) -> E | None:
    """The row's enumeration value for `name`, None when absent."""
    text = row.first(name)
    return None if text is None else choice(name, text, kind)
