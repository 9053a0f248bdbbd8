"""Read one tag and describe it (`borne nfc read`): for installers checking a reader."""

from __future__ import annotations

import threading
import time
from typing import Any

import ndef

from devices.errors import DeviceError, InputError
from devices.nfc.card_formats import card_number_from_records, parse_ndef
from devices.nfc.reader import open_frontend, targets_for


def _record(record: ndef.Record) -> dict[str, Any]:
    described: dict[str, Any] = {
        "type": record.type,
        "name": record.name,
        "data_hex": bytes(record.data).hex(),
    }
    if isinstance(record, ndef.TextRecord):
        described["text"] = record.text
        described["language"] = record.language
    elif isinstance(record, ndef.UriRecord):
        described["uri"] = record.iri
    return described


def describe_tag(tag: Any) -> dict[str, Any]:
    """UID, tag type, NDEF records, and whether Borne reads it as a card."""
    uid = bytes(tag.identifier or b"")
    described: dict[str, Any] = {"uid": uid.hex(), "type": str(tag.type), "records": []}
    try:
        octets = bytes(tag.ndef.octets) if tag.ndef is not None else b""
        records = parse_ndef(octets)
    except InputError as error:
        described["error"] = error.reason
        return described
    described["records"] = [_record(r) for r in records]
    try:
        card_number_from_records(records, uid)
        described["borne_card"] = True
    except InputError as error:
        described["borne_card"] = False
        described["borne_card_reason"] = error.reason
    return described


def read_tag(path: str, timeout: float) -> dict[str, Any]:
    """Wait up to `timeout` seconds for a tag on the reader at `path` and describe it."""
    try:
        frontend = open_frontend(path)
    except OSError as error:
        raise DeviceError("nfc", f"no reader on {path}: {error}") from None
    found: list[dict[str, Any]] = []
    done = threading.Event()
    deadline = time.monotonic() + timeout

    def connected(tag: Any) -> bool:
        found.append(describe_tag(tag))
        done.set()
        return False  # do not wait for removal

    try:
        while not done.is_set() and time.monotonic() < deadline:
            frontend.connect(
                rdwr={
                    "targets": targets_for(path),
                    "on-connect": connected,
                    "iterations": 1,
                    "interval": 0.05,
                    "beep-on-connect": False,
                },
                terminate=lambda: done.is_set() or time.monotonic() >= deadline,
            )
    finally:
        frontend.close()
    if not found:
        raise DeviceError("nfc", f"no tag on {path} within {timeout:g} s")
    return found[0]
