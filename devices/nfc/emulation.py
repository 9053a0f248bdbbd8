"""Card-side answers of NFC Forum Type 2 and Type 4 tags, for the simulated card peer.

nfcpy emulates Type 3 tags itself; for Type 2 (NTAG, Ultralight) and Type 4 (ISO-DEP
with the NDEF application) the peer answers the reader's frames with these pure
handlers: a command frame in, the response frame out (None: the tag stays mute).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import ndef

_NDEF_AID = bytes.fromhex("D2760000850101")
_CC_FILE = b"\xe1\x03"
_NDEF_FILE = b"\xe1\x04"
OK = b"\x90\x00"
NOT_FOUND = b"\x6a\x82"
WRONG_PARAMS = b"\x6b\x00"
NOT_SUPPORTED = b"\x6d\x00"


def _message(records: Sequence[ndef.Record]) -> bytes:
    return b"".join(ndef.message_encoder(records))


def type2_memory(records: Sequence[ndef.Record], uid: bytes) -> bytes:
    """Pages of a read-only Type 2 tag (NTAG213 size) holding `records` in an NDEF TLV."""
    message = _message(records)
    size = len(message)
    length = bytes([size]) if size < 255 else b"\xff" + struct.pack(">H", size)
    data_area = b"\x03" + length + message + b"\xfe"
    if len(data_area) > 144:
        raise ValueError("NDEF message too large for the simulated Type 2 tag")
    # UID and lock bytes (pages 0-2), then the capability container: NDEF 1.0, 144
    # bytes of data, read-only (0x0F).
    if len(uid) != 7:
        raise ValueError("Type 2 tags have 7-byte UIDs")
    header = uid[:3] + bytes([0x88 ^ uid[0] ^ uid[1] ^ uid[2]]) + uid[3:7]
    header += bytes([uid[3] ^ uid[4] ^ uid[5] ^ uid[6], 0x48, 0xFF, 0xFF])  # BCC1, locks
    capability = b"\xe1\x10\x12\x0f"
    return (header + capability + data_area).ljust(16 + 144, b"\0")


class Type2Card:
    """Answers READ (0x30); anything else makes it go mute, as real tags do."""

    def __init__(self, memory: bytes) -> None:
        self.memory = memory

    def handle(self, command: bytes) -> bytes | None:
        """The response to `command`, or None for silence."""
        if len(command) == 2 and command[0] == 0x30:
            start = command[1] * 4
            if start >= len(self.memory):
                return b"\x00"  # NAK: address out of range
            window = self.memory[start : start + 16]
            return window + self.memory[: 16 - len(window)]  # reads roll over
        return None


def type4_files(records: Sequence[ndef.Record]) -> tuple[bytes, bytes]:
    """The capability container and NDEF file of a read-only Type 4 tag."""
    message = _message(records)
    ndef_file = struct.pack(">H", len(message)) + message
    capability = (
        struct.pack(">HBHH", 15, 0x20, 0xFF, 0xFF)  # CCLEN, version 2.0, MLe, MLc
        + b"\x04\x06" + _NDEF_FILE + struct.pack(">H", len(ndef_file))
        + b"\x00\xff"  # read access granted, write access none
    )  # fmt: skip
    return capability, ndef_file


class Type4Card:
    """ISO-DEP (ISO 14443-4) blocks around the NFC Forum NDEF application's APDUs."""

    # TL, T0 (TA, TB, TC present; FSCI 8 = 256 bytes), TA, TB (FWI 7), TC
    ATS = bytes.fromhex("0578807002")

    def __init__(self, capability: bytes, ndef_file: bytes) -> None:
        self.files = {_CC_FILE: capability, _NDEF_FILE: ndef_file}
        self._application = False
        self._selected: bytes | None = None
        self._block = 1  # block number of the last I-block we sent
        self._last = b""

    def handle(self, frame: bytes) -> bytes | None:
        """The response block to a reader block, or None for silence."""
        if not frame:
            return None
        pcb = frame[0]
        if pcb == 0xE0:  # RATS
            return self.ATS
        if pcb & 0xE2 == 0x02:  # I-block
            self._block = pcb & 1
            self._last = bytes([0x02 | self._block]) + self._apdu(frame[1:])
            return self._last
        if pcb & 0xF6 == 0xB2:  # R(NAK): presence check, or a lost answer
            if pcb & 1 == self._block and self._last:
                return self._last
            return bytes([0xA2 | self._block])
        if pcb & 0xF7 == 0xC2:  # S(DESELECT)
            return frame[:1]
        return None

    def _apdu(self, apdu: bytes) -> bytes:
        if len(apdu) < 4 or apdu[0] != 0x00:
            return NOT_SUPPORTED
        instruction, p1, p2 = apdu[1], apdu[2], apdu[3]
        body = apdu[5 : 5 + apdu[4]] if len(apdu) > 5 else b""
        if instruction == 0xA4 and p1 == 0x04:
            self._application = body == _NDEF_AID
            self._selected = None
            return OK if self._application else NOT_FOUND
        if instruction == 0xA4 and p1 == 0x00:
            if not self._application or body not in self.files:
                return NOT_FOUND
            self._selected = body
            return OK
        if instruction == 0xB0:
            if self._selected is None:
                return NOT_FOUND
            offset = (p1 << 8) | p2
            size = apdu[4] if len(apdu) == 5 and apdu[4] else 256
            content = self.files[self._selected]
            if offset > len(content):
                return WRONG_PARAMS
            return content[offset : offset + size] + OK
        return NOT_SUPPORTED
