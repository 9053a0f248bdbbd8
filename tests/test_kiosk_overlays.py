"""What lies over the screens, on a portrait totem (1080x1920) under Xvfb: one modal at a
time, centred over a backdrop; toasts that never cover a control and leave; the attract
loop's position dots and its swipe.

The kiosk covers the virtual screen as in a store (no --windowed); the journey adds a
swipe step (tests/overlay_journey.py) and ends with the staff PIN.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from devices.barcode.decoder import BarcodeDecoder, as_frame
from edge.lockdown import hash_pin
from kiosk.kiosk_actions import ASSIST_TOAST_SECONDS
from kiosk.overlays import Modal, ModalStack
from tests.conftest import ROOT, assert_no_card_number
from tests.test_kiosk_ui import _ocr as ocr
from tests.virtual_screen import virtual_screen

pytestmark = pytest.mark.ui

WIDTH, HEIGHT = 1080, 1920  # Xvfb's density is 1: a dp is a pixel
STAFF_PIN = "4242"
GREEN = (92, 209, 133)  # the theme's "good": toasts and the code-read frame
ACCENT = (204, 69, 23)
PANEL = (28, 43, 66)
HANDOFF_URL = "https://www.borne-demo.fr/produit/3760123450010?store=paris-01&fulfilment=collect"
JOURNEY: list[dict[str, Any]] = [
    {"screenshot": "attract"},
    {"swipe": "promotion"},
    {"screenshot": "attract_swiped"},
    {"press": "promotion"},  # a touch still opens the promotion on screen
    {"screenshot": "promoted"},
    {"tap_card": "9250000000017"},
    {"scan": "3760123450010"},
    {"wait": 1.5},  # the code-read toast has left
    {"press": "collect"},
    {"screenshot": "qr"},
    {"press": "assist"},
    {"screenshot": "qr_assist"},
    {"wait": ASSIST_TOAST_SECONDS + 0.5},
    {"screenshot": "qr_after_toast"},
    {"idle": True},
    {"screenshot": "idle_over_qr"},
    {"press": "continue"},
    {"screenshot": "qr_back"},
    {"press": "close"},
    {"press": "accessibility"},
    {"screenshot": "accessibility"},
    {"press": "staff"},
    {"screenshot": "pin"},
    {"press": "pin_cancel"},
    {"screenshot": "after_pin"},
    {"press": "staff"},
    *({"press": f"pin_{digit}"} for digit in STAFF_PIN),
    {"press": "pin_ok"},
    {"wait": 5},  # the kiosk closes before this ends
]
# The controls of each modal: a screenshot shows those of one modal at most.
MODAL_CONTROLS = {
    "idle warning": {"continue"},
    "hand-off": {"close"},
    "accessibility": {"contrast", "large_text", "low_controls", "close_accessibility"},
    "PIN pad": {"pin_ok", "pin_cancel", "pin_0"},
}


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The journey's screenshots folder, played on a portrait totem."""
    base = tmp_path_factory.mktemp("overlays")
    (base / "kiosk.toml").write_text(
        f'[storage]\ndata_dir = "{base / "data"}"\nsynchronous = "normal"\n'
        f'[kiosk]\nexit_pin_hash = "{hash_pin(STAFF_PIN, iterations=10_000)}"\n'
    )
    (base / "journey.json").write_text(json.dumps(JOURNEY))
    with virtual_screen(f"{WIDTH}x{HEIGHT}x24") as display:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "tests.overlay_journey",
                "demo",
                "--config",
                str(base / "kiosk.toml"),
                "--journey",
                str(base / "journey.json"),
                "--screenshots",
                str(base / "shots"),
            ],
            cwd=ROOT,
            env={
                **os.environ,
                "DISPLAY": display,
                "KIVY_HOME": str(base / "kivy"),
                "SDL_AUDIODRIVER": "dummy",
            },
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
    assert result.returncode == 0, result.stderr[-3000:]
    assert_no_card_number(result.stderr)
    return base / "shots"


def buttons(shots: Path, name: str) -> dict[str, dict[str, Any]]:
    """What a touch could reach on screenshot `name`, by button id."""
    found = json.loads((shots / f"{name}.buttons.json").read_text())
    return {button["id"]: button for button in found}


def pixels(shots: Path, name: str) -> NDArray[np.uint8]:
    image = cv2.imread(str(shots / f"{name}.png"))
    assert image is not None
    assert image.shape[:2] == (HEIGHT, WIDTH)
    return np.asarray(image, dtype=np.uint8)


def mask(image: NDArray[np.uint8], rgb: tuple[int, int, int]) -> NDArray[np.bool_]:
    """Where the screenshot is (about) this colour."""
    bgr = np.array(rgb[::-1])
    return np.asarray(np.all(np.abs(image.astype(int) - bgr) < 12, axis=2))


def area(image: NDArray[Any], button: dict[str, Any]) -> NDArray[Any]:
    """The part of the screenshot a button covers (its position is from the bottom left)."""
    (x, y), (width, height) = button["pos_dp"], button["size_dp"]
    return image[HEIGHT - y - height : HEIGHT - y, x : x + width]


def qr_codes(image: NDArray[np.uint8]) -> list[str]:
    return [code.text for code in BarcodeDecoder(thorough=True).decode(as_frame(image))]


def test_an_advisor_called_over_the_qr_code_leaves_close_free_and_the_toast_leaves(
    shots: Path,
) -> None:
    shown = buttons(shots, "qr_assist")
    assert "close" in shown  # "Fermer" still reachable...
    image = pixels(shots, "qr_assist")
    toast = mask(image, GREEN)
    assert toast.sum() > 2000  # the confirmation is on screen
    for button in shown.values():  # ...and no control lies under the toast
        assert not area(toast, button).any(), button["id"]
    later = pixels(shots, "qr_after_toast")
    assert mask(later, GREEN).sum() == 0  # gone after its seconds
    still = buttons(shots, "qr_after_toast")
    assert "close" in still
    assert still["assist"]["text"] == "Conseiller en route"  # the bar still says it


def test_the_idle_warning_opens_centred_over_the_qr_code_and_gives_it_back(
    shots: Path,
) -> None:
    shown = buttons(shots, "idle_over_qr")
    assert "continue" in shown
    assert "close" not in shown  # the QR code waits under the warning
    image = pixels(shots, "idle_over_qr")
    assert qr_codes(image) == []
    # The card: the largest patch of the panel's colour (what lies under is dimmed).
    _, _, stats, _ = cv2.connectedComponentsWithStats(mask(image, PANEL).astype(np.uint8))
    left, top, width, height, size = stats[1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))]
    assert size > 0.05 * WIDTH * HEIGHT
    assert abs(left + width / 2 - WIDTH / 2) <= 4
    assert abs(top + height / 2 - HEIGHT / 2) <= 4
    button = shown["continue"]
    assert abs(button["pos_dp"][0] + button["size_dp"][0] / 2 - WIDTH / 2) <= 2
    # The shopper answered: the QR code is back, as it was.
    assert "close" in buttons(shots, "qr_back")
    assert qr_codes(pixels(shots, "qr_back")) == [HANDOFF_URL]


def test_only_one_modal_is_open_at_a_time(shots: Path) -> None:
    expected = {
        "qr": "hand-off",
        "idle_over_qr": "idle warning",
        "accessibility": "accessibility",
        "pin": "PIN pad",  # it closed the accessibility panel
        "after_pin": None,
    }
    for name, modal in expected.items():
        shown = buttons(shots, name).keys()
        open_modals = [key for key, ids in MODAL_CONTROLS.items() if ids & shown]
        assert open_modals == ([modal] if modal else []), name
        # Language and settings wait under a modal; calling for help never does.
        assert ("language" in shown) == (modal is None), name
        assert "assist" in shown, name


def test_the_attract_loop_shows_its_place_and_moves_on_a_swipe(shots: Path) -> None:
    def current_dot(name: str) -> float:
        promotion = buttons(shots, name)["promotion"]
        image = pixels(shots, name)
        bottom = HEIGHT - promotion["pos_dp"][1]
        band = mask(image, ACCENT)[bottom : bottom + 60]  # the dots sit under the slide
        columns = np.nonzero(band.any(axis=0))[0]
        assert 0 < len(columns) < 40, name  # one filled dot
        return float(columns.mean())

    first, swiped = current_dot("attract"), current_dot("attract_swiped")
    assert 20 < swiped - first < 80  # the next dot along
    # The loop may have moved on by itself before the first picture (a slow start):
    # what matters is that the swipe brought the next promotion, and a touch opens it.
    names = ["Nomade ANC", "Cocotte en fonte", "Plaid laine", "Chaussures de running"]  # in turn
    first_text = _text(shots, "attract", "promotion")
    shown = [index for index, name in enumerate(names) if name in first_text]
    assert shown, first_text
    following = names[shown[0] + 1]
    assert following in _text(shots, "attract_swiped", "promotion")
    assert following in _ocr(shots / "promoted.png")


def _text(shots: Path, name: str, button_id: str) -> str:
    """The words OCR reads inside one button of a screenshot."""
    crop = shots / f"{name}.{button_id}.png"
    cv2.imwrite(str(crop), area(pixels(shots, name), buttons(shots, name)[button_id]))
    return _ocr(crop)


def _ocr(image: Path) -> str:
    return ocr(image, "fra")


def on_top(stack: ModalStack) -> Modal | None:
    """The modal shown now (asked afresh each time)."""
    return stack.top


def test_what_a_modal_covered_comes_back_when_it_closes() -> None:
    stack = ModalStack()
    stack.set_open(Modal.HANDOFF, True)
    stack.set_open(Modal.IDLE_WARNING, True)
    assert on_top(stack) is Modal.IDLE_WARNING
    assert stack.waiting == (Modal.HANDOFF,)
    stack.set_open(Modal.IDLE_WARNING, False)  # the shopper answered
    assert on_top(stack) is Modal.HANDOFF
    stack.set_open(Modal.HANDOFF, False)
    assert on_top(stack) is None


def test_the_idle_warning_stays_over_a_modal_opened_after_it() -> None:
    stack = ModalStack()
    stack.set_open(Modal.IDLE_WARNING, True)
    stack.set_open(Modal.PIN_PAD, True)
    stack.set_open(Modal.REVIEWS, True)
    assert on_top(stack) is Modal.IDLE_WARNING
    stack.set_open(Modal.IDLE_WARNING, False)
    assert on_top(stack) is Modal.PIN_PAD  # staff over the shopper's reviews


def test_the_pin_pad_closes_the_accessibility_panel_and_queues_the_qr_code() -> None:
    stack = ModalStack()
    stack.set_open(Modal.HANDOFF, True)
    stack.set_open(Modal.ACCESSIBILITY, True)
    assert on_top(stack) is Modal.ACCESSIBILITY  # the shopper's latest on top
    assert stack.set_open(Modal.PIN_PAD, True) == (Modal.ACCESSIBILITY,)
    stack.set_open(Modal.PIN_PAD, False)  # cancelled
    assert on_top(stack) is Modal.HANDOFF
