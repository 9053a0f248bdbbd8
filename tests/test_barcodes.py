"""Camera barcodes: the real decoders on real photos, and the scanner on simulated frames.

The photos are zxing's black-box test images (Apache-2.0), read from
tests/data/barcodes/zxing (see tests/data/README.md).
"""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from devices.barcode.debounce import ScanDebouncer
from devices.barcode.decoder import BarcodeDecoder, DecodedCode, as_frame
from devices.barcode.scanner import CameraScanner, scan_from_code
from devices.barcode.simulated_camera import SimulatedCamera
from devices.barcode.symbology import Symbology
from devices.errors import InputError
from devices.readings import BarcodeScan
from devices.status import DeviceState, DeviceStatus
from tests.conftest import BORNE, TESTDATA

ZXING = TESTDATA / "barcodes" / "zxing"

# What Borne reads of zxing's black-box photos (camera path, still path): never less.
# zxing's own suite asks at rotation 0 ean13-1 30, ean13-3 53, upca-1 14, ean8-1 8,
# qrcode-1 17, code128-1 7, datamatrix-1 23 (tests/data/README.md); of datamatrix-1, no
# engine here reads more than 21. The still path reads every image that pyzbar or
# zxing-cpp reads alone.
REQUIRED = {
    "ean13-1": (31, 32),
    "ean13-3": (55, 55),
    "upca-1": (18, 18),
    "ean8-1": (8, 8),
    "qrcode-1": (20, 20),
    "code128-1": (7, 7),
    "datamatrix-1": (21, 21),
}


def _same(found: str, expected: str) -> bool:
    # zxing's expected texts use \n where some QR payloads carry \r\n.
    return found.replace("\r\n", "\n") == expected


@pytest.fixture(scope="module")
def decoder() -> BarcodeDecoder:
    return BarcodeDecoder()


@pytest.mark.parametrize("thorough", [False, True], ids=["camera", "thorough"])
@pytest.mark.parametrize("folder", sorted(REQUIRED))
def test_real_photos_decode_without_misreads(folder: str, thorough: bool) -> None:
    decoder = BarcodeDecoder(thorough=thorough)
    images = sorted((ZXING / folder).glob("*.png"))
    assert images, f"no test images in {ZXING / folder}"
    read = misread = 0
    for image in images:
        expected = image.with_suffix(".txt").read_text(encoding="utf-8")
        pixels = cv2.imread(str(image), cv2.IMREAD_GRAYSCALE)
        assert pixels is not None
        codes = decoder.decode(as_frame(pixels))
        if any(_same(code.text, expected) for code in codes):
            read += 1
        elif codes:
            misread += 1
    assert misread == 0
    assert read >= REQUIRED[folder][thorough]


def test_a_frame_with_nothing_in_view_gives_nothing(decoder: BarcodeDecoder) -> None:
    camera = SimulatedCamera(fps=None)
    camera.show("3760123450010")
    for _ in range(3):
        camera.read()
    frame = camera.read()
    assert frame is not None
    assert decoder.decode(frame) == []


@pytest.mark.parametrize(
    ("text", "symbology"),
    [
        ("3760123450010", Symbology.EAN13),
        ("96385074", Symbology.EAN8),
        ("036000291452", Symbology.UPCA),
        ("01234565", Symbology.UPCE),
        ("https://id.gs1.org/01/03760123450010", Symbology.QR),
        ("BORNE-ORDER-8812", Symbology.DATAMATRIX),
        ("HA112", Symbology.CODE128),
    ],
)
def test_simulated_frames_are_read_by_the_real_decoder(
    decoder: BarcodeDecoder, text: str, symbology: Symbology
) -> None:
    camera = SimulatedCamera(fps=None)
    camera.show(text, symbology)
    frame = camera.read()
    assert frame is not None
    assert frame.shape == (720, 1280, 3)
    assert [(c.symbology, c.text) for c in decoder.decode(frame)] == [(symbology, text)]


def test_a_wrong_check_digit_is_refused_not_looked_up() -> None:
    with pytest.raises(InputError, match="check digit"):
        scan_from_code(DecodedCode(Symbology.EAN13, "3760123450011", "hid"), "hid", 0.0)
    scan = scan_from_code(DecodedCode(Symbology.QR, "hello", "zxing-cpp"), "camera", 0.0)
    assert scan.gtin is None
    assert scan.text == "hello"


def test_a_product_held_in_view_is_one_scan() -> None:
    debouncer = ScanDebouncer(leave_after_frames=3, repeat_after=5.0)
    code = DecodedCode(Symbology.EAN13, "3760123450010", "zxing-cpp")
    reported = []
    for frame in range(30):  # one second at 30 fps, with a decoder missing every 4th frame
        codes = [] if frame % 4 == 3 else [code]
        reported += debouncer.feed(codes, frame / 30)
    assert reported == [code]
    for frame in range(3):  # it leaves the view...
        debouncer.feed([], 1 + frame / 30)
    assert debouncer.feed([code], 1.2) == [code]  # ...and comes back: a new scan
    assert debouncer.feed([code], 6.3) == [code]  # held past repeat_after: again


def test_scanner_reports_one_scan_per_showing_and_its_status() -> None:
    camera = SimulatedCamera(fps=None)
    scans: list[BarcodeScan] = []
    statuses: list[DeviceStatus] = []
    arrived = threading.Event()

    def on_scan(scan: BarcodeScan) -> None:
        scans.append(scan)
        arrived.set()

    scanner = CameraScanner(camera, on_scan, on_status=statuses.append)
    scanner.start()
    try:
        for _ in range(2):
            arrived.clear()
            camera.show("3760123450027", frames=5)
            assert arrived.wait(5)
    finally:
        scanner.stop()
    assert [s.gtin for s in scans] == ["03760123450027", "03760123450027"]
    assert [s.state for s in statuses] == [
        DeviceState.STARTING,
        DeviceState.OK,
        DeviceState.STOPPED,
    ]


class _VanishingCamera:
    """A camera that is missing at first, then delivers, then fails."""

    name = "flaky-camera"

    def __init__(self) -> None:
        self.opens = 0
        self.reads = 0
        self.inner = SimulatedCamera(fps=None)

    def open(self) -> None:
        from devices.errors import DeviceError

        self.opens += 1
        if self.opens == 1:
            raise DeviceError(self.name, "no such device")

    def read(self):  # type: ignore[no-untyped-def]
        from devices.errors import DeviceError

        self.reads += 1
        if self.reads == 3:
            raise DeviceError(self.name, "camera stopped delivering frames")
        return self.inner.read()

    def close(self) -> None:
        pass


def test_a_missing_then_failing_camera_is_reported_and_reopened() -> None:
    from devices.backoff import Backoff

    camera = _VanishingCamera()
    statuses: list[DeviceStatus] = []
    scanner = CameraScanner(
        camera, lambda scan: None, on_status=statuses.append, backoff=Backoff(base=0.01, cap=0.02)
    )
    scanner.start()
    try:
        deadline = threading.Event()
        for _ in range(200):
            if camera.opens >= 3:
                break
            deadline.wait(0.01)
    finally:
        scanner.stop()
    states = [s.state for s in statuses]
    assert DeviceState.MISSING in states
    assert DeviceState.FAILING in states
    assert states[states.index(DeviceState.FAILING) + 1] is DeviceState.OK


def test_a_upc_e_label_gives_the_gtin_of_its_upc_a() -> None:
    camera = SimulatedCamera(fps=None)
    camera.show("01234565", Symbology.UPCE)
    frame = camera.read()
    assert frame is not None
    (code,) = BarcodeDecoder().decode(frame)
    scan = scan_from_code(code, "camera", 0.0)
    assert (scan.symbology, scan.text) == (Symbology.UPCE, "01234565")
    assert scan.gtin == "00012345000065"  # UPC-A 012345000065, not a GTIN-8


def test_a_gs1_datamatrix_label_gives_its_gtin_and_lot() -> None:
    camera = SimulatedCamera(fps=None)
    camera.show("(01)03760123450010(17)271231(10)LOT42", Symbology.DATAMATRIX, gs1=True)
    frame = camera.read()
    assert frame is not None
    (code,) = BarcodeDecoder().decode(frame)
    assert code.gs1
    scan = scan_from_code(code, "camera", 0.0)
    assert scan.kind == "gs1"
    assert scan.gtin == "03760123450010"


def _borne_scan(*paths: Path) -> tuple[list[dict[str, object]], subprocess.CompletedProcess[str]]:
    result = subprocess.run(
        [*BORNE, "scan", *map(str, paths)], capture_output=True, text=True, timeout=120
    )
    return [json.loads(line) for line in result.stdout.splitlines()], result


def test_borne_scan_prints_one_json_line_per_code() -> None:
    lines, result = _borne_scan(
        ZXING / "ean13-1" / "35.png",  # rotated a quarter turn
        ZXING / "datamatrix-1" / "GUID.png",
        ZXING / "ean13-1" / "1.png",
    )
    assert result.returncode == 0, result.stderr
    assert lines[0] == {
        "path": str(ZXING / "ean13-1" / "35.png"),
        "symbology": "ean13",
        "text": "5030159003930",
        "gtin": "05030159003930",
        "kind": "gtin",
    }
    assert lines[1]["symbology"] == "datamatrix"
    assert lines[1]["gtin"] is None
    assert [line["path"] for line in lines].count(str(ZXING / "ean13-1" / "1.png")) == 1


def test_borne_scan_reads_videos_one_line_per_showing(tmp_path: Path) -> None:
    video = tmp_path / "counter.avi"
    camera = SimulatedCamera(fps=None)
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"MJPG"), 30, (1280, 720))
    for code in ("3760123450010", "3760123450027", "3760123450010"):
        camera.show(code, frames=8)
        for _ in range(8 + SimulatedCamera.GAP_FRAMES):
            frame = camera.read()
            assert frame is not None
            writer.write(frame)
    writer.release()

    lines, result = _borne_scan(video)

    assert result.returncode == 0, result.stderr
    assert [line["text"] for line in lines] == ["3760123450010", "3760123450027", "3760123450010"]


def test_borne_scan_names_what_it_cannot_read(tmp_path: Path) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("not an image")
    nothing = tmp_path / "blank.png"
    cv2.imwrite(str(nothing), np.full((200, 300), 255, np.uint8))

    lines, result = _borne_scan(junk, nothing, tmp_path / "missing.png")

    assert lines == []  # a blank image prints nothing
    assert result.returncode == 1
    assert "notes.txt is neither an image nor a video" in result.stderr
    assert "missing.png is not a readable file" in result.stderr
