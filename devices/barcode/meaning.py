"""What a decoded code means to a shop: a product, a GS1 code, a link, or just text."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from devices.barcode.gs1 import (
    GTIN_LENGTHS,
    MAX_CODE_TEXT,
    GS1Elements,
    normalize_gtin,
    parse_digital_link,
    parse_element_string,
    upce_to_gtin12,
)
from devices.barcode.symbology import RETAIL_LINEAR, Symbology
from devices.errors import InputError


class CodeKind(StrEnum):
    """How a code was understood."""

    GTIN = "gtin"  # EAN/UPC: the product itself
    GS1 = "gs1"  # a GS1-128 / GS1 DataMatrix / GS1 QR element string
    DIGITAL_LINK = "digital_link"  # a GS1 Digital Link URI
    URL = "url"  # any other link
    TEXT = "text"  # anything else, kept as it is


@dataclass(frozen=True, slots=True)
class CodeMeaning:
    """A code's kind, its GTIN-14 when it names a product, and its GS1 data if any."""

    kind: CodeKind
    gtin: str | None = None
    gs1: GS1Elements | None = None


def interpret(symbology: Symbology, text: str, *, gs1: bool = False) -> CodeMeaning:
    """Understand a code. Retail codes and GS1 data must be valid: else InputError.

    `gs1` says the symbol itself was flagged GS1 (FNC1 first, ]C1/]d2/]Q3). Text that
    is neither GS1 nor a link comes back as TEXT, however odd: it is never parsed
    further, logged or sent anywhere.
    """
    if len(text) > MAX_CODE_TEXT:
        raise InputError("barcode text", "longer than any real code")
    if symbology is Symbology.UPCE and len(text) == 8:
        # The 8 digits are a zero-suppressed UPC-A: the product is its GTIN-12.
        return CodeMeaning(CodeKind.GTIN, normalize_gtin(upce_to_gtin12(text)))
    if symbology in RETAIL_LINEAR:
        return CodeMeaning(CodeKind.GTIN, normalize_gtin(text))
    if symbology is Symbology.KEYBOARD and text.isdigit() and len(text) in GTIN_LENGTHS:
        # A wedge scanner types an EAN/UPC as its digits, once its own decoder checked
        # them: digits that fail the check digit came from another symbol (a Code 128
        # loyalty card, a ticket), so they are text, not a misread product.
        try:
            return CodeMeaning(CodeKind.GTIN, normalize_gtin(text))
        except InputError:
            return CodeMeaning(CodeKind.TEXT)
    if gs1 or text.startswith(("]C1", "]d2", "]Q3", "]e0")):
        elements = parse_element_string(text)
        return CodeMeaning(CodeKind.GS1, elements.gtin, elements)
    lowered = text[:8].lower()
    if lowered.startswith(("http://", "https://")):
        try:
            elements = parse_digital_link(text)
        except InputError:
            return CodeMeaning(CodeKind.URL)
        return CodeMeaning(CodeKind.DIGITAL_LINK, elements.gtin, elements)
    return CodeMeaning(CodeKind.TEXT)
