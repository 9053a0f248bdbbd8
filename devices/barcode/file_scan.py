"""Barcodes in image and video files (`borne scan`), through the kiosk's own decoders.

A still image gets the thorough pass (rotated and inverted codes, zbar's second
opinion); a video is read frame by frame like the camera, one scan per showing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2

from devices.barcode.debounce import ScanDebouncer
from devices.barcode.decoder import BarcodeDecoder, DecodedCode, as_frame
from devices.barcode.meaning import CodeMeaning, interpret
from devices.errors import DeviceError, InputError


@dataclass(frozen=True, slots=True)
class FileCode:
    """A code found in a file, with its meaning or the reason it was refused."""

    path: str
    code: DecodedCode
    meaning: CodeMeaning | None
    refused: str | None = None


def _understood(path: Path, code: DecodedCode) -> FileCode:
    try:
        return FileCode(str(path), code, interpret(code.symbology, code.text, gs1=code.gs1))
    except InputError as error:
        return FileCode(str(path), code, None, error.reason)


def scan_file(path: Path) -> Iterator[FileCode]:
    """The codes in an image (each once) or a video (each time it comes into view)."""
    if not path.is_file():
        raise DeviceError("file", f"{path} is not a readable file")
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is not None:
        for code in BarcodeDecoder(thorough=True).decode(as_frame(image)):
            yield _understood(path, code)
        return
    video = cv2.VideoCapture(str(path))
    if not video.isOpened():
        raise DeviceError("file", f"{path} is neither an image nor a video OpenCV can read")
    decoder = BarcodeDecoder()
    debouncer = ScanDebouncer()
    fps = video.get(cv2.CAP_PROP_FPS) or 30.0
    index = 0
    try:
        while True:
            ok, frame = video.read()
            if not ok:
                return
            for code in debouncer.feed(decoder.decode(as_frame(frame)), index / fps):
                yield _understood(path, code)
            index += 1
    finally:
        video.release()
