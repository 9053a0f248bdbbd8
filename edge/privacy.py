"""Which codes are a shopper's own: numbers that must never leave the kiosk as digits.

A code held to the camera or typed by a wedge scanner is not always a product: it can
be the shopper's loyalty card (a plastic card or a phone wallet pass), a coupon, or a
store's in-house number that encodes a price or a customer. GS1 sets ranges aside for
these; the retailer's loyalty numbers are its own ranges, from the configuration.
"""

from __future__ import annotations

from dataclasses import dataclass

from devices.readings import BarcodeScan

# GS1 prefixes of GTIN-13s that name no trade item worldwide (GS1 General Specifications,
# "GS1 Prefixes"): 02 and 20-29 restricted circulation within a company or a region
# (variable-measure and in-store numbers), 04 in-company use, 05 coupons, 98-99 coupons,
# refund receipts and other documents.
RESTRICTED_GTIN13_PREFIXES = ("02", "04", "05", *(f"2{digit}" for digit in range(10)), "98", "99")
# A GTIN-13 starting 00000 is a GTIN-8 written long; GTIN-8s starting 0 or 2 are
# restricted-circulation numbers (velocity codes and in-store numbers).
_GTIN8_PAD = "00000"
RESTRICTED_GTIN8_PREFIXES = ("0", "2")


def restricted_circulation(gtin14: str) -> bool:
    """Whether a GTIN-14 is a restricted-circulation, in-company or coupon number."""
    gtin13 = gtin14[1:]
    if gtin14.startswith("0") and gtin13.startswith(_GTIN8_PAD):
        return gtin13[len(_GTIN8_PAD) :].startswith(RESTRICTED_GTIN8_PREFIXES)
    return gtin14.startswith("0") and gtin13.startswith(RESTRICTED_GTIN13_PREFIXES)


@dataclass(frozen=True, slots=True)
class CodePolicy:
    """Tells a product's code from a shopper's own number, for every scanner alike."""

    loyalty_prefixes: tuple[str, ...] = ()  # the retailer's card number ranges

    def loyalty_number(self, scan: BarcodeScan) -> str | None:
        """The card number, when the code shown is one of the retailer's loyalty cards."""
        digits = "".join(scan.text.split())
        if not self.loyalty_prefixes or not digits.isdigit():
            return None
        return digits if digits.startswith(self.loyalty_prefixes) else None

    def product_gtin(self, scan: BarcodeScan) -> str | None:
        """The GTIN the kiosk may look up and report: None for anyone's own number."""
        if scan.gtin is None or restricted_circulation(scan.gtin):
            return None
        return scan.gtin
