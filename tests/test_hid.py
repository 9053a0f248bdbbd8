"""Keyboard-wedge scanners: what the label says, whatever the keyboard layout."""

from __future__ import annotations

import string
import threading
import time

import pytest
from evdev import ecodes
from hypothesis import given
from hypothesis import strategies as st

from devices.backoff import Backoff
from devices.errors import InputError
from devices.hid.keymap import GS, KeyDecoder, key_events
from devices.hid.wedge import EvdevKeySource, HidScanner, SimulatedWedge
from devices.readings import BarcodeScan
from devices.status import DeviceState, DeviceStatus


def typed(events: list[tuple[int, int]], layout: str) -> list[str]:
    decoder = KeyDecoder(layout)
    return [t for code, value in events if (t := decoder.feed(ecodes.EV_KEY, code, value))]


def test_a_us_scanner_on_a_french_kiosk_still_says_ha112() -> None:
    presses = key_events("HA112", "us")
    assert typed(presses, "us") == ["HA112"]
    # What an AZERTY keymap would make of the same key codes: the bug we avoid.
    assert typed(presses, "fr") == ["HQ&&é"]


def test_a_scanner_programmed_for_azerty_is_read_with_its_layout() -> None:
    assert typed(key_events("HA112", "fr"), "fr") == ["HA112"]


def test_keypad_digits_caps_lock_and_fnc1() -> None:
    decoder = KeyDecoder("us")
    events = [
        (ecodes.KEY_CAPSLOCK, 1), (ecodes.KEY_A, 1), (ecodes.KEY_CAPSLOCK, 1),
        (ecodes.KEY_KP4, 1), (ecodes.KEY_KP2, 1), (ecodes.KEY_LEFTCTRL, 1),
        (ecodes.KEY_RIGHTBRACE, 1), (ecodes.KEY_LEFTCTRL, 0), (ecodes.KEY_B, 2),
        (ecodes.KEY_KPENTER, 1),
    ]  # fmt: skip
    assert [decoder.feed(ecodes.EV_KEY, c, v) for c, v in events][-1] == "A42" + GS


@given(st.text(alphabet=string.ascii_letters + string.digits + "-./ " + GS, min_size=1))
def test_anything_a_scanner_types_comes_back_as_it_was(text: str) -> None:
    for layout in ("us", "fr"):
        assert typed(key_events(text, layout), layout) == [text]


def test_unknown_layouts_and_untypable_text_are_refused() -> None:
    with pytest.raises(InputError):
        KeyDecoder("dvorak")
    with pytest.raises(InputError):
        key_events("€", "us")


def run_wedge(texts: list[str]) -> list[BarcodeScan]:
    wedge = SimulatedWedge("us")
    scans: list[BarcodeScan] = []
    scanner = HidScanner(wedge, scans.append)
    scanner.start()
    try:
        for text in texts:
            wedge.type_code(text)
        deadline = time.monotonic() + 5
        while len(scans) < len(texts):
            assert time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        scanner.stop()
    return scans


def test_wedge_scans_are_interpreted_like_camera_scans() -> None:
    scans = run_wedge(
        ["3760123450010", "3760123450011", "]C1" + "0103760123450010" + "10LOT1", "HA112"]
    )
    assert [(s.kind, s.gtin) for s in scans] == [
        ("gtin", "03760123450010"),
        # Digits failing the check digit are no EAN the scanner decoded: text (a Code 128
        # loyalty card, say), never a product.
        ("text", None),
        ("gs1", "03760123450010"),
        ("text", None),
    ]
    assert all(s.symbology == "keyboard" for s in scans)


def test_a_missing_scanner_is_reported_and_retried() -> None:
    statuses: list[DeviceStatus] = []
    done = threading.Event()

    def on_status(status: DeviceStatus) -> None:
        statuses.append(status)
        if sum(s.state is DeviceState.MISSING for s in statuses) >= 2:
            done.set()

    scanner = HidScanner(
        EvdevKeySource("/dev/input/by-id/no-such-scanner"),
        lambda scan: None,
        on_status=on_status,
        backoff=Backoff(base=0.02, cap=0.05),
    )
    scanner.start()
    try:
        assert done.wait(5)
    finally:
        scanner.stop()
    assert "no-such-scanner" in statuses[1].detail
