"""NFC: card formats on real NDEF data, and the real nfcpy reader against a simulated card.

NDEF vectors and tag images come from the ndeflib (ISC) and nfcpy (EUPL-1.1) test
suites, read from tests/data/nfc/ndef_vectors.json (see tests/data/README.md).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import ndef
import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.errors import InputError
from devices.nfc.card_formats import (
    card_number_from_records,
    loyalty_records,
    parse_ndef,
)
from devices.nfc.emulation import Type2Card, Type4Card
from devices.nfc.inspect import read_tag
from devices.nfc.reader import NfcReader
from devices.nfc.simulated_card import SimulatedCardPeer, type3_memory
from devices.readings import CardRemoved, CardTap
from tests.conftest import TESTDATA

VECTORS = json.loads((TESTDATA / "nfc" / "ndef_vectors.json").read_text())["vectors"]


def vectors(kind: str) -> list[dict[str, Any]]:
    return [v for v in VECTORS if v["kind"] == kind]


@pytest.mark.parametrize("vector", vectors("ndef_message"), ids=lambda v: v["hex"][:16])
def test_valid_ndef_messages_decode_and_are_not_loyalty_cards(vector: dict[str, Any]) -> None:
    records = parse_ndef(bytes.fromhex(vector["hex"]))
    assert len(records) == len(vector["expected_fields"])
    texts = [r for r in records if isinstance(r, ndef.TextRecord)]
    if len(texts) != 1:  # a lone text record is read as a number, and these hold words
        with pytest.raises(InputError):
            card_number_from_records(records, b"\x04\x51\x7c")


@pytest.mark.parametrize("vector", vectors("ndef_message_invalid"), ids=lambda v: v["hex"][:16])
def test_malformed_ndef_is_a_typed_error(vector: dict[str, Any]) -> None:
    with pytest.raises(InputError) as caught:
        parse_ndef(bytes.fromhex(vector["hex"]))
    assert caught.value.kind == "NDEF message"


def test_borne_loyalty_card_and_uid_only_card() -> None:
    records = parse_ndef(b"".join(ndef.message_encoder(loyalty_records("9250 0000 0001 7"))))
    assert card_number_from_records(records, b"\x01\x02") == "9250000000017"
    assert card_number_from_records([], bytes.fromhex("04517ca1e1ed25")) == "uid:04517ca1e1ed25"
    assert card_number_from_records([ndef.TextRecord("92500000000 24")], b"") == "9250000000024"
    with pytest.raises(InputError):
        card_number_from_records([ndef.TextRecord("<script>")], b"")
    with pytest.raises(InputError):
        loyalty_records("12")


@given(st.binary(max_size=300))
def test_any_bytes_give_records_or_a_typed_error(octets: bytes) -> None:
    try:
        records = parse_ndef(octets)
    except InputError:
        return
    try:
        number = card_number_from_records(records, b"\x01\x02\x03\x04")
    except InputError:
        return
    assert number.isdigit() or number.startswith("uid:")


@pytest.fixture
def reader_and_card() -> Iterator[tuple[SimulatedCardPeer, list[CardTap], threading.Event]]:
    card = SimulatedCardPeer()
    taps: list[CardTap] = []
    arrived = threading.Event()

    def on_tap(reading: CardTap | CardRemoved) -> None:
        if isinstance(reading, CardTap):
            taps.append(reading)
            arrived.set()

    reader = NfcReader(card.path, on_tap)
    reader.start()
    yield card, taps, arrived
    reader.stop()
    card.close()


def test_lifting_the_card_is_reported_once() -> None:
    card = SimulatedCardPeer()
    readings: list[CardTap | CardRemoved] = []
    reader = NfcReader(card.path, readings.append)
    reader.start()
    try:
        card.tap(loyalty_records("9250000000017"), hold=0.5)
        deadline = time.monotonic() + 5
        while len(readings) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.5)  # nothing more comes
    finally:
        reader.stop()
        card.close()
    tap, removed = readings
    assert isinstance(tap, CardTap)
    assert isinstance(removed, CardRemoved)
    assert removed.uid == tap.uid
    assert removed.at - tap.at >= 0.4


def test_a_tap_is_read_once_by_the_real_reader(
    reader_and_card: tuple[SimulatedCardPeer, list[CardTap], threading.Event],
) -> None:
    card, taps, arrived = reader_and_card

    card.tap(loyalty_records("9250000000017"), hold=1.0)  # held a whole second

    assert arrived.wait(5)
    time.sleep(1.5)  # the card stays, then leaves: still one tap
    assert [tap.card_number for tap in taps] == ["9250000000017"]
    assert taps[0].tag_type == "Type3Tag"
    assert "9250000000017" not in repr(taps[0])
    arrived.clear()
    card.tap(loyalty_records("9250000000024"))
    assert arrived.wait(5)
    assert [tap.card_number for tap in taps][-1] == "9250000000024"


def test_a_real_felica_image_that_is_no_loyalty_card_is_refused(
    reader_and_card: tuple[SimulatedCardPeer, list[CardTap], threading.Event],
    caplog: pytest.LogCaptureFixture,
) -> None:
    card, taps, arrived = reader_and_card
    image = bytes.fromhex(vectors("type3_felica")[0]["memory_hex"])

    with caplog.at_level(logging.INFO, logger="devices.nfc.reader"):
        card.tap_memory(image)
        card.tap(loyalty_records("9250000000031"))
        assert arrived.wait(5)

    assert [tap.card_number for tap in taps] == ["9250000000031"]
    assert any("card refused" in r.getMessage() for r in caplog.records)


def test_a_missing_reader_is_reported_and_retried() -> None:
    from devices.backoff import Backoff
    from devices.status import DeviceState, DeviceStatus

    statuses: list[DeviceStatus] = []
    reader = NfcReader(
        "usb:ffff:fffe",
        lambda tap: None,
        on_status=statuses.append,
        backoff=Backoff(base=0.02, cap=0.05),
    )
    reader.start()
    try:
        for _ in range(200):
            if sum(s.state is DeviceState.MISSING for s in statuses) >= 2:
                break
            time.sleep(0.01)
    finally:
        reader.stop()
    missing = [s for s in statuses if s.state is DeviceState.MISSING]
    assert len(missing) >= 2, "the reader is looked for again"
    assert "usb:ffff:fffe" in missing[0].detail
    assert statuses[-1].state is DeviceState.STOPPED


@pytest.mark.parametrize("tag_type", [2, 3, 4])
def test_loyalty_cards_of_every_tag_type_are_read(
    reader_and_card: tuple[SimulatedCardPeer, list[CardTap], threading.Event], tag_type: int
) -> None:
    card, taps, arrived = reader_and_card

    card.tap(loyalty_records("9250000000024"), tag_type=tag_type)

    assert arrived.wait(5)
    assert taps[0].card_number == "9250000000024"
    assert taps[0].tag_type == f"Type{tag_type}Tag"


def test_type4_answers_match_a_real_apdu_exchange() -> None:
    # nfcpy's own test of a Type 4 tag: the reader's blocks and the tag's answers.
    (vector,) = vectors("type4_ndef_file")
    ndef_file = bytes.fromhex(vector["memory_hex"])
    card = Type4Card(bytes.fromhex("000f20003b00340406e10400400000"), ndef_file)
    card.handle(bytes.fromhex(vector["rats_cmd_hex"]))
    for command, response in vector["apdu_sequence (from test_read_ndef_data_failure_in_part)"]:
        expected = bytes.fromhex(response.split("(")[0].replace(" ", ""))
        assert card.handle(bytes.fromhex(command.replace(" ", ""))) == expected


@pytest.mark.parametrize(
    ("kind", "make"),
    [
        ("type2_generic", lambda v: Type2Card(bytes.fromhex(v["memory_hex"]))),
        (
            "type4_ndef_file",
            lambda v: Type4Card(
                bytes.fromhex(v["capability_container_hex"]), bytes.fromhex(v["memory_hex"])
            ),
        ),
    ],
)
def test_real_tag_images_read_through_the_real_reader(kind: str, make: Any) -> None:
    (vector,) = vectors(kind)
    card = SimulatedCardPeer()
    try:
        card.tap_card(make(vector), hold=1.0)
        tag = read_tag(card.path, timeout=5)
    finally:
        card.close()
    octets = b"".join(
        ndef.message_encoder(
            ndef.Record(r["type"], r["name"], bytes.fromhex(r["data_hex"])) for r in tag["records"]
        )
    )
    assert octets.hex() == vector["expected_ndef_octets_hex"]
    assert tag["borne_card"] is False  # real NDEF, but no loyalty card


class _SlippingMemory(bytes):
    """A Type 3 card's memory that slips as the card is laid down: the first read of its
    NDEF data finds nothing, as when the antenna loses the card for a moment."""

    slipped = False

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, slice) and (key.start or 0) >= 16 and not type(self).slipped:
            type(self).slipped = True
            return b""
        return super().__getitem__(key)


def test_a_card_that_slips_mid_read_is_read_again_not_taken_for_a_uid_card(
    reader_and_card: tuple[SimulatedCardPeer, list[CardTap], threading.Event],
) -> None:
    card, taps, arrived = reader_and_card

    card.tap_memory(_SlippingMemory(type3_memory(loyalty_records("9250000000024"))), hold=1.0)

    assert arrived.wait(5)
    assert _SlippingMemory.slipped
    assert taps[0].card_number == "9250000000024"
