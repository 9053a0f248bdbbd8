"""Borne's names for barcode symbologies and how each decoder spells them."""

from __future__ import annotations

from enum import StrEnum

import zxingcpp


class Symbology(StrEnum):
    """The symbologies a Borne kiosk reads (GS1 retail: linear and 2D)."""

    EAN13 = "ean13"
    EAN8 = "ean8"
    UPCA = "upca"
    UPCE = "upce"
    CODE128 = "code128"
    QR = "qrcode"
    DATAMATRIX = "datamatrix"
    KEYBOARD = "keyboard"  # typed by a wedge scanner, which does not say what it read


RETAIL_LINEAR = frozenset({Symbology.EAN13, Symbology.EAN8, Symbology.UPCA, Symbology.UPCE})
# What cameras read (a wedge scanner's typing is not a symbology a decoder looks for).
ALL = frozenset(Symbology) - {Symbology.KEYBOARD}

ZXING_FORMATS: dict[Symbology, zxingcpp.BarcodeFormat] = {
    Symbology.EAN13: zxingcpp.BarcodeFormat.EAN13,
    Symbology.EAN8: zxingcpp.BarcodeFormat.EAN8,
    Symbology.UPCA: zxingcpp.BarcodeFormat.UPCA,
    Symbology.UPCE: zxingcpp.BarcodeFormat.UPCE,
    Symbology.CODE128: zxingcpp.BarcodeFormat.Code128,
    Symbology.QR: zxingcpp.BarcodeFormat.QRCode,
    Symbology.DATAMATRIX: zxingcpp.BarcodeFormat.DataMatrix,
}
FROM_ZXING = {fmt: sym for sym, fmt in ZXING_FORMATS.items()}

# zbar's type names; zbar has no DataMatrix.
FROM_ZBAR = {
    "EAN13": Symbology.EAN13,
    "EAN8": Symbology.EAN8,
    "UPCA": Symbology.UPCA,
    "UPCE": Symbology.UPCE,
    "CODE128": Symbology.CODE128,
    "QRCODE": Symbology.QR,
}
