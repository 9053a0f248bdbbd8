"""Keyboard-wedge scanners: raw key events (evdev, exclusive grab) to `BarcodeScan`s.

The grab keeps the scanner's keystrokes out of the kiosk's own UI and any other
application. Backends give evdev `InputEvent`s: the real device, or the simulated
wedge that types codes the way a scanner programmed for a given layout would.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import select
import time
from collections.abc import Callable
from typing import Protocol

import evdev
from evdev import InputEvent, ecodes

from devices.backoff import Backoff
from devices.barcode.decoder import DecodedCode
from devices.barcode.scanner import scan_from_code
from devices.barcode.symbology import Symbology
from devices.errors import DeviceError, InputError
from devices.hid.keymap import KeyDecoder, key_events
from devices.readings import BarcodeScan
from devices.status import DeviceStatus
from devices.worker import SourceWorker

log = logging.getLogger(__name__)


class KeySource(Protocol):
    """Where key events come from."""

    name: str

    def open(self) -> None:
        """Acquire the device; raise DeviceError if it is not there."""

    def read(self, timeout: float) -> list[InputEvent]:
        """The events available within `timeout` seconds (maybe none)."""

    def close(self) -> None:
        """Release the device."""


class EvdevKeySource:
    """A real scanner at /dev/input/... (or the first device whose name contains `name:`)."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.name = f"evdev:{address}"
        self._device: evdev.InputDevice[str] | None = None

    def _find(self) -> str:
        if not self.address.startswith("name:"):
            return self.address
        wanted = self.address.removeprefix("name:").lower()
        for path in evdev.list_devices():
            device = evdev.InputDevice(path)
            try:
                if wanted in device.name.lower():
                    return str(path)
            finally:
                device.close()
        raise DeviceError("hid", f"no input device named like {wanted!r}")

    def open(self) -> None:
        try:
            device = evdev.InputDevice(self._find())
            device.grab()  # exclusive: the scanner types for us alone
        except OSError as error:
            raise DeviceError("hid", f"cannot open {self.address}: {error}") from None
        self._device = device

    def read(self, timeout: float) -> list[InputEvent]:
        device = self._device
        if device is None:
            raise DeviceError("hid", "scanner is not open")
        try:
            ready, _, _ = select.select([device.fd], [], [], timeout)
            return list(device.read()) if ready else []
        except OSError as error:  # unplugged
            raise DeviceError("hid", f"scanner stopped: {error}") from None

    def close(self) -> None:
        if self._device is not None:
            with contextlib.suppress(OSError):  # already gone with the device
                self._device.ungrab()
            self._device.close()
            self._device = None


class SimulatedWedge:
    """A wedge scanner programmed for `layout`, typing codes as evdev events."""

    def __init__(self, layout: str = "us") -> None:
        self.name = f"simulated-wedge:{layout}"
        self.layout = layout
        self._events: queue.Queue[InputEvent] = queue.Queue()

    def type_code(self, text: str) -> None:
        """Scan a label: its text typed key by key, then Enter."""
        now = time.time()
        for index, (code, value) in enumerate(key_events(text, self.layout)):
            stamp = now + index * 0.002
            sec, usec = int(stamp), int((stamp % 1) * 1_000_000)
            self._events.put(InputEvent(sec, usec, ecodes.EV_KEY, code, value))

    def open(self) -> None:
        return None

    def read(self, timeout: float) -> list[InputEvent]:
        try:
            events = [self._events.get(timeout=timeout)]
        except queue.Empty:
            return []
        while not self._events.empty():
            events.append(self._events.get_nowait())
        return events

    def close(self) -> None:
        return None


def scan_from_keyboard(text: str, source: str, at: float) -> BarcodeScan:
    """Interpret typed text: a GTIN must pass its check digit, GS1 data must be valid."""
    return scan_from_code(DecodedCode(Symbology.KEYBOARD, text, "keyboard"), source, at)


class HidScanner(SourceWorker[KeySource]):
    """Reads a wedge scanner in its own thread; one scan per Enter."""

    kind = "hid"

    def __init__(
        self,
        source: KeySource,
        on_scan: Callable[[BarcodeScan], None],
        *,
        layout: str = "us",
        on_status: Callable[[DeviceStatus], None] = lambda status: None,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(
            source, on_status=on_status, backoff=backoff or Backoff(base=1.0, cap=30.0), clock=clock
        )
        self.layout = layout
        self._on_scan = on_scan

    def _serve(self, source: KeySource) -> None:
        decoder = KeyDecoder(self.layout)
        while not self.stopping:
            for event in source.read(timeout=0.2):
                text = decoder.feed(event.type, event.code, event.value)
                if text is None:
                    continue
                now = self._clock()
                try:
                    scan = scan_from_keyboard(text, source.name, now)
                except InputError as error:
                    log.info("scanner input refused: %s", error)
                    continue
                self._delivered(now)
                self._on_scan(scan)
