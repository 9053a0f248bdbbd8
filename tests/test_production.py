"""A store's kiosk (`borne kiosk`): what its configuration names, nothing simulated or invented.

The kiosk runs on a portrait totem's virtual screen; the test reads the whole screen
back from Xvfb's own framebuffer, as a person in front of it would see it.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest

from tests.conftest import BORNE, Subscriber, borne
from tests.mosquitto import Broker
from tests.test_kiosk_ui import screen_text
from tests.virtual_screen import screen_pixels, virtual_screen

STORE_NAME = "Maison Lumière — Lyon Confluence"


def store_config(folder: Path, broker_port: int, **extra: str) -> Path:
    """A store's minimal configuration: who it is, its broker, its secret, its devices."""
    secret = folder / "pseudonym.key"
    secret.write_text(secrets.token_hex(32))
    sections = {
        "device": f'store_id = "lyon-03"\ndevice_id = "kiosk-12"\nstore_name = "{STORE_NAME}"',
        "mqtt": f'host = "127.0.0.1"\nport = {broker_port}',
        "storage": f'data_dir = "{folder / "data"}"',
        "privacy": f'pseudonym_key_file = "{secret}"',
        # Real devices that are not plugged in on this machine.
        "devices": (
            'camera = "/dev/video42"\nnfc = "tty:USB42"\nhid = "/dev/input/event42"\nble = "bleak"'
        ),
    }
    sections |= extra
    path = folder / "kiosk.toml"
    path.write_text("".join(f"[{name}]\n{body}\n" for name, body in sections.items()))
    return path


@pytest.fixture
def totem(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A portrait 1080x1920 screen whose pixels the test can read."""
    framebuffer = tmp_path / "framebuffer"
    framebuffer.mkdir()
    with virtual_screen("1080x1920x24", framebuffer) as display:
        yield display, framebuffer


def read_screen(framebuffer: Path, until: str, timeout: float = 60) -> str:
    """What the screen says once `until` is on it (or the last reading, on time-out)."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        image = framebuffer / "screen.png"
        cv2.imwrite(str(image), screen_pixels(framebuffer))
        text = screen_text(image)
        if until in text:
            break
        time.sleep(1)
    return text


@pytest.mark.ui
@pytest.mark.mqtt
def test_a_store_kiosk_runs_its_configuration_and_reports_what_is_missing(
    tmp_path: Path, broker: Broker, subscriber: Subscriber, totem: tuple[str, Path]
) -> None:
    display, framebuffer = totem
    config = store_config(tmp_path, broker.port)
    kiosk = subprocess.Popen(
        [*BORNE, "kiosk", "--config", str(config)],
        env={**os.environ, "DISPLAY": display, "KIVY_HOME": str(tmp_path / "kivy")},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        subscriber.wait_for(lambda s: any(t.endswith("kiosk-12/state") for t, _, _ in s.messages))
        text = read_screen(framebuffer, "conseiller")
        pixels = screen_pixels(framebuffer)
    finally:
        kiosk.send_signal(signal.SIGTERM)
        _, log = kiosk.communicate(timeout=60)
    assert kiosk.returncode == 0, log[-3000:]

    # Fullscreen on the totem: the kiosk's background reaches every corner.
    corners = [pixels[0, 0], pixels[0, -1], pixels[-1, 0], pixels[-1, -1]]
    assert all(int(corner.sum()) > 60 for corner in corners), corners  # not the bare X root
    assert STORE_NAME.split(" — ")[0] in text
    # No catalog source, and no platform answering on the broker: an empty catalog, said
    # on screen and in the log.
    assert "pas encore de produits" in text
    assert "nothing has come from it yet" in log
    # Each absent device is reported; nothing simulated stands in for it.
    for kind in ("camera", "nfc", "hid", "ble"):
        assert any(
            kind in line and ("missing" in line or "failing" in line) for line in log.splitlines()
        ), kind
    assert "simulat" not in log.lower()
    assert "Démo" not in text
    status = json.loads(borne("outbox", "status", "--config", str(config), "--json").stdout)
    assert status["last_sequence"] == 0  # no simulated shopper walked by


def test_a_store_kiosk_needs_the_retailers_secret(tmp_path: Path) -> None:
    config = store_config(tmp_path, 1883, privacy="")
    result = borne("kiosk", "--config", str(config))
    assert result.returncode == 2
    assert "privacy.pseudonym_key_file" in result.stderr
    assert not (tmp_path / "data").exists()  # refused before anything was created


def test_a_store_runtime_needs_to_know_who_it_is(tmp_path: Path) -> None:
    # The kiosk's window shows its enrolment screen instead (tests/test_kiosk_installer.py).
    config = store_config(tmp_path, 1883, device=f'store_name = "{STORE_NAME}"')
    result = borne("edge", "--config", str(config))
    assert result.returncode == 2
    assert "device.store_id" in result.stderr


def test_a_store_kiosk_refuses_simulated_devices(tmp_path: Path) -> None:
    config = store_config(tmp_path, 1883, devices='camera = "simulated"')
    result = borne("kiosk", "--config", str(config))
    assert result.returncode == 2
    assert "devices.camera" in result.stderr
