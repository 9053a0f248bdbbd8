"""Where a frame has stripes: candidate places of linear barcodes, in any orientation.

zxing-cpp's upright pass does not see a code turned a quarter, and gives up on a
blurred one without saying it saw anything. This locator is cheap (a half-size frame,
two Sobel filters, a box blur) and tells the decoder where a second, costlier look
is worth it: a region of strong gradients all along one axis is what bars look like.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

Box = tuple[float, float, float, float]  # left, top, right, bottom in frame pixels


@dataclass(frozen=True, slots=True)
class Stripes:
    """A place that looks like bars, and whether the bars stand upright (read across)."""

    box: Box
    upright: bool


_SCALE = 2  # bars of 1.5 px and more still show at half size
_WINDOW = (15, 15)  # about one EAN digit of a code held at arm's length
_STRIPE_LEVEL = 40  # mean excess of one gradient axis over the other, 0..255
_MIN_SIDE = 24  # half-size pixels: narrower blobs are lines of text, not codes
_MIN_AREA = 500


def _regions(
    excess: npt.NDArray[np.uint8], upright: bool, size: tuple[int, int]
) -> list[tuple[int, Stripes]]:
    density = cv2.blur(excess, _WINDOW)
    _, mask = cv2.threshold(density, _STRIPE_LEVEL, 255, cv2.THRESH_BINARY)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))
    # Outer contours, not connected components: the same blobs for a thirtieth of the time.
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    found = []
    for contour in contours:
        left, top, width, height = cv2.boundingRect(contour)
        area = cv2.contourArea(contour)
        if area >= _MIN_AREA and min(width, height) >= _MIN_SIDE:
            rows, columns = size  # an odd size was rounded when halved: stay inside
            box = (
                float(left * _SCALE),
                float(top * _SCALE),
                float(min(columns, (left + width) * _SCALE)),
                float(min(rows, (top + height) * _SCALE)),
            )
            found.append((int(area), Stripes(box, upright)))
    return found


def stripe_regions(grey: npt.NDArray[np.uint8], limit: int = 3) -> list[Stripes]:
    """The `limit` largest places of `grey` that look like bars, upright or turned."""
    if min(grey.shape[:2]) < _MIN_SIDE * _SCALE:
        return []  # no code that a camera can read fits in so few pixels
    small = cv2.resize(grey, None, fx=1 / _SCALE, fy=1 / _SCALE, interpolation=cv2.INTER_AREA)
    across = cv2.convertScaleAbs(cv2.Sobel(small, cv2.CV_16S, 1, 0, ksize=3))
    down = cv2.convertScaleAbs(cv2.Sobel(small, cv2.CV_16S, 0, 1, ksize=3))
    # Vertical bars change along x only; horizontal bars (a quarter turn) along y only.
    upright = np.asarray(cv2.subtract(across, down), dtype=np.uint8)
    turned = np.asarray(cv2.subtract(down, across), dtype=np.uint8)
    size = (grey.shape[0], grey.shape[1])
    found = _regions(upright, True, size) + _regions(turned, False, size)
    found.sort(key=lambda item: item[0], reverse=True)
    return [stripes for _, stripes in found[:limit]]
