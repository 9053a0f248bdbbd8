"""Barcode decoding of camera frames with zxing-cpp first and zbar as a second opinion.

zxing-cpp is about ten times faster than zbar and reads QR text and DataMatrix that
zbar cannot, so it looks at every frame. zbar reads some blurry EAN-13 photos that
zxing-cpp gives up on; it only runs when zxing-cpp saw a linear code it could not
decode, so frames with nothing in view stay cheap.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt
import zxingcpp
from pyzbar import pyzbar

from devices.barcode.symbology import (
    ALL,
    FROM_ZBAR,
    FROM_ZXING,
    RETAIL_LINEAR,
    ZXING_FORMATS,
    Symbology,
)

Frame = npt.NDArray[np.uint8]


def as_frame(array: npt.ArrayLike) -> Frame:
    """An OpenCV result typed as a frame (no copy when it is already 8-bit)."""
    return np.asarray(array, dtype=np.uint8)


_ZBAR_SYMBOLS = {
    Symbology.EAN13: pyzbar.ZBarSymbol.EAN13,
    Symbology.EAN8: pyzbar.ZBarSymbol.EAN8,
    Symbology.UPCA: pyzbar.ZBarSymbol.UPCA,
    Symbology.UPCE: pyzbar.ZBarSymbol.UPCE,
}


@dataclass(frozen=True, slots=True)
class DecodedCode:
    """A code found in one frame, before any interpretation."""

    symbology: Symbology
    text: str
    engine: str

    def __repr__(self) -> str:  # the text may be a shopper's order code
        return f"DecodedCode(symbology={self.symbology!r}, engine={self.engine!r})"


class BarcodeDecoder:
    """Decodes BGR or grey frames into the codes they show."""

    def __init__(self, symbologies: Iterable[Symbology] = ALL, *, zbar_fallback: bool = True):
        self.symbologies = frozenset(symbologies)
        self._zxing_formats = zxingcpp.BarcodeFormats(
            [ZXING_FORMATS[s] for s in sorted(self.symbologies)]
        )
        self._zbar_symbols = [_ZBAR_SYMBOLS[s] for s in sorted(self.symbologies & RETAIL_LINEAR)]
        self._zbar_fallback = zbar_fallback and bool(self._zbar_symbols)

    def decode(self, frame: Frame) -> list[DecodedCode]:
        """Every code readable in `frame`, each text once."""
        grey = frame if frame.ndim == 2 else as_frame(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
        found: dict[str, DecodedCode] = {}
        undecoded_linear = False
        for result in zxingcpp.read_barcodes(
            grey,
            formats=self._zxing_formats,
            try_rotate=False,
            try_invert=False,
            return_errors=True,
        ):
            symbology = FROM_ZXING.get(result.format)
            if symbology is None:
                continue
            if result.valid:
                code = self._as_upca(DecodedCode(symbology, result.text, "zxing-cpp"))
                found.setdefault(code.text, code)
            elif symbology in RETAIL_LINEAR:
                undecoded_linear = True
        if self._zbar_fallback and undecoded_linear:
            for code in self._zbar(grey):
                found.setdefault(code.text, code)
        return list(found.values())

    def _zbar(self, grey: Frame) -> list[DecodedCode]:
        codes = []
        for result in pyzbar.decode(grey, symbols=self._zbar_symbols):
            symbology = FROM_ZBAR.get(result.type)
            if symbology is None:
                continue
            text = result.data.decode("ascii", errors="replace")
            codes.append(self._as_upca(DecodedCode(symbology, text, "zbar")))
        return codes

    def _as_upca(self, code: DecodedCode) -> DecodedCode:
        """Both engines report a UPC-A as an EAN-13 starting with 0: say what it is."""
        if (
            code.symbology is Symbology.EAN13
            and code.text.startswith("0")
            and Symbology.UPCA in self.symbologies
        ):
            return DecodedCode(Symbology.UPCA, code.text[1:], code.engine)
        return code
