"""A simulated camera: a product's barcode drawn into 1280x720 frames.

It plugs in where `cv2.VideoCapture` would, so everything above it (the real
decoders, the de-duplication, the session) runs exactly as with a real camera.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

import cv2
import numpy as np
import zxingcpp

from devices.barcode.decoder import Frame, as_frame
from devices.barcode.symbology import ZXING_FORMATS, Symbology
from devices.errors import InputError

WIDTH, HEIGHT = 1280, 720


class SimulatedCamera:
    """Frames as a camera in front of a counter would deliver them.

    `show()` puts a code in view for a number of frames, followed by a few empty
    frames so that the scanner sees it leave. With `fps` set, `read()` is paced
    like a real camera and returns empty frames while nothing is shown; with
    `fps=None` it returns frames as fast as they are read and waits while idle.
    """

    # Empty frames after each code: enough for the scanner to see it leave.
    GAP_FRAMES = 6

    def __init__(
        self,
        *,
        fps: float | None = 15.0,
        seed: int = 7,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = "simulated-camera"
        self._fps = fps
        self._clock = clock
        self._next_frame_at = 0.0
        self._queue: deque[Frame | None] = deque()
        self._ready = threading.Condition()
        self._opened = False
        rng = np.random.default_rng(seed)
        # A counter top: mid grey with a fixed sensor-noise texture.
        grey = np.clip(rng.normal(150, 12, (HEIGHT, WIDTH)), 0, 255).astype(np.uint8)
        self._background = as_frame(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR))
        self._rendered: dict[tuple[str, Symbology, bool], Frame] = {}

    def show(
        self,
        text: str,
        symbology: Symbology = Symbology.EAN13,
        *,
        frames: int = 3,
        gs1: bool = False,
    ) -> None:
        """Hold a code in front of the camera for `frames` frames.

        With `gs1`, `text` is a GS1 element string in "(01)..." form, drawn as a GS1
        symbol (FNC1 first), as on a GS1 DataMatrix or GS1 QR label.
        """
        frame = self._frame_with(text, symbology, gs1)
        with self._ready:
            self._queue.extend([frame] * frames)
            self._queue.extend([None] * self.GAP_FRAMES)
            self._ready.notify_all()

    def open(self) -> None:
        self._opened = True

    def close(self) -> None:
        self._opened = False
        with self._ready:
            self._ready.notify_all()

    def read(self) -> Frame | None:
        if self._fps is None:
            with self._ready:
                if not self._ready.wait_for(lambda: bool(self._queue), 0.2):
                    return None
                return self._pop()
        self._pace(self._fps)
        with self._ready:
            return self._pop()

    def _pop(self) -> Frame:
        frame = self._queue.popleft() if self._queue else None
        return self._background if frame is None else frame

    def _pace(self, fps: float) -> None:
        now = self._clock()
        if self._next_frame_at > now:
            time.sleep(self._next_frame_at - now)
        self._next_frame_at = max(now, self._next_frame_at) + 1.0 / fps

    def _frame_with(self, text: str, symbology: Symbology, gs1: bool) -> Frame:
        key = (text, symbology, gs1)
        if key not in self._rendered:
            self._rendered[key] = self._render(text, symbology, gs1)
        return self._rendered[key]

    def _render(self, text: str, symbology: Symbology, gs1: bool) -> Frame:
        options = {"gs1": True} if gs1 else {}
        try:
            barcode = zxingcpp.create_barcode(text, ZXING_FORMATS[symbology], **options)
        except (ValueError, RuntimeError) as error:
            raise InputError("barcode text", f"cannot be drawn as {symbology}: {error}") from None
        two_d = symbology in (Symbology.QR, Symbology.DATAMATRIX)
        symbol = np.asarray(zxingcpp.write_barcode_to_image(barcode, scale=8 if two_d else 4))
        # The label: the symbol on white paper, held a little off-centre and slightly
        # out of focus, as a shopper would hold it.
        label = cv2.copyMakeBorder(symbol, 24, 24, 24, 24, cv2.BORDER_CONSTANT, value=255)
        label = cv2.GaussianBlur(label, (3, 3), 0.8)
        frame: Frame = self._background.copy()
        h, w = label.shape[:2]
        if h > HEIGHT or w > WIDTH:
            raise InputError("barcode text", "too long to fit in a camera frame")
        top, left = (HEIGHT - h) // 2 + 20, (WIDTH - w) // 2 - 40
        top, left = max(0, min(top, HEIGHT - h)), max(0, min(left, WIDTH - w))
        frame[top : top + h, left : left + w] = cv2.cvtColor(label, cv2.COLOR_GRAY2BGR)
        return frame
