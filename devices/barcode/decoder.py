"""Barcode decoding of camera frames with zxing-cpp first and zbar as a second opinion.

zxing-cpp is about ten times faster than zbar and reads QR text and DataMatrix that
zbar cannot, so it looks at every frame, upright only. zbar reads some blurry EAN/UPC
that zxing-cpp gives up on, and codes turned a quarter need another look: both are
asked again only where the frame shows bars that were not read (devices.barcode.locate)
or a reading is in doubt, on a crop of that place, so frames with nothing in view stay
cheap.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt
import zxingcpp
from pyzbar import pyzbar

from devices.barcode.agreement import WHOLE_FRAME, Reading, agreed, by_place, doubted, near
from devices.barcode.gs1 import upce_from_gtin
from devices.barcode.locate import Box, Candidate, Shape, candidates
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


def _across(box: Box) -> Candidate:
    """Where a linear code was (not) read: its box is long across the bars, often a scanline."""
    upright = box[2] - box[0] >= box[3] - box[1]
    return Candidate(box, Shape.UPRIGHT_BARS if upright else Shape.TURNED_BARS)


def _union(a: Box, b: Box) -> Box:
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


# Where a crop came from: its left and top in the frame, and how much it was enlarged.
_Origin = tuple[float, float, float]
_WHOLE: _Origin = (0.0, 0.0, 1.0)


def _shifted(box: Box, left: float, top: float, scale: float) -> Box:
    """A box found in a crop, in the frame's pixels."""
    return (
        box[0] / scale + left,
        box[1] / scale + top,
        box[2] / scale + left,
        box[3] / scale + top,
    )


class BarcodeDecoder:
    """Decodes BGR or grey frames into the codes they show.

    The camera's path (`thorough=False`) is one fast zxing-cpp pass over the whole
    frame (upright, global threshold) plus a cheap look for candidate places
    (devices.barcode.locate). Only where that pass failed on a retail code, its
    readings disagree, or a candidate shows a code it did not read (turned a quarter,
    blurred, glared, small, on a phone), a second look crops the place and asks
    zxing-cpp (local threshold, all orientations) and zbar again: an empty counter
    costs the one pass and the look for candidates. The thorough path, for still
    images, reads the whole frame in every orientation, inverted too, and always asks
    zbar. Either way, retail readings must agree place by place
    (devices.barcode.agreement): a misread is worse than no read.
    """

    _PLACES = 3  # second looks per frame, at most
    _SMALL = 160  # a place smaller than this (px) is enlarged twice for the second look
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
        matrix = self.symbologies & {Symbology.QR, Symbology.DATAMATRIX}
        self._matrix_formats = (
            zxingcpp.BarcodeFormats([ZXING_FORMATS[s] for s in sorted(matrix)]) if matrix else None
        )
        self._zbar_symbols = [_ZBAR_SYMBOLS[s] for s in sorted(self.symbologies & RETAIL_LINEAR)]
        self._zbar_fallback = zbar_fallback and bool(self._zbar_symbols)

    def decode(self, frame: Frame) -> list[DecodedCode]:
        """Every code readable in `frame`, each text once."""
        grey = frame if frame.ndim == 2 else as_frame(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
        others: dict[str, Reading] = {}  # QR, DataMatrix, Code 128: their own ECC
        reads: list[Reading] = []  # retail codes: checked against each other
        failed: list[Box] = []  # retail codes zxing-cpp saw but could not read
        rotate = self.thorough
        self._zxing(grey, _WHOLE, rotate, WHOLE_FRAME, others, reads, failed)
        if self.thorough and self._zbar_fallback:
            reads += self._zbar(grey, _WHOLE)
        for place in self._places(grey, [*reads, *others.values()], failed):
            self._second_look(grey, place, others, reads)
        codes = [read.code for read in others.values()]
        for code in agreed(reads, failed):
            if code.text not in others:
                codes.append(code)
        return list({code.text: code for code in codes}.values())

    def _places(self, grey: Frame, reads: list[Reading], failed: list[Box]) -> list[Candidate]:
        """Where a second look may find what the whole-frame pass missed or doubted."""
        read_boxes = [read.box for read in reads]  # candidates there are codes already read
        places = [_across(box) for box in failed]
        for group in by_place(reads):
            if doubted(group, failed):  # a second opinion may settle it
                places.append(_across(group[0].box))
        places += [
            place
            for place in candidates(grey)
            if not any(near(place.box, box) for box in read_boxes)
        ]
        # Overlapping places become one: a matrix code also shows bars both ways, in pieces.
        merged: list[Candidate] = []
        for place in places:
            index = next((i for i, m in enumerate(merged) if near(place.box, m.box)), None)
            if index is None:
                merged.append(place)
            else:
                merged[index] = Candidate(_union(merged[index].box, place.box), merged[index].shape)
        return merged[: self._PLACES]

    def _second_look(
        self, grey: Frame, candidate: Candidate, others: dict[str, Reading], reads: list[Reading]
    ) -> None:
        before = len(reads) + len(others)
        crop, where = self._crop(grey, candidate.box, 0.3)
        # Upright bars need no turning; turned bars and matrix codes (a DataMatrix a few
        # degrees off a quarter turn) do.
        turn = candidate.shape is not Shape.UPRIGHT_BARS
        self._zxing(crop, where, turn, "zxing-cpp second look", others, reads, [])
        if candidate.shape is not Shape.MATRIX and self._zbar_fallback:
            reads += self._zbar_bands(crop, where, candidate)  # zbar reads retail codes only
        if len(reads) + len(others) == before and self._matrix_formats:
            # The place may be only part of a matrix code (a tilted QR code's edge, a
            # blurred DataMatrix label): once more, wider, for those alone.
            wider, wider_at = self._crop(grey, candidate.box, 0.8)
            self._zxing(
                wider,
                wider_at,
                True,
                "zxing-cpp second look",
                others,
                reads,
                [],
                formats=self._matrix_formats,
            )

    def _zbar_bands(self, crop: Frame, where: _Origin, candidate: Candidate) -> list[Reading]:
        """zbar's readings of a few bands across the bars of `candidate` (cropped at `where`).

        zbar reads every row and column of what it is given: a few bands across the bars
        are all it needs, at a fraction of the cost. Several, because a tilted or bent
        label is often readable along one line only.
        """
        left, top, scale = where
        place = candidate.box
        upright = candidate.shape is Shape.UPRIGHT_BARS
        low, high = (place[1], place[3]) if upright else (place[0], place[2])
        origin = top if upright else left
        found = []
        for fraction in self._BANDS:
            at = int((low + fraction * (high - low) - origin) * scale)
            start = max(0, at - self._BAND // 2)
            if upright:
                band = crop[start : start + self._BAND]
                band_at = (left, top + start / scale, scale)
            else:
                band = crop[:, start : start + self._BAND]
                band_at = (left + start / scale, top, scale)
            if band.size:
                found += self._zbar(band, band_at, "zbar second look")
        return found

    def _crop(self, grey: Frame, place: Box, grow: float) -> tuple[Frame, _Origin]:
        """`place` and `grow` times its size around it; enlarged twice if small."""
        height, width = grey.shape[:2]
        margin = max(place[2] - place[0], place[3] - place[1]) * grow + 16
        x0, y0 = max(0, int(place[0] - margin)), max(0, int(place[1] - margin))
        x1, y1 = min(width, int(place[2] + margin)), min(height, int(place[3] + margin))
        crop = grey[y0:y1, x0:x1]
        scale = 2.0 if min(crop.shape[:2]) < self._SMALL else 1.0
        if scale != 1.0:
            crop = as_frame(
                cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
            )
        return crop, (float(x0), float(y0), scale)

    def _zxing(
        self,
        grey: Frame,
        where: _Origin,
        rotate: bool,
        source: str,
        others: dict[str, Reading],
        reads: list[Reading],
        failed: list[Box],
        formats: zxingcpp.BarcodeFormats | None = None,
    ) -> None:
        # The camera's whole-frame pass uses one global threshold: four times faster
        # than zxing-cpp's local one, and what it misses (glare, uneven light) the
        # second look on a crop, with the local threshold, finds.
        fast = source == WHOLE_FRAME and not self.thorough
        for result in zxingcpp.read_barcodes(
            grey,
            formats=self._zxing_formats if formats is None else formats,
            try_rotate=rotate,
            try_invert=self.thorough,
            try_downscale=not fast,
            binarizer=zxingcpp.Binarizer.GlobalHistogram
            if fast
            else zxingcpp.Binarizer.LocalAverage,
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
                reads.append(Reading(box, code, source))
            else:
                others.setdefault(code.text, Reading(box, code, source))

    def _zbar(self, grey: Frame, where: _Origin, source: str = "zbar") -> list[Reading]:
        found = []
        for result in pyzbar.decode(grey, symbols=self._zbar_symbols):
            symbology = FROM_ZBAR.get(result.type)
            if symbology is None:
                continue
            text = result.data.decode("ascii", errors="replace")
            left, top, width, height = result.rect
            box = _shifted((left, top, left + width, top + height), *where)
            code = self._as_printed(DecodedCode(symbology, text, "zbar"))
            found.append(Reading(box, code, source))
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
