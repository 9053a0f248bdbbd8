"""Where a frame may show a code: candidate places for a second, closer look.

zxing-cpp's fast whole-frame pass does not see a code turned a quarter, and gives up
on a blurred, glared or tilted one without saying it saw anything. This locator is
cheap (a half-size frame, two Sobel filters, box blurs and outer contours) and tells
the decoder where a second look is worth it: a region of strong gradients along one
axis only is what bars look like; along both axes at once, a matrix code's modules.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import cv2
import numpy as np
import numpy.typing as npt

Box = tuple[float, float, float, float]  # left, top, right, bottom in frame pixels


class Shape(Enum):
    """What a candidate place looks like."""

    UPRIGHT_BARS = "upright bars"  # read across, left to right
    TURNED_BARS = "turned bars"  # a quarter turn: read top to bottom
    MATRIX = "matrix"  # QR code, DataMatrix: dense edges both ways


@dataclass(frozen=True, slots=True)
class Candidate:
    """A place of the frame that may hold a code, and what it looks like."""

    box: Box
    shape: Shape


_SCALE = 2  # bars of 1.5 px and more still show at half size
_WINDOW = (15, 15)  # about one EAN digit of a code held at arm's length
# The mean gradient a code shows, 0..255: its bars' excess of one axis over the other,
# or its modules' weaker axis. A matrix code's edges are sparser (modules are wider
# than bars), so it passes lower: a grey-on-grey DataMatrix label still shows.
_LEVEL = {Shape.UPRIGHT_BARS: 40, Shape.TURNED_BARS: 40, Shape.MATRIX: 20}
_MIN_SIDE = 24  # half-size pixels: narrower blobs are lines of text, not codes
_MIN_AREA = 500
_MATRIX_ASPECT = 2.0  # a QR code or DataMatrix, even in perspective, is squarer than this


def _regions(
    strength: npt.NDArray[np.uint8], shape: Shape, size: tuple[int, int]
) -> list[tuple[int, Candidate]]:
    density = cv2.blur(strength, _WINDOW)
    _, mask = cv2.threshold(density, _LEVEL[shape], 255, cv2.THRESH_BINARY)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))
    # Outer contours, not connected components: the same blobs for a thirtieth of the time.
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    found = []
    rows, columns = size  # an odd size was rounded when halved: boxes stay inside
    for contour in contours:
        left, top, width, height = cv2.boundingRect(contour)
        area = cv2.contourArea(contour)
        if area < _MIN_AREA or min(width, height) < _MIN_SIDE:
            continue
        if shape is Shape.MATRIX and max(width, height) > _MATRIX_ASPECT * min(width, height):
            continue  # matrix codes are about square; lines of printed text are not
        box = (
            float(left * _SCALE),
            float(top * _SCALE),
            float(min(columns, (left + width) * _SCALE)),
            float(min(rows, (top + height) * _SCALE)),
        )
        found.append((int(area), Candidate(box, shape)))
    return found


def candidates(grey: npt.NDArray[np.uint8], limit: int = 3) -> list[Candidate]:
    """The `limit` largest places of `grey` that look like a code: bars or a matrix."""
    if min(grey.shape[:2]) < _MIN_SIDE * _SCALE:
        return []  # no code that a camera can read fits in so few pixels
    small = cv2.resize(grey, None, fx=1 / _SCALE, fy=1 / _SCALE, interpolation=cv2.INTER_AREA)
    across = cv2.convertScaleAbs(cv2.Sobel(small, cv2.CV_16S, 1, 0, ksize=3))
    down = cv2.convertScaleAbs(cv2.Sobel(small, cv2.CV_16S, 0, 1, ksize=3))
    size = (grey.shape[0], grey.shape[1])
    # Upright bars change along x only, turned bars along y only, modules along both.
    found = (
        _regions(np.asarray(cv2.subtract(across, down), np.uint8), Shape.UPRIGHT_BARS, size)
        + _regions(np.asarray(cv2.subtract(down, across), np.uint8), Shape.TURNED_BARS, size)
        + _regions(np.asarray(cv2.min(across, down), np.uint8), Shape.MATRIX, size)
    )
    found.sort(key=lambda item: item[0], reverse=True)
    return [candidate for _, candidate in found[:limit]]
