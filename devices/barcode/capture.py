"""Where camera frames come from: a backend interface and the OpenCV one."""

from __future__ import annotations

from typing import Protocol

import cv2

from devices.barcode.decoder import Frame, as_frame
from devices.errors import DeviceError


class FrameSource(Protocol):
    """A camera seen from the scanner: open it, read frames, close it."""

    name: str

    def open(self) -> None:
        """Acquire the camera; raise DeviceError if it is not there."""

    def read(self) -> Frame | None:
        """The next frame, or None when there is none to give yet (not an error)."""

    def close(self) -> None:
        """Release the camera; safe to call twice."""


class OpenCVCapture:
    """Any `cv2.VideoCapture` source: a device index, a file, a URL or a GStreamer pipeline."""

    def __init__(self, source: int | str, *, width: int = 1280, height: int = 720) -> None:
        self.source = source
        self.name = f"opencv:{source}"
        self._size = (width, height)
        self._capture: cv2.VideoCapture | None = None

    def open(self) -> None:
        capture = cv2.VideoCapture(self.source)
        if not capture.isOpened():
            capture.release()
            raise DeviceError(self.name, "camera could not be opened")
        capture.set(cv2.CAP_PROP_FRAME_WIDTH, self._size[0])
        capture.set(cv2.CAP_PROP_FRAME_HEIGHT, self._size[1])
        self._capture = capture

    def read(self) -> Frame:
        if self._capture is None:
            raise DeviceError(self.name, "camera is not open")
        ok, frame = self._capture.read()
        if not ok or frame is None:
            raise DeviceError(self.name, "camera stopped delivering frames")
        return as_frame(frame)

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None
