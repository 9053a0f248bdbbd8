"""`borne hub enrol-code` and `borne hub serve`'s enrolment endpoint, as an installer runs them."""

from __future__ import annotations

import hashlib
import signal
import ssl
import stat
import subprocess
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest
import zxingcpp
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from edge.enrol.code import parse_enrol_code
from edge.errors import ConfigError
from edge.hub.config import load_hub_config
from edge.hub.enrolment.terminal_qr import terminal_qr
from tests.conftest import BORNE, borne
from tests.mosquitto import Broker, free_port

_BLOCKS = {
    " ": (False, False),
    "\u2580": (True, False),
    "\u2584": (False, True),
    "\u2588": (True, True),
}


def hub_config(
    tmp_path: Path, *, public_url: str = "https://127.0.0.1:8443", extra: str = ""
) -> Path:
    (tmp_path / "pseudonym.key").write_text("5e" * 32)
    config = tmp_path / "hub.toml"
    config.write_text(
        f'[store]\ndata_dir = "{tmp_path / "hub"}"\n'
        f'[privacy]\npseudonym_key_file = "{tmp_path / "pseudonym.key"}"\n'
        f'[enrol]\npublic_url = "{public_url}"\nbroker_host = "127.0.0.1"\n{extra}'
    )
    return config


def decode(image: np.ndarray) -> str:
    found = zxingcpp.read_barcodes(image)
    assert len(found) == 1
    return str(found[0].text)


def read_terminal_qr(text: str) -> np.ndarray:
    """The picture a camera would see of the half blocks drawn on a dark terminal."""
    rows = []
    for line in text.splitlines():
        pairs = [_BLOCKS[char] for char in line]
        rows += [[top for top, _ in pairs], [bottom for _, bottom in pairs]]
    drawn = np.array(rows, dtype=bool)  # drawn = light on a dark terminal
    pixels = np.where(drawn, 255, 0).astype(np.uint8)
    return np.kron(pixels, np.ones((6, 6), dtype=np.uint8))


def test_enrol_code_prints_a_code_its_qr_code_and_expiry(tmp_path: Path) -> None:
    config = hub_config(tmp_path)
    png = tmp_path / "code.png"

    result = borne(
        "hub", "enrol-code", "--config", str(config), "--store", "paris-01",
        "--device", "kiosk-07", "--png", str(png),
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    code = parse_enrol_code(lines[0])
    assert (code.store_id, code.device_id, code.hub_url) == (
        "paris-01",
        "kiosk-07",
        "https://127.0.0.1:8443",
    )
    ca_der = x509.load_pem_x509_certificate(
        (tmp_path / "hub" / "ca" / "ca.pem").read_bytes()
    ).public_bytes(serialization.Encoding.DER)
    assert code.ca_sha256 == hashlib.sha256(ca_der).hexdigest()
    assert f"Hub CA SHA-256: {code.ca_sha256}" in result.stdout
    assert f"{code.expires_at:%Y-%m-%dT%H:%M:%SZ}" in result.stdout
    assert "in 10 minutes" in result.stdout
    # The terminal drawing (not a terminal here: light modules drawn) scans back.
    drawing = "\n".join(line for line in lines if line and set(line) <= set(_BLOCKS))
    assert decode(read_terminal_qr(drawing)) == lines[0]
    picture = cv2.imread(str(png), cv2.IMREAD_GRAYSCALE)
    assert picture is not None
    assert decode(picture) == lines[0]
    assert stat.S_IMODE((tmp_path / "hub" / "ca" / "ca.key").stat().st_mode) == 0o600


def test_the_coloured_drawing_is_dark_modules_on_white() -> None:
    drawing = terminal_qr("borne-enrol:1?x", colours=True)

    plain = drawing.replace("\x1b[30;107m", "").replace("\x1b[0m", "")
    inverted = "".join({" ": "\u2588", "\u2588": " ", "\u2580": "\u2584", "\u2584": "\u2580"}.get(
        char, char) for char in plain)  # fmt: skip
    assert decode(read_terminal_qr(inverted)) == "borne-enrol:1?x"
    assert all(line.startswith("\x1b[30;107m") for line in drawing.splitlines())


def test_enrol_code_refuses_when_enrolment_is_off(tmp_path: Path) -> None:
    config = hub_config(tmp_path, public_url="")

    result = borne("hub", "enrol-code", "--config", str(config), "--store", "paris-01")

    assert result.returncode == 2
    assert "enrol.public_url" in result.stderr
    assert "enrolment is off" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(("flag", "value"), [("--store", "paris/01"), ("--device", "kiosk #7")])
def test_enrol_code_refuses_an_id_that_is_not_one_topic_level(
    tmp_path: Path, flag: str, value: str
) -> None:
    config = hub_config(tmp_path)
    args = {"--store": "paris-01", "--device": "kiosk-07", flag: value}

    result = borne("hub", "enrol-code", "--config", str(config), *sum(args.items(), ()))

    assert result.returncode == 2
    assert f"{flag} must be 1-64 letters" in result.stderr
    assert not (tmp_path / "hub" / "enrolment.sqlite").exists()


def test_the_enrol_section_is_checked(tmp_path: Path) -> None:
    for bad, key in (
        ('public_url = "http://hub.example"\nbroker_host = "b"', "enrol.public_url"),
        ('public_url = "https://hub.example/enrol"\nbroker_host = "b"', "enrol.public_url"),
        ('public_url = "https://hub.example"', "enrol.broker_host"),
        ("code_minutes = 0", "enrol.code_minutes"),
        ('broker_reload = [""]', "enrol.broker_reload"),
        ('installer_pin_hash = "1234"', "enrol.installer_pin_hash"),
    ):
        path = tmp_path / "bad.toml"
        path.write_text(f"[enrol]\n{bad}\n")
        with pytest.raises(ConfigError) as error:
            load_hub_config(path, environ={})
        assert error.value.where == key, bad

    path = tmp_path / "good.toml"
    path.write_text(
        '[enrol]\npublic_url = "https://hub.example:9443/"\nbroker_host = "mqtt.example"\n'
        'broker_reload = ["systemctl", "reload", "mosquitto"]\n'
    )
    enrol = load_hub_config(path, environ={}).enrol
    assert enrol.enabled
    assert enrol.public_url == "https://hub.example:9443"
    assert enrol.public_host == "hub.example"
    assert enrol.broker_bind == "mqtt.example"
    assert enrol.broker_reload == ("systemctl", "reload", "mosquitto")
    assert not load_hub_config(None, environ={}).enrol.enabled


@pytest.mark.mqtt
def test_hub_serve_answers_enrolment_on_loopback_while_it_runs(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "broker").mkdir()
    broker = Broker(tmp_path / "broker", free_port(), persistent=False)
    broker.start()
    config = hub_config(
        tmp_path, extra=f'listen_port = {port}\n[mqtt]\nhost = "127.0.0.1"\nport = {broker.port}\n'
    )
    process = subprocess.Popen(
        [*BORNE, "hub", "serve", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ca_pem = wait_for_ca(port, tmp_path / "hub" / "ca" / "ca.pem", process)
        assert ca_pem == (tmp_path / "hub" / "ca" / "ca.pem").read_bytes()
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
        broker.kill(signal.SIGTERM)
    assert process.returncode == 0, stderr
    assert "enrolment: answering on 127.0.0.1 port" in stderr


def wait_for_ca(port: int, ca_file: Path, process: subprocess.Popen[str]) -> bytes:
    """GET /v1/ca once `borne hub serve` answers, trusting the CA it made."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            context = ssl.create_default_context(cafile=str(ca_file))
            with urllib.request.urlopen(
                f"https://127.0.0.1:{port}/v1/ca", context=context, timeout=5
            ) as answer:
                body: bytes = answer.read()
                return body
        except (OSError, ssl.SSLError):
            time.sleep(0.1)
    raise AssertionError(f"borne hub serve never answered (exit {process.poll()})")
