"""Barcode decoding per 1280x720 frame: Borne's camera path vs pyzbar and zxing-cpp alone.

Frames: the simulated camera's empty counter (idle), its frames with an EAN-13, a
GS1 DataMatrix and a QR code, and zxing's real EAN-13 photos scaled to 720p. The
budget in shared/BENCHMARKS.md: median <= 10 ms and <= 0.1x pyzbar with every
symbology, idle frames cheaper still.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import zxingcpp
from pyzbar import pyzbar

from devices.barcode.decoder import BarcodeDecoder, Frame, as_frame
from devices.barcode.simulated_camera import SimulatedCamera
from devices.barcode.symbology import Symbology

PHOTOS = Path(__file__).resolve().parents[1] / "tests" / "data" / "barcodes" / "zxing"


def frames() -> dict[str, list[Frame]]:
    """Grey 720p frames by kind."""
    camera = SimulatedCamera(fps=None)

    def grey(frame: Frame | None) -> Frame:
        assert frame is not None
        return as_frame(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))

    shown = []
    for text, symbology, gs1 in (
        ("3760123450010", Symbology.EAN13, False),
        ("(01)03760123450010(10)LOT42", Symbology.DATAMATRIX, True),
        ("https://id.gs1.org/01/03760123450010", Symbology.QR, False),
    ):
        camera.show(text, symbology, frames=1, gs1=gs1)
        shown.append(grey(camera.read()))
        idle = grey(camera.read())  # the frames after a showing are the empty counter
        for _ in range(SimulatedCamera.GAP_FRAMES - 1):
            camera.read()
    photos = []
    for path in sorted((PHOTOS / "ean13-1").glob("*.png"))[:12]:
        photo = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        assert photo is not None, path
        photos.append(as_frame(cv2.resize(photo, (1280, 720))))
    return {"idle": [idle], "simulated codes": shown, "photos at 720p": photos}


def _median_ms(decode: Callable[[Frame], Any], images: list[Frame], repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        for image in images:
            started = time.perf_counter()
            decode(image)
            samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def run(repeats: int = 5) -> dict[str, Any]:
    """Measure and print a table; returns the figures."""
    borne = BarcodeDecoder()
    decoders: dict[str, Callable[[Frame], Any]] = {
        "pyzbar, all symbologies": pyzbar.decode,
        "zxing-cpp, defaults": zxingcpp.read_barcodes,
        "Borne camera path": borne.decode,
    }
    results: dict[str, dict[str, float]] = {}
    for kind, images in frames().items():
        results[kind] = {
            name: _median_ms(decode, images, repeats) for name, decode in decoders.items()
        }
    print("\nDecode time per 1280x720 grey frame, median ms (ratio to pyzbar)")
    print(f"{'frames':<18}" + "".join(f"{name:>28}" for name in decoders))
    for kind, row in results.items():
        base = row["pyzbar, all symbologies"]
        cells = "".join(f"{ms:>19.1f} ({ms / base:4.2f}x)" for ms in row.values())
        print(f"{kind:<18}{cells}")
    return {"median_ms": results, "budget_ms": 10.0, "budget_ratio_to_pyzbar": 0.1}
