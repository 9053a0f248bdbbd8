"""The NFC reader: nfcpy polling in a thread of its own, one `CardTap` per tap.

Polling is tuned so a tap is noticed fast (nfcpy's defaults can leave a card
unnoticed for half a second), and a card left on the reader is one tap: the
reader waits for its removal before polling again.
"""

from __future__ import annotations

import logging
import select
import time
from binascii import unhexlify
from collections.abc import Callable
from typing import Any

import nfc
import nfc.clf
import nfc.clf.udp
import nfc.tag

from devices.backoff import Backoff
from devices.errors import DeviceError, InputError
from devices.nfc.card_formats import card_number_from_records, parse_ndef
from devices.readings import CardRemoved, CardTap
from devices.status import DeviceStatus
from devices.worker import DeviceWorker

log = logging.getLogger(__name__)

# NFC-A (Type 2/4, MIFARE), NFC-B (Type 4) and NFC-F at 212 kbps (Type 3, FeliCa).
TARGETS = ["106A", "106B", "212F"]


class _LoopbackUdpDevice(nfc.clf.udp.Device):  # type: ignore[misc]
    """nfcpy's UDP driver with sensing timed like a real reader, on the monotonic clock.

    The stock driver waits a full second for an answer to each poll; a USB reader
    knows within milliseconds that no card is there. On loopback an answer takes
    well under a millisecond, so 50 ms keeps the simulated reader as responsive as
    real hardware without changing anything else it does.

    The stock driver also times its waits on the wall clock: set back a day while it
    waits for an answer, it waits a day. Its receive is redone here on the monotonic
    clock, the same in every other respect.
    """

    SENSE_TIMEOUT = 0.05
    _sensing = False

    def sense_ttf(self, target: Any) -> Any:
        self._sensing = True
        try:
            return super().sense_ttf(target)
        finally:
            self._sensing = False

    def sense_tta(self, target: Any) -> Any:
        self._sensing = True
        try:
            return super().sense_tta(target)
        finally:
            self._sensing = False

    def _recv_data(self, timeout: float | None, *brty_list: str) -> Any:
        if self._sensing and timeout is not None:
            timeout = min(timeout, self.SENSE_TIMEOUT)
        return receive_frame(self, timeout, brty_list)


def receive_frame(device: Any, timeout: float | None, brty_list: tuple[str, ...]) -> Any:
    """nfcpy's UDP receive (`Device._recv_data`), its deadline on the monotonic clock:
    the next frame of one of `brty_list`, as (brty, data, addr)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while deadline is None or time.monotonic() < deadline:
        wait = None if deadline is None else max(0.0, deadline - time.monotonic())
        if not select.select([device.socket], [], [], wait)[0]:
            continue
        data, addr = device.socket.recvfrom(1024)
        if data.startswith(b"RFOFF"):
            raise nfc.clf.BrokenLinkError("RFOFF")
        try:
            brty_bytes, hex_data = data.split()
        except ValueError:
            raise nfc.clf.TransmissionError("no data") from None
        brty = brty_bytes.decode("ascii")
        frame = bytearray(unhexlify(hex_data))
        device.rcvd_data += len(frame)
        if brty in brty_list:
            return brty, frame, addr
    raise nfc.clf.TimeoutError("no data received")


def open_frontend(path: str) -> Any:
    """An nfcpy frontend for `path`; on `udp:` with sensing timed like a real reader."""
    frontend = nfc.ContactlessFrontend(path)
    if path.startswith("udp:"):
        frontend.device.__class__ = _LoopbackUdpDevice
    return frontend


def targets_for(path: str) -> list[str]:
    """What to poll for: the simulated peer on `udp:` speaks NFC-A and NFC-F."""
    return ["106A", "212F"] if path.startswith("udp:") else TARGETS


class NfcReader(DeviceWorker[Any]):
    """Reads loyalty cards and badges on an nfcpy device path (usb, tty:..., udp:...)."""

    kind = "nfc"
    POLL_INTERVAL = 0.05
    NDEF_RETRIES = 2  # more reads of a tag that showed no NDEF: a blank one costs ms

    def __init__(
        self,
        path: str,
        on_tap: Callable[[CardTap | CardRemoved], None],
        *,
        on_status: Callable[[DeviceStatus], None] = lambda status: None,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(
            path, on_status=on_status, backoff=backoff or Backoff(base=1.0, cap=30.0), clock=clock
        )
        self.path = path
        self._on_tap = on_tap

    def _open(self) -> Any:
        try:
            return open_frontend(self.path)
        except OSError as error:
            raise DeviceError(self.kind, f"no reader on {self.path}: {error}") from None

    def _close(self, frontend: Any) -> None:
        frontend.close()

    def _serve(self, frontend: Any) -> None:
        self._poll(frontend)

    def _poll(self, frontend: Any) -> None:
        options = {
            "targets": targets_for(self.path),
            "on-connect": self._tag_connected,
            "on-release": self._tag_released,
            "iterations": 1,
            "interval": self.POLL_INTERVAL,
            "beep-on-connect": False,
        }
        while not self.stopping:
            started = time.monotonic()
            if frontend.connect(rdwr=options, terminate=lambda: self.stopping) is False:
                raise DeviceError(self.kind, "reader stopped answering")
            self._healthy()
            # Keep a steady polling rhythm without spinning when sensing returns at once.
            self._stop.wait(max(0.0, self.POLL_INTERVAL - (time.monotonic() - started)))

    def _tag_released(self, tag: Any) -> bool:
        """The card left the reader: say so (nfcpy calls this once it is gone)."""
        uid = bytes(tag.identifier or b"").hex()
        self._on_tap(CardRemoved(uid=uid, source=self.path, at=self._clock()))
        return True

    def _tag_connected(self, tag: Any) -> bool:
        """Read the tap; return True so nfcpy waits for the card's removal."""
        try:
            tap = self._read(tag)
        except InputError as error:
            log.info("card refused: %s", error)
            return True
        self._delivered(tap.at)
        self._on_tap(tap)
        return True

    def _read(self, tag: Any) -> CardTap:
        uid = bytes(tag.identifier or b"")
        try:
            ndef = tag.ndef
            # nfcpy says "no NDEF" (None) both for a tag without any and for a read that
            # failed half-way (a card slid on or off, a busy reader): a loyalty card then
            # passed for an unknown UID-only card. Asking again reads it again.
            for _ in range(self.NDEF_RETRIES):
                if ndef is not None:
                    break
                ndef = tag.ndef
            octets = bytes(ndef.octets) if ndef is not None else b""
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
