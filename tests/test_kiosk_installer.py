"""The installer at the kiosk's screen, on a portrait totem (1080x1920) under Xvfb.

- The staff corner with the installer's PIN opens the installer's panel over the kiosk
  (a wrong PIN does not); its self-test runs on the kiosk's own devices with a mark per
  check, the card and barcode the installer shows start no shopper session, and the
  report waits in the outbox for the platform; the panel closed, shoppers are served.
- A kiosk never enrolled shows its enrolment screen instead of refusing to start; the
  code `borne hub enrol-code` printed, held up to its camera (here a picture of it, read
  by OpenCV as a camera), enrols it, and it starts again as the store's kiosk.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from edge.doctor.report import CHECKS
from edge.hub.enrolment.terminal_qr import write_qr_png
from edge.lockdown import hash_pin
from tests.conftest import BORNE, ROOT, assert_no_card_number
from tests.hub_enrolment import running_hub
from tests.test_kiosk_ui import _ocr as ocr
from tests.test_service_notify import Manager
from tests.virtual_screen import virtual_screen

pytestmark = pytest.mark.ui

WIDTH, HEIGHT = 1080, 1920
STAFF_PIN = "4242"
INSTALLER_PIN = "8642"
CARD = "9250000000017"  # a demo loyalty card
PANEL_BUTTONS = {"self_test", "enrol", "close_kiosk", "close_installer"}
# [staff] lock_after: the panel closes by itself after it. Longer than what the journey
# does between two touches, however slow the machine: the self-test's 20 s count as busy.
QUIET_SECONDS = 25
JOURNEY: list[dict[str, Any]] = [
    {"press": "staff"},
    *({"press": f"pin_{digit}"} for digit in "1111"),
    {"press": "pin_ok"},
    {"screenshot": "wrong_pin"},
    *({"press": f"pin_{digit}"} for digit in INSTALLER_PIN),
    {"press": "pin_ok"},
    {"wait": 0.5},
    {"screenshot": "panel"},
    {"press": "self_test"},
    {"wait": 0.5},
    {"screenshot": "testing"},
    {"tap_card": CARD},
    {"scan": "3760123450010"},
    {"wait": 22},  # the self-test waits 20 s for what the devices should see
    {"screenshot": "tested"},
    {"press": "close_installer"},
    {"tap_card": CARD},  # a shopper again
    {"screenshot": "shopper"},
    # The installer opens the panel again and walks away.
    {"press": "staff"},
    *({"press": f"pin_{digit}"} for digit in INSTALLER_PIN),
    {"press": "pin_ok"},
    {"wait": QUIET_SECONDS + 1},
    {"screenshot": "left_alone"},
    {"press": "staff"},
    *({"press": f"pin_{digit}"} for digit in STAFF_PIN),
    {"press": "pin_ok"},
    {"wait": 5},  # the kiosk closes before this ends
]


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The journey played in the demo on a portrait totem; its folder."""
    base = tmp_path_factory.mktemp("installer")
    (base / "kiosk.toml").write_text(
        f'[storage]\ndata_dir = "{base / "data"}"\nsynchronous = "normal"\n'
        f'[kiosk]\nexit_pin_hash = "{hash_pin(STAFF_PIN, iterations=10_000)}"\n'
        f'installer_pin_hash = "{hash_pin(INSTALLER_PIN, iterations=10_000)}"\n'
        f"[staff]\nlock_after = {QUIET_SECONDS}\n"
    )
    (base / "journey.json").write_text(json.dumps(JOURNEY))
    with virtual_screen(f"{WIDTH}x{HEIGHT}x24") as display:
        result = subprocess.run(
            [
                *BORNE,
                "demo",
                "--config",
                str(base / "kiosk.toml"),
                "--journey",
                str(base / "journey.json"),
                "--screenshots",
                str(base / "shots"),
            ],
            cwd=ROOT,
            env=os.environ
            | {"DISPLAY": display, "KIVY_HOME": str(base / "kivy"), "SDL_AUDIODRIVER": "dummy"},
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
    assert result.returncode == 0, result.stderr[-3000:]
    assert_no_card_number(result.stderr)
    return base


def buttons(played: Path, name: str) -> set[str]:
    """The ids of the buttons a touch can reach on a screenshot."""
    listed = json.loads((played / "shots" / f"{name}.buttons.json").read_text())
    return {button["id"] for button in listed}


def texts(played: Path, name: str) -> list[str]:
    listed = json.loads((played / "shots" / f"{name}.texts.json").read_text())
    return [text["text"] for text in listed]


def events(played: Path) -> list[dict[str, Any]]:
    """Every event the kiosk committed (no broker: all wait in the outbox)."""
    with sqlite3.connect(played / "data" / "outbox.sqlite") as db:
        rows = db.execute("SELECT payload FROM events ORDER BY sequence").fetchall()
    return [json.loads(payload) for (payload,) in rows]


def test_only_the_installers_pin_opens_the_panel_over_the_kiosk(played: Path) -> None:
    assert not PANEL_BUTTONS & buttons(played, "wrong_pin")
    on_panel = buttons(played, "panel")
    assert on_panel >= PANEL_BUTTONS
    # The shopper's controls lie under the panel: only the advisor's call stays reachable.
    assert not {"language", "accessibility", "promotion"} & on_panel
    words = ocr(played / "shots" / "panel.png", "fra")
    assert "Installation" in words
    assert "Magasin" in words  # who this kiosk is


def test_a_panel_left_alone_closes_by_itself(played: Path) -> None:
    assert not PANEL_BUTTONS & buttons(played, "left_alone")
    assert "language" in buttons(played, "left_alone")


def test_the_self_test_marks_every_check_and_its_taps_are_no_shoppers(played: Path) -> None:
    shown = texts(played, "tested")
    for title in ("Caméra", "Lecteur NFC", "Bluetooth", "Horloge"):
        assert title in shown
    assert "…" not in shown  # no check still running once the test ended
    words = ocr(played / "shots" / "tested.png", "fra")
    assert "carte lue" in words.lower()  # the card the installer tapped
    committed = events(played)
    types = [event["type"] for event in committed]
    (report,) = [event for event in committed if event["type"] == "io.borne.device.checked"]
    assert {result["check"] for result in report["data"]["results"]} == set(CHECKS)
    # One card tapped in the whole journey: the shopper's, after the panel closed.
    assert types.count("io.borne.card.tapped") == 1
    assert types.index("io.borne.card.tapped") > types.index("io.borne.device.checked")
    assert "io.borne.product.scanned" not in types


def test_with_the_panel_closed_the_kiosk_serves_shoppers_again(played: Path) -> None:
    assert not PANEL_BUTTONS & buttons(played, "shopper")
    assert "language" in buttons(played, "shopper")


def test_a_kiosk_never_enrolled_enrols_from_the_code_its_camera_reads(tmp_path: Path) -> None:
    kiosk_config = tmp_path / "kiosk" / "kiosk.toml"
    kiosk_config.parent.mkdir()
    camera = tmp_path / "camera.avi"
    with running_hub(tmp_path / "hub") as hub:
        code = hub.enroller.new_code("paris-01", "kiosk-12")
        address = f"https://127.0.0.1:{hub.server.port}"  # the test hub's port, not 8443
        film_holding_up(replace(code, hub_url=address).text(), camera, tmp_path)
        # What an installer's image ships: the devices and storage, no identity yet.
        kiosk_config.write_text(
            f'[devices]\ncamera = "{camera}"\n'
            f'[storage]\ndata_dir = "{tmp_path / "data"}"\nsynchronous = "normal"\n'
        )
        manager = Manager()
        with virtual_screen(f"{WIDTH}x{HEIGHT}x24") as display:
            kiosk = subprocess.Popen(
                [*BORNE, "kiosk", "--windowed", "--config", str(kiosk_config)],
                cwd=ROOT,
                env=os.environ
                | {
                    "DISPLAY": display,
                    "KIVY_HOME": str(tmp_path / "kivy"),
                    "SDL_AUDIODRIVER": "dummy",
                    "NOTIFY_SOCKET": manager.name,
                },
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            try:
                first = manager.until("READY=1", timeout=120)
                assert any("enrolment screen" in line for line in first[-1])
                # Enrolled, it starts again as the store's kiosk: ready on its attract screen.
                again = manager.until("READY=1", timeout=120)
                assert "STATUS=attract screen" in again[-1]
                kiosk.send_signal(signal.SIGTERM)
                _, log = kiosk.communicate(timeout=60)
            finally:
                if kiosk.poll() is None:
                    kiosk.kill()
                    kiosk.wait()
                manager.close()
    assert kiosk.returncode == 0, log[-3000:]
    written = tomllib.loads(kiosk_config.read_text())
    assert written["device"]["device_id"] == "kiosk-12"
    assert written["device"]["store_id"] == "paris-01"
    assert written["mqtt"]["tls"] is True
    assert written["devices"]["camera"] == str(camera)  # the installer's keys are kept
    key = Path(written["mqtt"]["key_file"])
    assert key.parent == kiosk_config.parent
    assert key.stat().st_mode & 0o777 == 0o600
    assert "enrolled as kiosk-12" in log


def film_holding_up(text: str, video: Path, scratch: Path) -> None:
    """A camera's film of the QR code of `text` held still in front of it (a few seconds):
    OpenCV reads a video file as it reads a camera."""
    write_qr_png(text, scratch / "code.png")
    code = cv2.imread(str(scratch / "code.png"))
    assert code is not None
    frame = np.full((720, 1280, 3), 255, np.uint8)
    top, left = (720 - code.shape[0]) // 2, (1280 - code.shape[1]) // 2
    frame[top : top + code.shape[0], left : left + code.shape[1]] = code
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"MJPG"), 15, (1280, 720))
    for _ in range(45):
        writer.write(frame)
    writer.release()


def enrolment_screen(tmp_path: Path, size: str, config_text: str) -> str:
    """The words on the enrolment screen of a kiosk configured with `config_text`."""
    kiosk_config = tmp_path / "kiosk.toml"
    kiosk_config.write_text(f'[storage]\ndata_dir = "{tmp_path / "data"}"\n' + config_text)
    shot = tmp_path / "enrolment.png"
    with virtual_screen(f"{size}x24") as display:
        result = subprocess.run(
            [sys.executable, "-m", "tests.enrolment_screen", str(kiosk_config), str(shot)],
            cwd=ROOT,
            env=os.environ
            | {"DISPLAY": display, "KIVY_HOME": str(tmp_path / "kivy"), "SDL_AUDIODRIVER": "dummy"},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert result.returncode == 0, result.stderr[-3000:]
    return ocr(shot, "fra")


@pytest.mark.parametrize("size", ["1080x1920", "1920x1080"])
def test_the_enrolment_screen_says_what_to_do(tmp_path: Path, size: str) -> None:
    words = enrolment_screen(tmp_path, size, "")
    assert "pas encore enrôlée" in words
    assert "borne enrol" in words  # no camera configured: the terminal's way


def test_an_image_with_an_installer_pin_asks_for_it_before_enrolling(tmp_path: Path) -> None:
    pin_hash = hash_pin(INSTALLER_PIN, iterations=10_000)
    words = enrolment_screen(tmp_path, "1080x1920", f'[kiosk]\ninstaller_pin_hash = "{pin_hash}"\n')
    assert "Code installateur" in words
    assert "Présentez" not in words  # nothing of the enrolment before the PIN
