"""Beacon frames inside BLE advertisements: iBeacon, Eddystone, AltBeacon. Pure functions.

Input is what bleak's `AdvertisementData` carries (manufacturer data by company id,
service data by 128-bit UUID), or raw advertising bytes split by `split_gap`. A
corrupt frame is an InputError; `parse_advertisement` keeps the good frames of an
advertisement and counts the corrupt ones.
"""

from __future__ import annotations

import re
import struct
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from devices.errors import InputError

APPLE = 0x004C
EDDYSTONE = "0000feaa-0000-1000-8000-00805f9b34fb"
_BASE_UUID = "-0000-1000-8000-00805f9b34fb"
# Phones and cars that advertise a throw-away iBeacon name themselves "S" + 16 hex + "C".
_TRANSIENT_NAME = re.compile(r"^S[0-9a-fA-F]{16}C$")


@dataclass(frozen=True, slots=True)
class IBeacon:
    """Apple iBeacon: proximity UUID, major, minor, measured power at 1 m."""

    uuid: str
    major: int
    minor: int
    tx_power: int


@dataclass(frozen=True, slots=True)
class AltBeacon:
    """AltBeacon: a 20-byte id (as UUID + two 16-bit parts), reference RSSI at 1 m."""

    company_id: int
    id1: str
    id2: int
    id3: int
    ref_rssi: int
    mfg_reserved: int


@dataclass(frozen=True, slots=True)
class EddystoneUID:
    """Eddystone-UID: 10-byte namespace, 6-byte instance, power at 0 m."""

    namespace: str
    instance: str
    tx_power: int


@dataclass(frozen=True, slots=True)
class EddystoneURL:
    """Eddystone-URL: a compressed URL."""

    url: str
    tx_power: int


@dataclass(frozen=True, slots=True)
class EddystoneTLM:
    """Eddystone-TLM (plain): battery, temperature (None if unsupported), counters."""

    battery_mv: int
    temperature_c: float | None
    adv_count: int
    seconds_since_boot: float


@dataclass(frozen=True, slots=True)
class EddystoneETLM:
    """Eddystone-TLM, encrypted: only the beacon's owner can read it."""

    encrypted_hex: str
    salt: int
    mic: int


@dataclass(frozen=True, slots=True)
class EddystoneEID:
    """Eddystone-EID: a rotating ephemeral id."""

    eid_hex: str
    tx_power: int


Frame = (
    IBeacon | AltBeacon | EddystoneUID | EddystoneURL | EddystoneTLM | EddystoneETLM | EddystoneEID
)


@dataclass(frozen=True, slots=True)
class ParsedAdvertisement:
    """The frames found in one advertisement, and how many were corrupt."""

    frames: tuple[Frame, ...]
    corrupt: int = 0
    errors: tuple[str, ...] = field(default=(), compare=False)


def _signed(byte: int) -> int:
    return byte - 256 if byte > 127 else byte


def parse_ibeacon(data: bytes) -> IBeacon:
    """Apple manufacturer data (after the company id): 02 15, UUID, major, minor, power."""
    if len(data) < 23 or data[0] != 0x02 or data[1] != 0x15:
        raise InputError("iBeacon frame", "not an iBeacon (type 02, length 0x15)")
    return IBeacon(
        uuid=str(uuid.UUID(bytes=bytes(data[2:18]))),
        major=int.from_bytes(data[18:20], "big"),
        minor=int.from_bytes(data[20:22], "big"),
        tx_power=_signed(data[22]),
    )


def parse_altbeacon(company_id: int, data: bytes) -> AltBeacon:
    """Manufacturer data (after the company id): BE AC, 20-byte id, ref RSSI, reserved."""
    if len(data) != 24 or data[:2] != b"\xbe\xac":
        raise InputError("AltBeacon frame", "not an AltBeacon (code BEAC, 24 bytes)")
    return AltBeacon(
        company_id=company_id,
        id1=str(uuid.UUID(bytes=bytes(data[2:18]))),
        id2=int.from_bytes(data[18:20], "big"),
        id3=int.from_bytes(data[20:22], "big"),
        ref_rssi=_signed(data[22]),
        mfg_reserved=data[23],
    )


_URL_SCHEMES = ("http://www.", "https://www.", "http://", "https://")
_URL_CODES = (
    ".com/", ".org/", ".edu/", ".net/", ".info/", ".biz/", ".gov/",
    ".com", ".org", ".edu", ".net", ".info", ".biz", ".gov",
)  # fmt: skip


def _eddystone_url(data: bytes) -> EddystoneURL:
    if len(data) < 3 or data[2] >= len(_URL_SCHEMES) or len(data) > 20:
        raise InputError("Eddystone-URL frame", "bad scheme or length")
    parts = [_URL_SCHEMES[data[2]]]
    for byte in data[3:]:
        if byte < len(_URL_CODES):
            parts.append(_URL_CODES[byte])
        elif 0x21 <= byte <= 0x7E:
            parts.append(chr(byte))
        else:
            raise InputError("Eddystone-URL frame", "byte outside the URL encoding")
    return EddystoneURL("".join(parts), _signed(data[1]))


def parse_eddystone(data: bytes) -> Frame:
    """Service data of UUID FEAA: UID, URL, TLM (plain or encrypted) or EID."""
    if not data:
        raise InputError("Eddystone frame", "empty")
    kind = data[0]
    if kind == 0x00:
        if len(data) not in (18, 20):
            raise InputError("Eddystone-UID frame", "expected 18 or 20 bytes")
        return EddystoneUID(data[2:12].hex(), data[12:18].hex(), _signed(data[1]))
    if kind == 0x10:
        return _eddystone_url(data)
    if kind == 0x20 and len(data) >= 2 and data[1] == 0x00:
        if len(data) != 14:
            raise InputError("Eddystone-TLM frame", "expected 14 bytes")
        battery, temperature, count, ticks = struct.unpack(">HhII", data[2:14])
        celsius = None if temperature == -0x8000 else temperature / 256
        return EddystoneTLM(battery, celsius, count, ticks / 10)
    if kind == 0x20 and len(data) >= 2 and data[1] == 0x01:
        if len(data) != 18:
            raise InputError("Eddystone-eTLM frame", "expected 18 bytes")
        salt, mic = struct.unpack(">HH", data[14:18])
        return EddystoneETLM(data[2:14].hex(), salt, mic)
    if kind == 0x30:
        if len(data) != 10:
            raise InputError("Eddystone-EID frame", "expected 10 bytes")
        return EddystoneEID(data[2:10].hex(), _signed(data[1]))
    raise InputError("Eddystone frame", f"unknown frame type {kind:#04x}")


def parse_advertisement(
    manufacturer_data: Mapping[int, bytes],
    service_data: Mapping[str, bytes],
    local_name: str | None = None,
) -> ParsedAdvertisement:
    """Every beacon frame in one advertisement (bleak's shape)."""
    frames: list[Frame] = []
    errors: list[str] = []
    for company_id, data in manufacturer_data.items():
        try:
            if company_id == APPLE and data[:2] == b"\x02\x15":
                if local_name is not None and _TRANSIENT_NAME.match(local_name):
                    continue  # a random, short-lived iBeacon: nobody's store app
                frames.append(parse_ibeacon(data))
            elif data[:2] == b"\xbe\xac":
                frames.append(parse_altbeacon(company_id, data))
        except InputError as error:
            errors.append(str(error))
    eddystone = service_data.get(EDDYSTONE)
    if eddystone is not None:
        try:
            frames.append(parse_eddystone(eddystone))
        except InputError as error:
            errors.append(str(error))
    return ParsedAdvertisement(tuple(frames), len(errors), tuple(errors))


@dataclass(frozen=True, slots=True)
class GapFields:
    """The fields of raw advertising data that beacons use, as bleak reports them."""

    local_name: str | None
    manufacturer_data: dict[int, bytes]
    service_data: dict[str, bytes]
    service_uuids: list[str]
    tx_power: int | None
    truncated: bool = False  # a structure ran past the end: it and what follows were dropped


def _uuid16(value: int) -> str:
    return f"0000{value:04x}{_BASE_UUID}"


def split_gap(raw: bytes) -> GapFields:
    """Split raw advertising data into AD structures (Core Spec Vol 3, Part C, 11).

    A structure whose length runs past the end is dropped (`truncated`), as is
    anything after it: those bytes are not to be trusted. What came before is kept,
    as bluetooth-data-tools and the BlueZ stack do.
    """
    name: str | None = None
    manufacturer: dict[int, bytes] = {}
    services: dict[str, bytes] = {}
    uuids: list[str] = []
    tx_power: int | None = None
    truncated = False
    position = 0
    while position < len(raw):
        length = raw[position]
        if length == 0:
            break  # the rest is padding
        if position + 1 + length > len(raw):
            truncated = True
            break
        kind = raw[position + 1]
        value = raw[position + 2 : position + 1 + length]
        position += 1 + length
        if kind in (0x08, 0x09):
            name = value.decode("utf-8", errors="replace")
        elif kind == 0xFF and len(value) >= 2:
            manufacturer[int.from_bytes(value[:2], "little")] = bytes(value[2:])
        elif kind == 0x16 and len(value) >= 2:
            services[_uuid16(int.from_bytes(value[:2], "little"))] = bytes(value[2:])
        elif kind in (0x02, 0x03):
            uuids += [
                _uuid16(int.from_bytes(value[i : i + 2], "little"))
                for i in range(0, len(value) - 1, 2)
            ]
        elif kind == 0x0A and len(value) == 1:
            tx_power = _signed(value[0])
    return GapFields(name, manufacturer, services, uuids, tx_power, truncated)
