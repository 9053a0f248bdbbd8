"""The NFC reader: nfcpy polling in a thread of its own, one `CardTap` per tap.

Polling is tuned so a tap is noticed fast (nfcpy's defaults can leave a card
unnoticed for half a second), and a card left on the reader is one tap: the
reader waits for its removal before polling again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import nfc
import nfc.clf
import nfc.clf.udp
import nfc.tag

from devices.backoff import Backoff
from devices.errors import InputError
from devices.nfc.card_formats import card_number_from_records, parse_ndef
from devices.readings import CardTap
from devices.status import DeviceState, DeviceStatus

log = logging.getLogger(__name__)

# NFC-A (Type 2/4, MIFARE), NFC-B (Type 4) and NFC-F at 212 kbps (Type 3, FeliCa).
TARGETS = ["106A", "106B", "212F"]


class _LoopbackUdpDevice(nfc.clf.udp.Device):  # type: ignore[misc]
    """nfcpy's UDP driver with sensing timed like a real reader.

    The stock driver waits a full second for an answer to each poll; a USB reader
    knows within milliseconds that no card is there. On loopback an answer takes
    well under a millisecond, so 50 ms keeps the simulated reader as responsive as
    real hardware without changing anything else it does.
    """

    SENSE_TIMEOUT = 0.05
    _sensing = False

    def sense_ttf(self, target: Any) -> Any:
        self._sensing = True
        try:
            return super().sense_ttf(target)
        finally:
            self._sensing = False

    def _recv_data(self, timeout: float | None, *brty_list: str) -> Any:
        if self._sensing and timeout is not None:
            timeout = min(timeout, self.SENSE_TIMEOUT)
        return super()._recv_data(timeout, *brty_list)


def _open_frontend(path: str) -> Any:
    frontend = nfc.ContactlessFrontend(path)
    if path.startswith("udp:"):
        frontend.device.__class__ = _LoopbackUdpDevice
    return frontend


def targets_for(path: str) -> list[str]:
    """What to poll for: the simulated peer on `udp:` emulates FeliCa (Type 3) only."""
    return ["212F"] if path.startswith("udp:") else TARGETS


class NfcReader:
    """Reads loyalty cards and badges on an nfcpy device path (usb, tty:..., udp:...)."""

    POLL_INTERVAL = 0.05

    def __init__(
        self,
        path: str,
        on_tap: Callable[[CardTap], None],
        *,
        on_status: Callable[[DeviceStatus], None] = lambda status: None,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self._on_tap = on_tap
        self._on_status = on_status
        self._backoff = backoff or Backoff(base=1.0, cap=30.0)
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_reading_at: float | None = None

    def start(self) -> None:
        """Start polling in a background thread."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="nfc-reader", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop polling and release the reader."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _report(self, state: DeviceState, detail: str = "") -> None:
        self._on_status(DeviceStatus("nfc", self.path, state, detail, self._last_reading_at))

    def _run(self) -> None:
        self._report(DeviceState.STARTING)
        while not self._stop.is_set():
            try:
                frontend = _open_frontend(self.path)
            except OSError as error:
                self._report(DeviceState.MISSING, f"no reader on {self.path}: {error}")
                self._stop.wait(self._backoff.next_delay())
                continue
            self._report(DeviceState.OK)
            try:
                self._poll(frontend)
            except Exception as error:  # noqa: BLE001 - a failing reader must not end the thread
                log.warning("NFC reader failed, reopening: %s", error)
                self._report(DeviceState.FAILING, str(error))
                self._stop.wait(self._backoff.next_delay())
            finally:
                frontend.close()
        self._report(DeviceState.STOPPED)

    def _poll(self, frontend: Any) -> None:
        options = {
            "targets": targets_for(self.path),
            "on-connect": self._tag_connected,
            "iterations": 1,
            "interval": self.POLL_INTERVAL,
            "beep-on-connect": False,
        }
        while not self._stop.is_set():
            started = time.monotonic()
            if frontend.connect(rdwr=options, terminate=self._stop.is_set) is False:
                raise OSError("reader stopped answering")
            self._backoff.reset()
            # Keep a steady polling rhythm without spinning when sensing returns at once.
            self._stop.wait(max(0.0, self.POLL_INTERVAL - (time.monotonic() - started)))

    def _tag_connected(self, tag: Any) -> bool:
        """Read the tap; return True so nfcpy waits for the card's removal."""
        try:
            tap = self._read(tag)
        except InputError as error:
            log.info("card refused: %s", error)
            return True
        self._last_reading_at = tap.at
        self._on_tap(tap)
        return True

    def _read(self, tag: Any) -> CardTap:
        uid = bytes(tag.identifier or b"")
        try:
            octets = bytes(tag.ndef.octets) if tag.ndef is not None else b""
        except nfc.tag.TagCommandError as error:
            raise InputError("NDEF message", f"tag could not be read ({error})") from None
        number = card_number_from_records(parse_ndef(octets), uid)
        return CardTap(
            card_number=number,
            uid=uid.hex(),
            tag_type=str(tag.type),
            source=self.path,
            at=self._clock(),
        )
