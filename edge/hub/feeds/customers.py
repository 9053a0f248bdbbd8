"""A line of Borne's loyalty feed (JSON Lines, docs/feeds.md) -> `Customer`.

There is no standard loyalty feed, so Borne defines one: one JSON object per line,
naming the customer by `pseudonym` (64 hex digits, the HMAC the kiosks make of a card)
or by `card` (the card number, turned into its pseudonym here with the retailer's key
and never kept). Keys the importer does not know are ignored, as other feeds' columns.

Optional profile fields (`last_name`, `tier`, `email`, `phone`, `preferences`, `sizes`,
`wishlist`) are kept only in the hub's store, for the answers to staff requests: they
never go into the customers stream the kiosks receive.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from edge.hub.feeds import fields
from edge.hub.feeds.errors import FeedValueError
from edge.hub.feeds.records import Customer, CustomerProfile, LoyaltyOffer

CardPseudonym = Callable[[str], str]  # a card number -> its pseudonym (edge.pseudonym)

MAX_POINTS = 10**9  # more than any scheme gives: a corrupt figure, not a balance
MAX_OFFERS = 50  # personal offers per customer; a kiosk screen shows a handful
MAX_NAME_LENGTH = 100
MAX_TITLE_LENGTH = 300
MAX_CONTACT_LENGTH = 254  # an e-mail address's longest
MAX_PROFILE_ITEMS = 50  # preferences, sizes, wishlist: a screen shows a handful
PROFILE_FIELDS = ("last_name", "tier", "email", "phone", "preferences", "sizes", "wishlist")
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
        pseudonym=customer_pseudonym(line, card_pseudonym),
        first_name=fields.text("first_name", line.get("first_name"), MAX_NAME_LENGTH),
        points=_points(line),
        personalisation=_flag(line, "personalisation", default=True),
        offers=_offers(line),
        profile=_profile(line),
    )


def customer_pseudonym(line: Mapping[str, Any], card_pseudonym: CardPseudonym | None) -> str:
    """The customer's pseudonym: given, or made from the card number (never kept)."""
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
        texts[language] = fields.text(
            f"{where}.title.{language}", title[language], MAX_TITLE_LENGTH
        )
    return texts


def _profile(line: Mapping[str, Any]) -> CustomerProfile | None:
    """The profile fields a line gives, None when it gives none."""
    if not any(name in line for name in PROFILE_FIELDS):
        return None
    return CustomerProfile(
        last_name=_optional_text(line, "last_name", MAX_NAME_LENGTH),
        tier=_optional_text(line, "tier", MAX_NAME_LENGTH),
        email=_email(line.get("email")),
        phone=_phone(line.get("phone")),
        preferences=_texts(line, "preferences"),
        sizes=_sizes(line.get("sizes", {})),
        wishlist=_wishlist(line.get("wishlist", [])),
    )


def _optional_text(line: Mapping[str, Any], name: str, longest: int) -> str:
    return "" if line.get(name) is None else fields.text(name, line[name], longest)


def _email(value: Any) -> str:
    if value is None:
        return ""
    text = fields.text("email", value, MAX_CONTACT_LENGTH)
    local, at, domain = text.partition("@")
    if not at or not local or "." not in domain or any(char.isspace() for char in text):
        raise FeedValueError("email", "expected an e-mail address")
    return text


def _phone(value: Any) -> str:
    if value is None:
        return ""
    text = fields.text("phone", value, 32)
    digits = [char for char in text if char.isascii() and char.isdigit()]
    if len(digits) < 4 or any(not (char.isdigit() or char in "+ .-()") for char in text):
        raise FeedValueError("phone", "expected a phone number: digits, spaces, + . - ( )")
    return text


def _texts(line: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = line.get(name, [])
    if not isinstance(value, list) or len(value) > MAX_PROFILE_ITEMS:
        raise FeedValueError(name, f"expected a list of at most {MAX_PROFILE_ITEMS} texts")
    return tuple(fields.text(name, item, MAX_NAME_LENGTH) for item in value)


def _sizes(value: Any) -> tuple[tuple[str, str], ...]:
    """{"Chaussures": "39"}: a label and a size, both text."""
    if not isinstance(value, dict) or len(value) > MAX_PROFILE_ITEMS:
        raise FeedValueError("sizes", f"expected at most {MAX_PROFILE_ITEMS} sizes by label")
    return tuple(
        (fields.text("sizes", label, MAX_NAME_LENGTH), fields.text("sizes", size, MAX_NAME_LENGTH))
        for label, size in value.items()
    )


def _wishlist(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) > MAX_PROFILE_ITEMS:
        raise FeedValueError("wishlist", f"expected a list of at most {MAX_PROFILE_ITEMS} GTINs")
    if not all(isinstance(gtin, str) for gtin in value):
        raise FeedValueError("wishlist", "expected GTINs, as text")
    return tuple(fields.gtin("wishlist", gtin) for gtin in value)
