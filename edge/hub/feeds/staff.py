"""A line of Borne's staff feed (JSON Lines, docs/feeds.md) -> `StaffRecord`.

One staff member a line: their badge (`badge`, the id a Borne staff badge carries, or
`uid`, a retailer's existing badge known by its NFC UID), display name, role, stores and
salted PIN hash. The hub never sees a clear PIN. The badge is turned into the pseudonym
the kiosks make of it (the card pseudonym of "staff:<badge>" or "uid:<hex>") as the line
is read, and never kept.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from edge.hub.feeds import fields
from edge.hub.feeds.customers import CardPseudonym
from edge.hub.feeds.errors import FeedValueError
from edge.lockdown import is_pin_hash  # what `borne pin-hash` makes, as the kiosk checks it
from edge.staff.wire import STAFF_PREFIX, TOPIC_LEVEL

ROLES = ("associate", "manager")  # as edge.staff.view names them (a test keeps them equal)
MAX_NAME_LENGTH = 60  # a display name ("Léa D."), shown on a shared screen
MAX_STORES = 500
_BADGE = re.compile(r"[A-Za-z0-9_-]{4,32}")  # as the badge's NDEF record allows
_UID = re.compile(r"(?:[0-9a-fA-F]{2}){4,10}")  # 4, 7 or 10 bytes in practice


@dataclass(frozen=True, slots=True)
class StaffRecord:
    """One staff member, known by their badge's pseudonym; name and hash out of the repr."""

    pseudonym: str  # 64 lowercase hex digits, as the kiosks make it of the badge
    name: str = field(repr=False)
    role: str  # one of edge.staff.view.ROLES
    stores: tuple[str, ...]  # empty: every store of the retailer
    pin_hash: str = field(repr=False)

    def works_in(self, store_id: str) -> bool:
        """Whether the member may log in at this store's kiosks."""
        return not self.stores or store_id in self.stores


def names_staff(line: Any) -> bool:
    """Whether a parsed line is a staff feed's: it names a badge (or a badge's UID)."""
    return isinstance(line, dict) and ("badge" in line or "uid" in line)


def staff_from_line(line: Any, card_pseudonym: CardPseudonym | None) -> StaffRecord:
    """The staff member a parsed line describes; raises FeedValueError naming the field."""
    if not isinstance(line, dict):
        raise FeedValueError("(line)", "expected a JSON object")
    return StaffRecord(
        pseudonym=_badge_pseudonym(line, card_pseudonym),
        name=fields.text("name", line.get("name"), MAX_NAME_LENGTH),
        role=_role(line.get("role")),
        stores=_stores(line.get("stores", [])),
        pin_hash=_pin_hash(line.get("pin_hash")),
    )


def badge_card_number(line: Mapping[str, Any]) -> str:
    """The text a kiosk's reader makes of the badge: "staff:<id>" or "uid:<hex>"."""
    if "badge" in line:
        if "uid" in line:
            raise FeedValueError("badge", "give either badge or uid, not both")
        badge = line["badge"]
        if not isinstance(badge, str) or not _BADGE.fullmatch(badge):
            raise FeedValueError("badge", "expected 4 to 32 letters, digits, '_' or '-'")
        return f"{STAFF_PREFIX}{badge}"
    uid = line.get("uid")
    if uid is None:
        raise FeedValueError("badge", "required and missing (or give uid)")
    if not isinstance(uid, str) or not _UID.fullmatch(uid):
        raise FeedValueError("uid", "expected the badge's UID: 8 to 20 hexadecimal digits")
    return f"uid:{uid.lower()}"


def _badge_pseudonym(line: Mapping[str, Any], card_pseudonym: CardPseudonym | None) -> str:
    number = badge_card_number(line)
    if card_pseudonym is None:
        field_name = "badge" if "badge" in line else "uid"
        raise FeedValueError(field_name, "no pseudonym key is configured to key badges")
    return card_pseudonym(number)


def _role(value: Any) -> str:
    if value not in ROLES:
        raise FeedValueError("role", f"expected one of: {', '.join(ROLES)}")
    return str(value)


def _stores(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) > MAX_STORES:
        raise FeedValueError("stores", f"expected a list of at most {MAX_STORES} store codes")
    for store in value:
        if not isinstance(store, str) or not TOPIC_LEVEL.fullmatch(store):
            raise FeedValueError("stores", "a store code is 1-64 characters, no '/', '+', '#'")
    return tuple(sorted(set(value)))


def _pin_hash(value: Any) -> str:
    if value is None:
        raise FeedValueError("pin_hash", "required and missing")
    if not isinstance(value, str) or not is_pin_hash(value):
        raise FeedValueError("pin_hash", "expected a hash made by `borne pin-hash`")
    return value
