"""A simulated NFC card: an nfcpy peer on `udp:` that emulates Type 2, 3 and 4 tags.

The reader under test is the real `NfcReader` on the path `udp:127.0.0.1:PORT`; this
peer answers its frames with the memory of a real NDEF tag (nfcpy's own Type 3
emulation; our Type 2 and Type 4 handlers in `emulation.py`), so everything from
nfcpy's tag activation upwards runs as with a card on a USB reader.
"""

from __future__ import annotations

import logging
import queue
import socket
import struct
import threading
import time
from collections.abc import Sequence
from typing import Any

import ndef
import nfc
import nfc.clf

from devices.nfc.card_formats import staff_badge_records
from devices.nfc.emulation import Type2Card, Type4Card, type2_memory, type4_files

log = logging.getLogger(__name__)
Card = bytes | Type2Card | Type4Card  # a Type 3 memory image, or a Type 2 or 4 card

_BLOCK = 16
# Manufacturer 0x02 (not NXP's 0x04): nfcpy reads it as a generic NFC Forum Type 2 tag.
_TYPE2_UID = bytes.fromhex("02a1b2c3d4e5f6")
_TYPE4_UID = bytes.fromhex("02f1e2d3c4b5a6")
# FeliCa Standard IDm/PMm/system code 12FC (NDEF), as on a real Type 3 tag.
_SENSF_RES = bytes.fromhex("0102FE01020304050603014B024F4993FF12FC")


def free_udp_port(host: str = "127.0.0.1") -> int:
    """A UDP port on `host` that nothing is bound to right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def type3_memory(records: Sequence[ndef.Record]) -> bytes:
    """The blocks of a read-only Type 3 tag holding `records` (attribute block first)."""
    data = b"".join(ndef.message_encoder(records))
    blocks = max(1, -(-len(data) // _BLOCK))
    attribute = bytearray(_BLOCK)
    attribute[0] = 0x10  # mapping version 1.0
    attribute[1] = 4  # blocks per read
    attribute[2] = 1  # blocks per write
    attribute[3:5] = struct.pack(">H", blocks)
    attribute[11:14] = len(data).to_bytes(3, "big")
    attribute[14:16] = struct.pack(">H", sum(attribute[:14]))
    return bytes(attribute) + data.ljust(blocks * _BLOCK, b"\0")


class SimulatedCardPeer:
    """Presents cards to a reader listening on `udp:HOST:PORT`, one tap at a time."""

    AWAY = 0.25  # seconds off the reader between two taps

    def __init__(self, port: int | None = None, host: str = "127.0.0.1") -> None:
        self.path = f"udp:{host}:{port or free_udp_port(host)}"
        self._taps: queue.Queue[tuple[Card, float] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="nfc-card-peer", daemon=True)
        self._thread.start()

    def tap(self, records: Sequence[ndef.Record], *, hold: float = 0.3, tag_type: int = 3) -> None:
        """Lay a Type 2, 3 or 4 card holding `records` on the reader for `hold` seconds."""
        if tag_type == 2:
            card: Card = Type2Card(type2_memory(records, _TYPE2_UID))
        elif tag_type == 4:
            card = Type4Card(*type4_files(records))
        else:
            card = type3_memory(records)
        self._taps.put((card, hold))

    def tap_badge(self, badge_id: str, *, hold: float = 0.3) -> None:
        """Lay a Borne staff badge (`borne.io:staff` record) on the reader."""
        self.tap(staff_badge_records(badge_id), hold=hold)

    def tap_memory(self, memory: bytes, *, hold: float = 0.3) -> None:
        """Lay a Type 3 tag with this memory image (attribute block first) on the reader."""
        self._taps.put((memory, hold))

    def tap_card(self, card: Type2Card | Type4Card, *, hold: float = 0.3) -> None:
        """Lay a Type 2 or Type 4 card with its own memory or files on the reader."""
        self._taps.put((card, hold))

    def close(self) -> None:
        """Stop the peer."""
        self._taps.put(None)
        self._thread.join(timeout=5)

    def _run(self) -> None:
        frontend = nfc.ContactlessFrontend(self.path)
        try:
            while (tap := self._taps.get()) is not None:
                card, hold = tap
                if isinstance(card, bytes):
                    self._present_type3(frontend, card, hold)
                else:
                    self._present_type_a(frontend, card, hold)
                # Stay away long enough for the reader's presence check to see the card
                # go: a card laid down again at once is, to any reader, the same card.
                time.sleep(self.AWAY)
        finally:
            frontend.close()

    def _present_type_a(self, frontend: Any, card: Type2Card | Type4Card, hold: float) -> None:
        target = nfc.clf.LocalTarget("106A")
        target.sens_res = bytearray.fromhex("4400")
        target.sdd_res = bytearray(_TYPE2_UID if isinstance(card, Type2Card) else _TYPE4_UID)
        target.sel_res = bytearray([0x00 if isinstance(card, Type2Card) else 0x20])
        deadline = time.monotonic() + 10.0
        activated = None
        while activated is None and time.monotonic() < deadline:
            activated = frontend.listen(target, 1.0)
        if activated is None:
            log.warning("simulated card: no reader polled %s", self.path)
            return
        command = activated.tt2_cmd or activated.tt4_cmd
        lift_at = time.monotonic() + hold
        try:
            while command is not None and time.monotonic() < lift_at:
                response = card.handle(bytes(command))
                wait = max(0.01, lift_at - time.monotonic())
                answer = None if response is None else bytearray(response)
                command = frontend.exchange(answer, wait)
        except nfc.clf.CommunicationError:
            pass  # the reader went away, or the card was lifted mid-exchange
        finally:
            frontend.device.mute()

    def _present_type3(self, frontend: Any, memory: bytes, hold: float) -> None:
        deadline = time.monotonic() + 10.0  # give up if no reader polls
        state = {"release_at": float("inf")}

        def startup(_: Any) -> Any:
            target = nfc.clf.LocalTarget("212F")
            target.sensf_res = bytearray(_SENSF_RES)
            return target

        def connected(tag: Any) -> bool:
            def read(block: int, _rb: int, _re: int) -> bytes | None:
                chunk = memory[block * _BLOCK : (block + 1) * _BLOCK]
                return chunk or None

            tag.add_service(0x0009, read, None)
            tag.add_service(0x000B, read, None)
            state["release_at"] = time.monotonic() + hold
            return True

        def lifted() -> bool:
            now = time.monotonic()
            return now > state["release_at"] or now > deadline

        while state["release_at"] == float("inf") and time.monotonic() < deadline:
            frontend.connect(
                card={"on-startup": startup, "on-connect": connected, "timeout": 1.0},
                terminate=lifted,
            )
        if state["release_at"] == float("inf"):
            log.warning("simulated card: no reader polled %s", self.path)
