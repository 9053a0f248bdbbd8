"""The card formats Borne reads, as pure functions over NDEF records.

1. A Borne loyalty card: an NFC Forum external-type record `borne.io:loyalty`
   whose payload is the card number in ASCII digits (8 to 19).
2. A retailer's existing card: a single well-known Text record holding the
   card number in digits (8 to 19).
3. A UID-only card (MIFARE Classic and the like, no NDEF): the number is
   `uid:` followed by the tag's UID in hex; the platform maps it to a customer (or,
   for a retailer's existing staff badges, to a staff member).
4. A Borne staff badge: an external-type record `borne.io:staff` whose payload is the
   badge id in ASCII (4 to 32 of `A-Z a-z 0-9 _ -`); the number is `staff:` + the id.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import ndef

from devices.errors import InputError

LOYALTY_RECORD_TYPE = "urn:nfc:ext:borne.io:loyalty"
STAFF_RECORD_TYPE = "urn:nfc:ext:borne.io:staff"
STAFF_PREFIX = "staff:"  # the card number of a Borne staff badge starts so
_MIN_DIGITS, _MAX_DIGITS = 8, 19
_BADGE_ID = re.compile(r"[A-Za-z0-9_-]{4,32}")


def _card_digits(text: str) -> str:
    digits = "".join(text.split())
    if not (digits.isascii() and digits.isdigit() and _MIN_DIGITS <= len(digits) <= _MAX_DIGITS):
        raise InputError("loyalty card", f"card number must be {_MIN_DIGITS}-{_MAX_DIGITS} digits")
    return digits


def _badge_id(payload: bytes) -> str:
    try:
        text = payload.decode("ascii")
    except UnicodeDecodeError:
        raise InputError("staff badge", "badge id is not ASCII") from None
    if not _BADGE_ID.fullmatch(text):
        raise InputError("staff badge", "badge id must be 4-32 of A-Z a-z 0-9 _ -")
    return text


def parse_ndef(octets: bytes) -> list[ndef.Record]:
    """Decode an NDEF message strictly; anything malformed is an InputError."""
    if not octets:
        return []
    try:
        return list(ndef.message_decoder(octets, errors="strict"))
    except ndef.DecodeError as error:
        raise InputError("NDEF message", str(error)) from None
    except (ValueError, TypeError, IndexError, UnicodeError) as error:
        # ndeflib's record decoders raise plain errors on some truncated payloads.
        raise InputError("NDEF message", type(error).__name__) from None


def card_number_from_records(records: Sequence[ndef.Record], uid: bytes) -> str:
    """The card number a tag carries, by the formats above, in order of preference."""
    for record in records:
        if record.type == STAFF_RECORD_TYPE:
            return STAFF_PREFIX + _badge_id(bytes(record.data))
        if record.type == LOYALTY_RECORD_TYPE:
            try:
                text = bytes(record.data).decode("ascii")
            except UnicodeDecodeError:
                raise InputError("loyalty card", "card number is not ASCII") from None
            return _card_digits(text)
    texts = [record for record in records if isinstance(record, ndef.TextRecord)]
    if len(texts) == 1:
        return _card_digits(texts[0].text)
    if records:
        raise InputError("loyalty card", "no loyalty record among the tag's NDEF records")
    if not uid:
        raise InputError("loyalty card", "tag has neither NDEF records nor a UID")
    return "uid:" + uid.hex()


def loyalty_records(card_number: str) -> list[ndef.Record]:
    """The NDEF message of a Borne loyalty card (used to issue and simulate cards)."""
    return [ndef.Record(LOYALTY_RECORD_TYPE, "", _card_digits(card_number).encode("ascii"))]


def staff_badge_records(badge_id: str) -> list[ndef.Record]:
    """The NDEF message of a Borne staff badge (used to issue and simulate badges)."""
    return [ndef.Record(STAFF_RECORD_TYPE, "", _badge_id(badge_id.encode("ascii")))]
