"""Counting a camera's frames on their way to the scanner, and judging their sharpness.

`FrameMeter` wraps any `FrameSource`: the scanner reads through it unchanged, and the
self-test reads how many frames came and the latest one. Counting costs a counter and
a reference per frame, so the kiosk's camera can always be metered.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import cv2

from devices.barcode.capture import FrameSource
from devices.barcode.decoder import Frame


@dataclass(frozen=True, slots=True)
class FrameCount:
    """Frames delivered so far, when the first and the last came, and the last one."""

    frames: int
    first_at: float | None
    last_at: float | None
    latest: Frame | None


class FrameMeter:
    """A `FrameSource` that counts what the source under it delivers."""

    def __init__(self, source: FrameSource, *, clock: Callable[[], float] = time.monotonic):
        self.source = source
        self.name = source.name  # the scanner reports the camera under its own name
        self._clock = clock
        self._lock = threading.Lock()
        self._frames = 0
        self._first_at: float | None = None
        self._last_at: float | None = None
        self._latest: Frame | None = None

    def open(self) -> None:
        """Open the camera under it."""
        self.source.open()

    def read(self) -> Frame | None:
        """The next frame of the camera under it, counted."""
        frame = self.source.read()
        if frame is not None:
            now = self._clock()
            with self._lock:
                self._frames += 1
                self._latest = frame
                self._last_at = now
                if self._first_at is None:
                    self._first_at = now
        return frame

    def close(self) -> None:
        """Close the camera under it."""
        self.source.close()

    def count(self) -> FrameCount:
        """What came so far (from any thread)."""
        with self._lock:
            return FrameCount(self._frames, self._first_at, self._last_at, self._latest)


def frames_per_second(before: FrameCount, after: FrameCount) -> float:
    """The rate between two counts, from the frames' own arrival times (0: none came)."""
    if after.last_at is None or after.frames < 2:
        return 0.0
    start_frames, start_at = before.frames, before.last_at
    if start_at is None:  # counted from the first frame ever
        start_frames, start_at = 1, after.first_at
    assert start_at is not None
    span = after.last_at - start_at
    if span <= 0 or after.frames <= start_frames:
        return 0.0
    return (after.frames - start_frames) / span


def sharpness(frame: Frame) -> float:
    """The variance of the Laplacian of the frame in grey: low means blurred.

    Edges make a sharp picture's second derivative swing; a blurred one has none.
    Around 100 and above, a 720p picture of a shelf reads barcodes; far below, the
    lens is out of focus, dirty, or fogged.
    """
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())
