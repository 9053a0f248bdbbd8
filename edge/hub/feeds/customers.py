"""A line of Borne's loyalty feed (JSON Lines, docs/feeds.md) -> `Customer`.

There is no standard loyalty feed, so Borne defines one: one JSON object per line,
naming the customer by `pseudonym` (64 hex digits, the HMAC the kiosks make of a card)
or by `card` (the card number, turned into its pseudonym here with the retailer's key
and never kept). Keys the importer does not know are ignored, as other feeds' columns.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from edge.hub.feeds import fields
from edge.hub.feeds.errors import FeedValueError
from edge.hub.feeds.records import Customer, LoyaltyOffer

CardPseudonym = Callable[[str], str]  # a card number -> its pseudonym (edge.pseudonym)

MAX_POINTS = 10**9  # more than any scheme gives: a corrupt figure, not a balance
MAX_OFFERS = 50  # personal offers per customer; a kiosk screen shows a handful
MAX_NAME_LENGTH = 100
MAX_TITLE_LENGTH = 300
CARD_DIGITS = (8, 19)  # as the kiosk's NFC reader accepts (devices/nfc/card_formats.py)
FALLBACK_LANGUAGE = "fr"  # every screen falls back to French: a title needs it
_PSEUDONYM = re.compile(r"[0-9a-f]{64}")
_LANGUAGE = re.compile(r"[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})?")


def gives_card(line: Any) -> bool:
    """Whether a parsed line names its customer by card number."""
    return isinstance(line, dict) and "card" in line


def customer_from_line(line: Any, card_pseudonym: CardPseudonym | None) -> Customer:
    """The customer a parsed line describes; raises FeedValueError naming the first bad field.

    `card_pseudonym` turns a card number into its pseudonym; a line giving a card
    without it is refused (`read_feed` refuses such a file whole before this).
    """
    if not isinstance(line, dict):
        raise FeedValueError("(line)", "expected a JSON object")
    return Customer(
        pseudonym=_pseudonym(line, card_pseudonym),
        first_name=_text("first_name", line.get("first_name"), MAX_NAME_LENGTH),
        points=_points(line),
        personalisation=_flag(line, "personalisation", default=True),
        offers=_offers(line),
    )


def _pseudonym(line: Mapping[str, Any], card_pseudonym: CardPseudonym | None) -> str:
    """The customer's pseudonym: given, or made from the card number."""
    if "card" in line:
        if "pseudonym" in line:
            raise FeedValueError("card", "give either pseudonym or card, not both")
        if card_pseudonym is None:
            raise FeedValueError("card", "no pseudonym key is configured to key card numbers")
        return card_pseudonym(_card(line["card"]))
    given = line.get("pseudonym")
    if given is None:
        raise FeedValueError("pseudonym", "required and missing (or give card)")
    if not isinstance(given, str) or not _PSEUDONYM.fullmatch(given.lower()):
        raise FeedValueError("pseudonym", "expected 64 hexadecimal digits")
    return given.lower()


def _card(number: Any) -> str:
    """A card number: 8 to 19 digits, spaces ignored (a JSON number would lose zeros)."""
    low, high = CARD_DIGITS
    digits = "".join(number.split()) if isinstance(number, str) else ""
    if not (digits.isascii() and digits.isdigit() and low <= len(digits) <= high):
        raise FeedValueError("card", f"expected {low} to {high} digits, as text")
    return digits


def _text(name: str, value: Any, longest: int) -> str:
    """A required, non-blank, printable text of at most `longest` characters."""
    if value is None:
        raise FeedValueError(name, "required and missing")
    if not isinstance(value, str) or not value.strip():
        raise FeedValueError(name, "expected text")
    if len(value) > longest:
        raise FeedValueError(name, f"longer than {longest} characters")
    if not value.isprintable():
        raise FeedValueError(name, "contains control characters")
    return value.strip()


def _points(line: Mapping[str, Any]) -> int:
    points = line.get("points")
    if points is None:
        raise FeedValueError("points", "required and missing")
    # JSON's true is Python's 1: refused, a flag is not a balance.
    if isinstance(points, bool) or not isinstance(points, int) or not 0 <= points <= MAX_POINTS:
        raise FeedValueError("points", f"expected a whole number from 0 to {MAX_POINTS}")
    return points


def _flag(line: Mapping[str, Any], name: str, *, default: bool) -> bool:
    value = line.get(name, default)
    if not isinstance(value, bool):
        raise FeedValueError(name, "expected true or false")
    return value


def _offers(line: Mapping[str, Any]) -> tuple[LoyaltyOffer, ...]:
    offers = line.get("offers", [])
    if not isinstance(offers, list):
        raise FeedValueError("offers", "expected a list of offers")
    if len(offers) > MAX_OFFERS:
        raise FeedValueError("offers", f"more than {MAX_OFFERS} offers")
    return tuple(_offer(offer, f"offers[{index}]") for index, offer in enumerate(offers))


def _offer(offer: Any, where: str) -> LoyaltyOffer:
    if not isinstance(offer, dict):
        raise FeedValueError(where, "expected an object with gtin and title")
    gtin = offer.get("gtin")
    if not isinstance(gtin, str):
        raise FeedValueError(f"{where}.gtin", "expected a GTIN, as text")
    return LoyaltyOffer(gtin=fields.gtin(f"{where}.gtin", gtin), title=_title(offer, where))


def _title(offer: Mapping[str, Any], where: str) -> dict[str, str]:
    """Texts by language code, French required: {"fr": "...", "en": "..."}."""
    title = offer.get("title")
    if not isinstance(title, dict):
        raise FeedValueError(f"{where}.title", "expected texts by language, as {fr, en}")
    if FALLBACK_LANGUAGE not in title:
        raise FeedValueError(f"{where}.title", "needs a French text (fr)")
    texts: dict[str, str] = {}
    for language in sorted(title):
        if not _LANGUAGE.fullmatch(language):
            raise FeedValueError(f"{where}.title", "a key is not a language code (fr, en...)")
        texts[language] = _text(f"{where}.title.{language}", title[language], MAX_TITLE_LENGTH)
    return texts
