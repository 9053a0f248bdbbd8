"""GS1 identification keys read from retail barcodes. Pure functions, no I/O."""

from __future__ import annotations

from devices.errors import InputError

GTIN_LENGTHS = (8, 12, 13, 14)


def gtin_check_digit(body: str) -> int:
    """The GS1 mod-10 check digit for the digits of `body` (the GTIN without it)."""
    total = 0
    # Weights alternate 3, 1, ... starting from the rightmost digit of the body.
    for position, char in enumerate(reversed(body)):
        total += int(char) * (3 if position % 2 == 0 else 1)
    return (10 - total % 10) % 10


def normalize_gtin(text: str) -> str:
    """Validate a GTIN-8/12/13/14 and return it as GTIN-14 (zero-padded).

    Raises InputError for anything that is not digits of a GTIN length, or whose
    check digit is wrong: such a code is rejected, never looked up.
    """
    if not text.isascii() or not text.isdigit() or len(text) not in GTIN_LENGTHS:
        raise InputError("GTIN", "expected 8, 12, 13 or 14 digits")
    if gtin_check_digit(text[:-1]) != int(text[-1]):
        raise InputError("GTIN", "wrong check digit")
    return text.zfill(14)


def display_gtin(gtin14: str) -> str:
    """The shortest usual form of a GTIN-14: EAN-13 for retail goods, else as is."""
    return gtin14[1:] if gtin14.startswith("0") else gtin14
