"""Installer tools: `borne devices`, `borne nfc read`, `borne ble scan`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from devices.nfc.card_formats import loyalty_records
from devices.nfc.simulated_card import SimulatedCardPeer, free_udp_port
from tests.conftest import BORNE, TESTDATA, borne, write_config


def test_nfc_read_prints_the_tag_as_json() -> None:
    card = SimulatedCardPeer()
    try:
        reader = subprocess.Popen(
            [*BORNE, "nfc", "read", "--device", card.path, "--timeout", "10"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        card.tap(loyalty_records("9250000000017"), hold=1.0)
        stdout, stderr = reader.communicate(timeout=30)
    finally:
        card.close()
    assert reader.returncode == 0, stderr
    tag = json.loads(stdout)
    assert tag["type"] == "Type3Tag"
    assert tag["borne_card"] is True
    assert tag["records"][0]["type"] == "urn:nfc:ext:borne.io:loyalty"
    assert bytes.fromhex(tag["records"][0]["data_hex"]) == b"9250000000017"


def test_nfc_read_says_when_no_tag_came() -> None:
    result = borne(
        "nfc", "read", "--device", f"udp:127.0.0.1:{free_udp_port()}", "--timeout", "0.5"
    )
    assert result.returncode == 1
    assert "no tag" in result.stderr


def test_ble_scan_prints_parsed_beacons(tmp_path: Path) -> None:
    result = borne(
        "ble", "scan", "--seconds", "3", "--replay", str(TESTDATA / "ble" / "ble_adverts.json")
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    kinds = {frame["kind"] for line in lines for frame in line["frames"]}
    assert {"IBeacon", "EddystoneUID", "EddystoneURL", "EddystoneTLM", "AltBeacon"} <= kinds
    assert any("18 bytes" in error for line in lines for error in line.get("errors", []))


def test_devices_lists_each_device_with_its_state(tmp_path: Path) -> None:
    card = SimulatedCardPeer()  # a reader answering on loopback, as nfcpy's udp: driver sees it
    try:
        config = write_config(
            tmp_path / "kiosk.toml",
            tmp_path / "data",
            devices=f'camera = "/nonexistent/camera.mp4"\nnfc = "{card.path}"',
        )
        result = borne("devices", "--config", str(config), "--seconds", "1.5", "--json")
    finally:
        card.close()
    assert result.returncode == 0, result.stderr
    states = {d["kind"]: d for d in map(json.loads, result.stdout.splitlines())}
    assert states["camera"]["state"] == "missing"
    assert "could not be opened" in states["camera"]["detail"]
    assert states["nfc"]["state"] == "ok"
    # No [devices] entry: nothing is looked for, nothing is simulated in its place.
    assert states["ble"]["state"] == states["hid"]["state"] == "not configured"


def test_a_store_command_refuses_simulated_devices(tmp_path: Path) -> None:
    config = write_config(tmp_path / "kiosk.toml", tmp_path / "data", devices='nfc = "simulated"')
    result = borne("devices", "--config", str(config), "--seconds", "0.5")
    assert result.returncode == 2
    assert "devices.nfc" in result.stderr
    assert "borne demo" in result.stderr
