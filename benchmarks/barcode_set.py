"""Borne's own harder barcode set: seeded 1280x720 kiosk-camera frames with known codes.

Nothing here is tuned on the shared sample folders. Every frame is drawn from a seed:
a code (EAN-13, EAN-8, UPC-A, UPC-E, QR with plain links and GS1 Digital Link URIs,
GS1 DataMatrix) rendered by zxing-cpp, put on a label, placed in a cluttered counter
scene, then spoilt the way kiosk cameras spoil them: small and large rotations, motion
and defocus blur, glare, small codes, low contrast, perspective, and a phone screen
with scanlines and moiré. Frames with nothing in view are part of the set: any read
there is a misread. Drawing the set takes a few seconds: nothing is cached or committed.
"""

from __future__ import annotations

import contextlib
import math
import statistics
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np
import zxingcpp

from devices.barcode.decoder import Frame, as_frame
from devices.barcode.gs1 import gtin_check_digit, upce_to_gtin12
from devices.barcode.symbology import ZXING_FORMATS, Symbology
from devices.errors import InputError

WIDTH, HEIGHT = 1280, 720
SEED = 20261130

CONDITIONS = (
    "plain",
    "small angle",
    "quarter or half turn",
    "motion blur",
    "defocus",
    "glare",
    "small code",
    "low contrast",
    "perspective",
    "phone screen",
    "mixed",
)
SYMBOLOGIES = (
    Symbology.EAN13,
    Symbology.EAN8,
    Symbology.UPCA,
    Symbology.UPCE,
    Symbology.QR,
    Symbology.DATAMATRIX,
)
VARIANTS = 3  # frames per (condition, symbology)
IDLE_FRAMES = 10


@dataclass(frozen=True, slots=True)
class Sample:
    """One frame of the set and the code it shows (`text` None: nothing in view).

    `text` is what the symbol encodes, as Borne reports it: EAN/UPC digits (a UPC-E
    as its 8 digits), a QR code's text, a GS1 DataMatrix in "(01)..." form.
    """

    name: str
    condition: str
    symbology: Symbology | None
    text: str | None
    gs1: bool
    frame: Frame


# --- the codes ------------------------------------------------------------------------


def _digits(rng: np.random.Generator, count: int) -> str:
    return "".join(str(d) for d in rng.integers(0, 10, count))


def _with_check(body: str) -> str:
    return body + str(gtin_check_digit(body))


def _upce(rng: np.random.Generator) -> str:
    """A UPC-E (number system 0) whose check digit is its GTIN-12's, as the standard says."""
    while True:  # some digit patterns are not compressible: draw again
        middle = _digits(rng, 6)
        last = middle[5]
        if not (
            (last == "3" and middle[2] in "012")
            or (last == "4" and middle[3] == "0")
            or (last in "56789" and middle[4] == "0")
        ):
            break
    # The expansion rule (GS1 General Specifications 5.2.2.4.2), keyed by the last digit.
    if last in "012":
        upca_body = "0" + middle[:2] + last + "0000" + middle[2:5]
    elif last == "3":
        upca_body = "0" + middle[:3] + "00000" + middle[3:5]
    elif last == "4":
        upca_body = "0" + middle[:4] + "00000" + middle[4]
    else:
        upca_body = "0" + middle[:5] + "0000" + last
    return "0" + middle + str(gtin_check_digit(upca_body))


def code_for(symbology: Symbology, rng: np.random.Generator) -> tuple[str, bool]:
    """A random valid code of `symbology`: (text as Borne reports it, drawn as GS1)."""
    gtin13 = _with_check("37" + _digits(rng, 10))
    if symbology is Symbology.EAN13:
        return gtin13, False
    if symbology is Symbology.EAN8:
        return _with_check(_digits(rng, 7)), False
    if symbology is Symbology.UPCA:
        return _with_check(str(rng.integers(0, 10)) + _digits(rng, 10)), False
    if symbology is Symbology.UPCE:
        return _upce(rng), False
    if symbology is Symbology.QR:
        if rng.random() < 0.5:
            lot, month = _digits(rng, 4), int(rng.integers(1, 13))
            return f"https://id.gs1.org/01/0{gtin13}/10/L{lot}?17=28{month:02d}15", False
        return f"https://boutique.example.fr/p/{_digits(rng, 6)}?ref=borne", False
    month, lot = int(rng.integers(1, 13)), _digits(rng, 5)
    if rng.random() < 0.5:  # a fresh-food label: expiry date and time, AI (7003)
        return f"(01)0{gtin13}(7003)28{month:02d}151830(10)L{lot}", True
    return f"(01)0{gtin13}(17)28{month:02d}15(10)L{lot}", True


def render_symbol(text: str, symbology: Symbology, gs1: bool, scale: int) -> Frame:
    """The symbol drawn by zxing-cpp, black on white, with its quiet zones."""
    drawn = text
    if symbology is Symbology.UPCA:
        drawn = text[:11]  # zxing-cpp adds the check digit itself
    barcode = zxingcpp.create_barcode(
        drawn, ZXING_FORMATS[symbology], **({"gs1": True} if gs1 else {})
    )
    return as_frame(np.asarray(zxingcpp.write_barcode_to_image(barcode, scale=scale)))


# --- the scene ------------------------------------------------------------------------


def _counter(rng: np.random.Generator) -> Frame:
    """A counter top with wood-like bands, clutter and printed text that is no code."""
    base = float(rng.uniform(110, 170))
    ys = np.arange(HEIGHT, dtype=np.float32)[:, None]
    xs = np.arange(WIDTH, dtype=np.float32)[None, :]
    bands = 10 * np.sin(xs / rng.uniform(20, 60) + ys / rng.uniform(200, 400))
    scene = base + bands + rng.normal(0, 6, (HEIGHT, WIDTH))
    frame = as_frame(np.clip(scene, 0, 255))
    for _ in range(int(rng.integers(2, 5))):  # boxes, leaflets, a card reader...
        x, y = int(rng.integers(0, WIDTH - 200)), int(rng.integers(0, HEIGHT - 150))
        w, h = int(rng.integers(60, 260)), int(rng.integers(40, 200))
        shade = int(rng.integers(20, 240))
        cv2.rectangle(frame, (x, y), (x + w, y + h), shade, -1)
    for _ in range(2):
        x, y = int(rng.integers(0, WIDTH - 300)), int(rng.integers(30, HEIGHT))
        cv2.putText(frame, "PROMO -20% 12,90 EUR", (x, y), 0, rng.uniform(0.6, 1.2), 30, 2)
    return frame


def _label(symbol: Frame, margin: int) -> Frame:
    return as_frame(cv2.copyMakeBorder(symbol, *(margin,) * 4, cv2.BORDER_CONSTANT, value=255))


def _place(
    scene: Frame,
    label: Frame,
    rng: np.random.Generator,
    *,
    size: float,
    angle: float,
    tilt: float = 0.0,
) -> tuple[int, int]:
    """Warp `label` into `scene` (`size` times its pixels, turned `angle` degrees, `tilt`
    in perspective) somewhere it fits; returns where its centre landed."""
    h, w = label.shape[:2]
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    centred = (corners - np.array([w / 2, h / 2], dtype=np.float32)) * size
    if tilt:  # one side further from the camera: it shrinks
        far = 1 - tilt
        centred[[1, 2], 1] *= far
        centred[[1, 2], 0] *= (1 + far) / 2
    theta = math.radians(angle)
    rotation = np.array(
        [[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]], dtype=np.float32
    )
    turned = centred @ rotation.T
    span = turned.max(axis=0) - turned.min(axis=0)
    room_x = max(0.0, (WIDTH - span[0]) / 2 - 10)
    room_y = max(0.0, (HEIGHT - span[1]) / 2 - 10)
    centre = (WIDTH / 2 + rng.uniform(-room_x, room_x), HEIGHT / 2 + rng.uniform(-room_y, room_y))
    target = (turned + np.array(centre, dtype=np.float32)).astype(np.float32)
    matrix = cv2.getPerspectiveTransform(corners, target)
    warped = cv2.warpPerspective(label, matrix, (WIDTH, HEIGHT), flags=cv2.INTER_AREA)
    mask = cv2.warpPerspective(np.full_like(label, 255), matrix, (WIDTH, HEIGHT))
    np.copyto(scene, warped, where=mask > 127)
    return int(centre[0]), int(centre[1])


def _motion_blur(frame: Frame, rng: np.random.Generator) -> Frame:
    length = int(rng.integers(5, 10))
    line = np.zeros((length, length), np.float32)
    line[length // 2, :] = 1.0
    turn = cv2.getRotationMatrix2D((length / 2 - 0.5, length / 2 - 0.5), rng.uniform(0, 180), 1)
    kernel = np.asarray(cv2.warpAffine(line, turn, (length, length)), dtype=np.float32)
    return as_frame(cv2.filter2D(frame, -1, kernel / kernel.sum()))


def _defocus(frame: Frame, rng: np.random.Generator) -> Frame:
    radius = int(rng.integers(2, 4))
    kernel = np.zeros((2 * radius + 1, 2 * radius + 1), np.float32)
    cv2.circle(kernel, (radius, radius), radius, 1.0, -1)
    return as_frame(cv2.filter2D(frame, -1, kernel / kernel.sum()))


def _glare(frame: Frame, rng: np.random.Generator, near: tuple[int, int]) -> Frame:
    """A specular highlight from the shop lights, over part of the code."""
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    cx, cy = near[0] + rng.uniform(-60, 60), near[1] + rng.uniform(-40, 40)
    sx, sy = rng.uniform(25, 60), rng.uniform(40, 120)
    spot = np.exp(-(((xs - cx) / sx) ** 2 + ((ys - cy) / sy) ** 2))
    return as_frame(np.clip(frame + spot * rng.uniform(150, 230), 0, 255))


def _low_contrast(label: Frame, rng: np.random.Generator) -> Frame:
    dark, light = rng.uniform(80, 110), rng.uniform(150, 175)
    return as_frame(dark + (label.astype(np.float32) / 255) * (light - dark))


def _phone_screen(label: Frame, rng: np.random.Generator) -> Frame:
    """The code on a bright phone screen: a dark bezel, scanlines and a moiré pattern."""
    screen = label.astype(np.float32) * 0.75 + 60  # backlit: black is never black
    h, w = screen.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    period = rng.uniform(2.5, 4.0)
    screen *= 0.88 + 0.12 * (np.sin(ys * 2 * math.pi / period) > 0)
    screen += 14 * np.sin((xs * 0.9 + ys * 0.35) * 2 * math.pi / rng.uniform(5, 9))
    bezel = int(max(h, w) * 0.08)
    phone = cv2.copyMakeBorder(as_frame(np.clip(screen, 0, 255)), *(bezel,) * 4, 0, value=25)
    return as_frame(phone)


def _noise_and_jpeg(frame: Frame, rng: np.random.Generator) -> Frame:
    noisy = as_frame(np.clip(frame + rng.normal(0, 3, frame.shape), 0, 255))
    ok, encoded = cv2.imencode(".jpg", noisy, [cv2.IMWRITE_JPEG_QUALITY, 80])
    decoded = cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE)
    if not ok or decoded is None:
        raise RuntimeError("OpenCV could not round-trip a frame through JPEG")
    return as_frame(decoded)


def _module_px(symbology: Symbology, rng: np.random.Generator, small: bool) -> float:
    two_d = symbology in (Symbology.QR, Symbology.DATAMATRIX)
    if small:
        return float(rng.uniform(1.6, 2.2) if not two_d else rng.uniform(2.0, 2.8))
    return float(rng.uniform(2.6, 4.5) if not two_d else rng.uniform(4.0, 8.0))


def _draw(sample_rng: np.random.Generator, symbology: Symbology, condition: str) -> Sample:
    rng = sample_rng
    text, gs1 = code_for(symbology, rng)
    mixed = condition == "mixed"
    small = condition == "small code"
    module = _module_px(symbology, rng, small)
    scale = max(1, math.ceil(module))
    label = _label(render_symbol(text, symbology, gs1, scale), 6 * scale)
    if condition == "low contrast" or (mixed and rng.random() < 0.3):
        label = _low_contrast(label, rng)
    if condition == "phone screen":
        label = _phone_screen(label, rng)
    angle = 0.0
    if condition == "small angle" or mixed:
        angle = float(rng.uniform(-25, 25))
    elif condition == "quarter or half turn":
        angle = float(rng.choice([90.0, 180.0, 270.0])) + rng.uniform(-4, 4)
    else:
        angle = float(rng.uniform(-3, 3))  # nobody holds a code quite straight
    tilt = float(rng.uniform(0.15, 0.35)) if condition == "perspective" or mixed else 0.0
    scene = _counter(rng)
    centre = _place(scene, label, rng, size=module / scale, angle=angle, tilt=tilt)
    if condition == "motion blur" or (mixed and rng.random() < 0.5):
        scene = _motion_blur(scene, rng)
    if condition == "defocus" or (mixed and rng.random() < 0.5):
        scene = _defocus(scene, rng)
    if condition == "glare" or (mixed and rng.random() < 0.3):
        scene = _glare(scene, rng, centre)
    name = f"{condition.replace(' ', '-')}/{symbology}"
    return Sample(name, condition, symbology, text, gs1, _noise_and_jpeg(scene, rng))


def _idle(rng: np.random.Generator, index: int) -> Sample:
    """The counter with nothing shown; some with a striped leaflet that is not a code."""
    scene = _counter(rng)
    if index % 2:
        x, y = int(rng.integers(100, 900)), int(rng.integers(100, 500))
        for stripe in range(int(rng.integers(15, 40))):
            width = int(rng.integers(1, 6))
            cv2.rectangle(scene, (x + stripe * 7, y), (x + stripe * 7 + width, y + 120), 20, -1)
    return Sample(f"idle/{index}", "idle", None, None, False, _noise_and_jpeg(scene, rng))


def samples(
    seed: int = SEED,
    variants: int = VARIANTS,
    *,
    conditions: Collection[str] = CONDITIONS,
    symbologies: Collection[Symbology] = SYMBOLOGIES,
    idle: bool = True,
) -> Iterator[Sample]:
    """The set, always the same for one seed: codes under every condition, then idle frames.

    `conditions`, `symbologies` and `idle` pick part of it: the frames drawn are the
    same as in the whole set.
    """
    seeds = np.random.SeedSequence(seed)
    for condition in CONDITIONS:
        for symbology in SYMBOLOGIES:
            for _ in range(variants):
                (child,) = seeds.spawn(1)  # spawned even when skipped: the set stays the same
                if condition in conditions and symbology in symbologies:
                    yield _draw(np.random.default_rng(child), symbology, condition)
    for index in range(IDLE_FRAMES):
        (child,) = seeds.spawn(1)
        if idle:
            yield _idle(np.random.default_rng(child), index)


# --- scoring --------------------------------------------------------------------------

Read = tuple[Symbology | None, str]  # what an engine reported: its symbology (if Borne's) and text
Engine = Callable[[Frame], list[Read]]


def comparable(symbology: Symbology | None, text: str) -> str:
    """One spelling per code, whoever read it: a retail code as its GTIN-14, else its text.

    Engines spell the same EAN/UPC differently (a UPC-A as 12 or 13 digits, a UPC-E as
    its 8 digits or its expansion), and QR texts may end lines with CR LF.
    """
    if text.isascii() and text.isdigit() and len(text) in (8, 12, 13, 14):
        if symbology is Symbology.UPCE and len(text) == 8:
            with contextlib.suppress(InputError):
                return upce_to_gtin12(text).zfill(14)
        return text.zfill(14)
    return text.replace("\r\n", "\n")


@dataclass
class Score:
    """How one engine did on the set."""

    read: int = 0
    misread: int = 0
    missed: list[str] = field(default_factory=list)
    milliseconds: list[float] = field(default_factory=list)
    idle_milliseconds: list[float] = field(default_factory=list)  # frames with no code

    @property
    def median_ms(self) -> float:
        """The median decoding time of one frame."""
        return statistics.median(self.milliseconds) if self.milliseconds else 0.0

    @property
    def idle_ms(self) -> float:
        """The median decoding time of a frame with nothing in view."""
        return statistics.median(self.idle_milliseconds) if self.idle_milliseconds else 0.0


def judge(sample: Sample, reads: list[Read]) -> tuple[bool, bool]:
    """(read, misread) for one frame: any text other than the shown code is a misread."""
    expected = None if sample.text is None else comparable(sample.symbology, sample.text)
    found = {comparable(symbology, text) for symbology, text in reads}
    return expected in found, bool(found - {expected})


def score_side_by_side(
    engines: dict[str, Engine], frames: list[Sample]
) -> dict[str, tuple[Score, list[list[Read]]]]:
    """Run every engine on each frame in turn; their scores and readings, frame by frame.

    The engines take turns frame by frame, so a machine busy with something else for
    a while slows them all alike and the times stay comparable.
    """
    results: dict[str, tuple[Score, list[list[Read]]]] = {name: (Score(), []) for name in engines}
    for sample in frames:
        for name, engine in engines.items():
            result, every = results[name]
            started = time.perf_counter()
            reads = engine(sample.frame)
            elapsed = (time.perf_counter() - started) * 1000
            result.milliseconds.append(elapsed)
            if sample.text is None:
                result.idle_milliseconds.append(elapsed)
            every.append(reads)
            read, misread = judge(sample, reads)
            result.read += read
            result.misread += misread
            if sample.text is not None and not read:
                result.missed.append(sample.name)
    return results


def score(engine: Engine, frames: list[Sample]) -> tuple[Score, list[list[Read]]]:
    """Run `engine` on every frame; returns its score and what it read, frame by frame."""
    return score_side_by_side({"engine": engine}, frames)["engine"]


def union(frames: list[Sample], *outputs: list[list[Read]]) -> Score:
    """What the engines read together: a frame counts if any of them read its code."""
    result = Score()
    for index, sample in enumerate(frames):
        reads = [read for output in outputs for read in output[index]]
        read, misread = judge(sample, reads)
        result.read += read
        result.misread += misread
        if sample.text is not None and not read:
            result.missed.append(sample.name)
    return result
