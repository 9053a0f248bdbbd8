"""Barcode decoding per 1280x720 frame: speed, and accuracy on Borne's own harder set.

Speed: the simulated camera's empty counter (idle), its frames with an EAN-13, a GS1
DataMatrix and a QR code, and zxing's real EAN-13 photos scaled to 720p. The budget in
shared/BENCHMARKS.md: median <= 10 ms and <= 0.1x pyzbar with every symbology, idle
frames cheaper still.

Accuracy: benchmarks/barcode_set.py (seeded kiosk frames, rotated, blurred, glared,
small, low-contrast, on a phone screen, in perspective), read in the same run by
zxing-cpp as Borne's fast path configures it and with its own defaults, zbar, the
union of zxing-cpp and zbar, and Borne's camera and still paths. The goal: Borne's
camera path reads at least the union, with no more misreads than zxing-cpp, at a
median <= 10 ms.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import zxingcpp
from pyzbar import pyzbar

from benchmarks.barcode_set import Engine, Read, Sample, Score, samples, score_side_by_side, union
from devices.barcode.decoder import BarcodeDecoder, Frame, as_frame
from devices.barcode.simulated_camera import SimulatedCamera
from devices.barcode.symbology import FROM_ZBAR, FROM_ZXING, ZXING_FORMATS, Symbology

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


# --- the engines, each reporting (symbology, text) -------------------------------------

_BORNE_ZXING_FORMATS = zxingcpp.BarcodeFormats(list(ZXING_FORMATS.values()))


def zxing_fast_pass(frame: Frame) -> list[Read]:
    """zxing-cpp alone as Borne's camera path calls it on the whole frame (upright,
    one global threshold, full size only): the camera's first pass without what follows."""
    found = zxingcpp.read_barcodes(
        frame,
        formats=_BORNE_ZXING_FORMATS,
        try_rotate=False,
        try_invert=False,
        try_downscale=False,
        binarizer=zxingcpp.Binarizer.GlobalHistogram,
    )
    return [(FROM_ZXING.get(result.format), result.text) for result in found]


def zxing_upright(frame: Frame) -> list[Read]:
    """zxing-cpp alone, upright, with its local threshold: Borne's camera path until now."""
    found = zxingcpp.read_barcodes(
        frame, formats=_BORNE_ZXING_FORMATS, try_rotate=False, try_invert=False
    )
    return [(FROM_ZXING.get(result.format), result.text) for result in found]


def zxing_defaults(frame: Frame) -> list[Read]:
    """zxing-cpp alone with its own defaults (every format, rotations, inversions)."""
    return [(FROM_ZXING.get(r.format), r.text) for r in zxingcpp.read_barcodes(frame)]


def zbar(frame: Frame) -> list[Read]:
    """zbar alone, every symbology it knows."""
    return [
        (FROM_ZBAR.get(r.type), r.data.decode("utf-8", errors="replace"))
        for r in pyzbar.decode(frame)
    ]


def borne(decoder: BarcodeDecoder) -> Engine:
    """One of Borne's decoding paths as an engine."""

    def decode(frame: Frame) -> list[Read]:
        return [(code.symbology, code.text) for code in decoder.decode(frame)]

    return decode


ZXING_FAST = "zxing-cpp, Borne's fast pass"
ZXING_UPRIGHT = "zxing-cpp, upright"
ZXING_DEFAULTS = "zxing-cpp, defaults"
ZBAR = "zbar, defaults"
UNION = "union zxing-cpp+zbar"
CAMERA = "Borne camera path"
STILL = "Borne still path"


def accuracy(frames: list[Sample] | None = None) -> dict[str, Score]:
    """Score every engine on the harder set (or on `frames`), side by side in this run.

    The union is zxing-cpp (defaults) and zbar together: a frame counts as read if
    either reads it, as misread if either misreads it; its time is both, one after
    the other.
    """
    frames = list(samples()) if frames is None else frames
    results = score_side_by_side(
        {
            ZXING_FAST: zxing_fast_pass,
            ZXING_UPRIGHT: zxing_upright,
            ZXING_DEFAULTS: zxing_defaults,
            ZBAR: zbar,
            CAMERA: borne(BarcodeDecoder()),
            STILL: borne(BarcodeDecoder(thorough=True)),
        },
        frames,
    )
    scores = {name: result for name, (result, _) in results.items()}
    together = union(frames, results[ZXING_DEFAULTS][1], results[ZBAR][1])
    together.milliseconds = [
        a + b
        for a, b in zip(scores[ZXING_DEFAULTS].milliseconds, scores[ZBAR].milliseconds, strict=True)
    ]
    together.idle_milliseconds = [
        a + b
        for a, b in zip(
            scores[ZXING_DEFAULTS].idle_milliseconds, scores[ZBAR].idle_milliseconds, strict=True
        )
    ]
    ordered = (ZXING_FAST, ZXING_UPRIGHT, ZXING_DEFAULTS, ZBAR)
    return {
        **{name: scores[name] for name in ordered},
        UNION: together,
        CAMERA: scores[CAMERA],
        STILL: scores[STILL],
    }


def print_accuracy(scores: dict[str, Score], coded: int, idle: int) -> None:
    """The accuracy table."""
    print(f"\nBorne's harder set: {coded} kiosk frames with a code + {idle} with none, 1280x720")
    print(f"{'engine':<30}{'read':>10}{'misreads':>10}{'median ms':>11}{'idle ms':>9}")
    for name, row in scores.items():
        cells = f"{row.read:>6}/{coded:<3}{row.misread:>10}{row.median_ms:>11.1f}"
        print(f"{name:<30}{cells}{row.idle_ms:>9.1f}")


def run(repeats: int = 5) -> dict[str, Any]:
    """Measure and print both tables; returns the figures."""
    borne_camera = BarcodeDecoder()
    decoders: dict[str, Callable[[Frame], Any]] = {
        "pyzbar, all symbologies": pyzbar.decode,
        "zxing-cpp, defaults": zxingcpp.read_barcodes,
        "Borne camera path": borne_camera.decode,
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
    harder = list(samples())
    coded = sum(sample.text is not None for sample in harder)
    scores = accuracy(harder)
    print_accuracy(scores, coded, len(harder) - coded)
    union_row, camera = scores[UNION], scores[CAMERA]
    fewest_zxing_misreads = min(
        scores[n].misread for n in (ZXING_FAST, ZXING_UPRIGHT, ZXING_DEFAULTS)
    )
    goal = (
        camera.read >= union_row.read
        and camera.misread <= fewest_zxing_misreads
        and camera.median_ms <= 10.0
    )
    print(f"camera path >= union, misreads <= zxing-cpp, <= 10 ms: {'yes' if goal else 'NO'}")
    if not goal:
        print("camera path missed:", ", ".join(camera.missed), file=sys.stderr)
    return {
        "median_ms": results,
        "budget_ms": 10.0,
        "budget_ratio_to_pyzbar": 0.1,
        "harder_set": {
            "frames_with_code": coded,
            "frames_idle": len(harder) - coded,
            "engines": {
                name: {
                    "read": s.read,
                    "misread": s.misread,
                    "median_ms": round(s.median_ms, 2),
                    "idle_median_ms": round(s.idle_ms, 2),
                }
                for name, s in scores.items()
            },
            "camera_path_meets_goal": goal,
        },
    }
