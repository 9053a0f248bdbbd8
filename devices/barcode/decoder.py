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

from devices.barcode.gs1 import upce_from_gtin
from devices.barcode.locate import Box, Stripes, stripe_regions
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


@dataclass(frozen=True, slots=True)
class _Read:
    """One engine's reading of one place, with who read it (first pass, zbar, second pass)."""

    box: Box
    code: DecodedCode
    source: str


_UPRIGHT_READ = "zxing-cpp"


def _by_place(reads: list[_Read]) -> list[list[_Read]]:
    """Readings grouped by the place they were read (overlapping boxes)."""
    places: list[list[_Read]] = []
    for read in reads:
        place = next((p for p in places if any(_near(read.box, o.box) for o in p)), None)
        if place is None:
            places.append([read])
        else:
            place.append(read)
    return places


def _doubted(place: list[_Read], failed: list[Box]) -> bool:
    """Readings disagree here, or zxing-cpp both read and failed to read this place."""
    if len({read.code.text for read in place}) > 1:
        return True
    first_pass_only = all(read.source == _UPRIGHT_READ for read in place)
    return first_pass_only and any(_near(read.box, box) for read in place for box in failed)


def _agreed(reads: list[_Read], failed: list[Box]) -> list[DecodedCode]:
    """What the readings of retail codes say, place by place, when they can be trusted.

    Where readings agree, the code is kept, unless zxing-cpp's upright pass alone read
    it and also failed there (it is unsure: its reading confirms nothing). Where they
    disagree, neither engine wins blindly: the text read by more sources (upright pass,
    zbar, second passes) than any other, and by two at least, wins; otherwise the place
    is left unread, since a misread is worse than no read.
    """
    kept = []
    for place in _by_place(reads):
        unsure = any(_near(read.box, box) for read in place for box in failed)
        support: dict[str, set[str]] = {}
        for read in place:
            sources = support.setdefault(read.code.text, set())
            if not (unsure and read.source == _UPRIGHT_READ):
                sources.add(read.source)
        ranked = sorted(support.items(), key=lambda item: len(item[1]), reverse=True)
        text, sources = ranked[0]
        if len(ranked) == 1:
            trusted = bool(sources) or not unsure
        else:
            trusted = len(sources) >= 2 and len(sources) > len(ranked[1][1])
        if trusted:
            kept.append(next(read.code for read in place if read.code.text == text))
    return kept


def _across(box: Box) -> Stripes:
    """Where a linear code was (not) read: its box is long across the bars, often a scanline."""
    return Stripes(box, upright=box[2] - box[0] >= box[3] - box[1])


def _union(a: Box, b: Box) -> Box:
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


def _shifted(box: Box, left: float, top: float, scale: float) -> Box:
    return (
        box[0] / scale + left,
        box[1] / scale + top,
        box[2] / scale + left,
        box[3] / scale + top,
    )


class BarcodeDecoder:
    """Decodes BGR or grey frames into the codes they show.

    The camera's path (`thorough=False`) is one upright zxing-cpp pass per frame plus
    a cheap look for stripes (devices.barcode.locate). Only where that pass failed on
    a retail code, or stripes are seen that it did not read (a code turned a quarter,
    blurred, small), a second attempt crops the place and asks zbar and zxing-cpp
    (all orientations) again: an idle frame costs the one pass and the look. The
    thorough path, for still images, also looks for rotated and inverted codes in the
    whole frame and always asks zbar. Either way, retail readings must agree place by
    place (see `_agreed`): a misread is worse than no read.
    """

    _PLACES = 3  # second attempts per frame, at most
    _SMALL = 160  # a place smaller than this (px) is enlarged twice for the second attempt
    _BAND = 32  # rows (or columns) of a place that zbar reads across the bars...
    _BANDS = (0.25, 0.5, 0.75)  # ...at these heights of the place

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
        others: dict[str, _Read] = {}  # QR, DataMatrix, Code 128: their own ECC
        reads: list[_Read] = []  # retail codes: checked against each other
        failed: list[Box] = []  # retail codes zxing-cpp saw but could not read
        rotate = self.thorough
        self._zxing(grey, (0.0, 0.0, 1.0), rotate, "zxing-cpp", others, reads, failed)
        if self._zbar_fallback:
            if self.thorough:
                reads += self._zbar(grey, (0.0, 0.0, 1.0))
            for place in self._places(grey, [*reads, *others.values()], failed):
                self._second_attempt(grey, place, others, reads)
        codes = [read.code for read in others.values()]
        for code in _agreed(reads, failed):
            if code.text not in others:
                codes.append(code)
        return list({code.text: code for code in codes}.values())

    def _places(self, grey: Frame, reads: list[_Read], failed: list[Box]) -> list[Stripes]:
        """Where a second attempt may find what the first pass missed or doubted."""
        read_boxes = [read.box for read in reads]  # stripes there are codes already read
        places = [_across(box) for box in failed]
        for group in _by_place(reads):
            if _doubted(group, failed):  # a second opinion may settle it
                places.append(_across(group[0].box))
        places += [
            place
            for place in stripe_regions(grey)
            if not any(_near(place.box, box) for box in read_boxes)
        ]
        # Overlapping places become one: a 2D code shows stripes both ways, in pieces.
        merged: list[Stripes] = []
        for place in places:
            index = next((i for i, m in enumerate(merged) if _near(place.box, m.box)), None)
            if index is None:
                merged.append(place)
            else:
                merged[index] = Stripes(_union(merged[index].box, place.box), merged[index].upright)
        return merged[: self._PLACES]

    def _second_attempt(
        self, grey: Frame, stripes: Stripes, others: dict[str, _Read], reads: list[_Read]
    ) -> None:
        place = stripes.box
        height, width = grey.shape[:2]
        margin = max(place[2] - place[0], place[3] - place[1]) * 0.3 + 16
        x0, y0 = max(0, int(place[0] - margin)), max(0, int(place[1] - margin))
        x1, y1 = min(width, int(place[2] + margin)), min(height, int(place[3] + margin))
        crop = grey[y0:y1, x0:x1]
        scale = 2.0 if min(crop.shape[:2]) < self._SMALL else 1.0
        if scale != 1.0:
            crop = as_frame(
                cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
            )
        left, top = float(x0), float(y0)
        where = (left, top, scale)
        self._zxing(crop, where, True, "zxing-cpp second pass", others, reads, [])
        # zbar reads every row and column of what it is given: a few bands across the
        # bars are all it needs, at a fraction of the cost. Several, because a tilted or
        # bent label is often readable along one line only.
        low, high = (place[1], place[3]) if stripes.upright else (place[0], place[2])
        origin = top if stripes.upright else left
        for fraction in self._BANDS:
            at = int((low + fraction * (high - low) - origin) * scale)
            start = max(0, at - self._BAND // 2)
            if stripes.upright:
                band = crop[start : start + self._BAND]
                band_at = (left, top + start / scale, scale)
            else:
                band = crop[:, start : start + self._BAND]
                band_at = (left + start / scale, top, scale)
            if band.size:
                reads += self._zbar(band, band_at, "zbar second pass")

    def _zxing(
        self,
        grey: Frame,
        where: tuple[float, float, float],
        rotate: bool,
        source: str,
        others: dict[str, _Read],
        reads: list[_Read],
        failed: list[Box],
    ) -> None:
        for result in zxingcpp.read_barcodes(
            grey,
            formats=self._zxing_formats,
            try_rotate=rotate,
            try_invert=self.thorough,
            return_errors=True,
        ):
            symbology = FROM_ZXING.get(result.format)
            if symbology is None:
                continue
            box = _shifted(_box(result), *where)
            if not result.valid:
                if symbology in RETAIL_LINEAR:
                    failed.append(box)
                continue
            gs1 = (
                result.content_type == zxingcpp.ContentType.GS1
                or result.symbology_identifier in _GS1_SYMBOLOGY_IDS
            )
            code = self._as_printed(DecodedCode(symbology, result.text, "zxing-cpp", gs1))
            if symbology in RETAIL_LINEAR:
                reads.append(_Read(box, code, source))
            else:
                others.setdefault(code.text, _Read(box, code, source))

    def _zbar(
        self, grey: Frame, where: tuple[float, float, float], source: str = "zbar"
    ) -> list[_Read]:
        found = []
        for result in pyzbar.decode(grey, symbols=self._zbar_symbols):
            symbology = FROM_ZBAR.get(result.type)
            if symbology is None:
                continue
            text = result.data.decode("ascii", errors="replace")
            left, top, width, height = result.rect
            box = _shifted((left, top, left + width, top + height), *where)
            code = self._as_printed(DecodedCode(symbology, text, "zbar"))
            found.append(_Read(box, code, source))
        return found

    def _as_printed(self, code: DecodedCode) -> DecodedCode:
        """One spelling per retail code, whichever engine read it.

        Both engines report a UPC-A as an EAN-13 starting with 0, and zxing-cpp reports
        a UPC-E as the EAN-13 of its expansion where zbar gives its 8 digits: a UPC-A is
        said as its 12 digits, a UPC-E as its 8 (what is printed under the bars).
        """
        if code.symbology is Symbology.UPCE and len(code.text) != 8:
            upce = upce_from_gtin(code.text)
            if upce is not None:
                return DecodedCode(Symbology.UPCE, upce, code.engine)
        if (
            code.symbology is Symbology.EAN13
            and code.text.startswith("0")
            and Symbology.UPCA in self.symbologies
        ):
            return DecodedCode(Symbology.UPCA, code.text[1:], code.engine)
        return code
