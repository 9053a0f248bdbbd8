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


_GS1_SYMBOLOGY_IDS = ("]C1", "]d2", "]Q3", "]e0")

Box = tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class DecodedCode:
    """A code found in one frame, before any interpretation."""

    symbology: Symbology
    text: str
    engine: str
    gs1: bool = False  # the symbol says it carries a GS1 element string

    def __repr__(self) -> str:  # the text may be a shopper's order code
        return f"DecodedCode(symbology={self.symbology!r}, engine={self.engine!r})"


def _box(result: zxingcpp.Barcode) -> Box:
    corners = result.position
    points = (corners.top_left, corners.top_right, corners.bottom_right, corners.bottom_left)
    xs = [p.x for p in points]
    ys = [p.y for p in points]
    return min(xs), min(ys), max(xs), max(ys)


def _near(a: Box, b: Box) -> bool:
    """Whether two detections could be the same symbol.

    A linear code's box is often only the scanline that read it, so boxes are grown
    by a quarter of the symbol's length before they are compared.
    """
    margin = max(a[2] - a[0], a[3] - a[1], b[2] - b[0], b[3] - b[1]) / 4
    return (
        a[0] - margin <= b[2]
        and b[0] - margin <= a[2]
        and a[1] - margin <= b[3]
        and b[1] - margin <= a[3]
    )


def _doubtful(linear: list[tuple[Box, DecodedCode]], failed: list[Box]) -> set[str]:
    """Retail reads that another read, or a failed read, of the same place contradicts."""
    texts: set[str] = set()
    for index, (box, code) in enumerate(linear):
        if any(_near(box, other) for other in failed):
            texts.add(code.text)
        for other_box, other in linear[index + 1 :]:
            if other.text != code.text and _near(box, other_box):
                texts |= {code.text, other.text}
    return texts


class BarcodeDecoder:
    """Decodes BGR or grey frames into the codes they show.

    The camera's path (`thorough=False`) is one cheap zxing-cpp pass per frame; zbar
    is asked only when zxing-cpp saw a retail code it could not read. The thorough
    path, for still images, also looks for rotated and inverted codes and always asks
    zbar. Either way, when zxing-cpp reads two different retail codes in the same
    place, only what zbar confirms is kept: a misread is worse than no read.
    """

    def __init__(
        self,
        symbologies: Iterable[Symbology] = ALL,
        *,
        thorough: bool = False,
        zbar_fallback: bool = True,
    ):
        self.symbologies = frozenset(symbologies)
        self.thorough = thorough
        self._zxing_formats = zxingcpp.BarcodeFormats(
            [ZXING_FORMATS[s] for s in sorted(self.symbologies)]
        )
        self._zbar_symbols = [_ZBAR_SYMBOLS[s] for s in sorted(self.symbologies & RETAIL_LINEAR)]
        self._zbar_fallback = zbar_fallback and bool(self._zbar_symbols)

    def decode(self, frame: Frame) -> list[DecodedCode]:
        """Every code readable in `frame`, each text once."""
        grey = frame if frame.ndim == 2 else as_frame(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
        found: dict[str, DecodedCode] = {}
        linear: list[tuple[Box, DecodedCode]] = []
        failed: list[Box] = []  # retail codes zxing-cpp saw but could not read
        for result in zxingcpp.read_barcodes(
            grey,
            formats=self._zxing_formats,
            try_rotate=self.thorough,
            try_invert=self.thorough,
            return_errors=True,
        ):
            symbology = FROM_ZXING.get(result.format)
            if symbology is None:
                continue
            if not result.valid:
                if symbology in RETAIL_LINEAR:
                    failed.append(_box(result))
                continue
            gs1 = (
                result.content_type == zxingcpp.ContentType.GS1
                or result.symbology_identifier in _GS1_SYMBOLOGY_IDS
            )
            code = self._as_upca(DecodedCode(symbology, result.text, "zxing-cpp", gs1))
            found.setdefault(code.text, code)
            if symbology in RETAIL_LINEAR:
                linear.append((_box(result), code))
        doubtful = _doubtful(linear, failed)
        if not self._zbar_fallback:
            return [code for text, code in found.items() if text not in doubtful]
        if not (doubtful or failed or self.thorough):
            return list(found.values())
        # A second opinion: zbar confirms doubtful reads and adds what zxing-cpp missed,
        # unless it contradicts a read of zxing-cpp's that nothing put in doubt.
        trusted = [(box, code) for box, code in linear if code.text not in doubtful]
        second = self._zbar(grey)
        confirmed = {code.text for _, code in second}
        for text in doubtful - confirmed:
            del found[text]
        for box, code in second:
            contradicted = any(
                other.text != code.text and _near(box, other_box) for other_box, other in trusted
            )
            if not contradicted:
                found.setdefault(code.text, code)
        return list(found.values())

    def _zbar(self, grey: Frame) -> list[tuple[Box, DecodedCode]]:
        codes = []
        for result in pyzbar.decode(grey, symbols=self._zbar_symbols):
            symbology = FROM_ZBAR.get(result.type)
            if symbology is None:
                continue
            text = result.data.decode("ascii", errors="replace")
            left, top, width, height = result.rect
            box = (float(left), float(top), float(left + width), float(top + height))
            codes.append((box, self._as_upca(DecodedCode(symbology, text, "zbar"))))
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
