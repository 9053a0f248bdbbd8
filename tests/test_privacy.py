"""A shopper's own numbers never leave the kiosk, whichever way they were read.

A loyalty card tapped on the reader, shown to the camera (a plastic card, a phone
wallet pass) or typed by a wedge scanner greets the same shopper under the same
pseudonym; coupons and in-store numbers are never reported as digits; searches and
logs mask them too.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.barcode.gs1 import gtin_check_digit
from devices.nfc.card_formats import loyalty_records
from devices.readings import BarcodeScan
from edge.bootstrap import build_runtime
from edge.config import load_config
from edge.demo import demo_cards, with_demo_store
from edge.intents import EndSession, OpenSearch, Search, TypeText
from edge.logs import QuietLibraries, RedactingFilter
from edge.privacy import CodePolicy, restricted_circulation
from edge.pseudonym import Domain, Pseudonyms, derive_key
from edge.runtime import Runtime
from edge.session import Screen, SessionView
from tests.asyncapi import check_message
from tests.conftest import write_config

CARDS = dict(demo_cards())  # first name -> card number


def with_check_digit(body: str) -> str:
    """A valid GTIN from its body."""
    return body + str(gtin_check_digit(body))


@pytest.mark.parametrize(
    ("gtin13", "restricted"),
    [
        (with_check_digit("376012345001"), False),  # a French product
        (with_check_digit("400638133393"), False),  # a German product
        (with_check_digit("978014300723"), False),  # a book (ISBN)
        (with_check_digit("200000012345"), True),  # an in-store number
        (with_check_digit("290123400500"), True),  # a variable-weight label (price inside)
        (with_check_digit("021234500000"), True),  # UPC-A 2...: variable measure
        (with_check_digit("041234500000"), True),  # UPC-A 4...: in-company
        (with_check_digit("051234500000"), True),  # UPC-A 5...: a coupon
        (with_check_digit("981234500000"), True),  # a coupon
        (with_check_digit("991234500000"), True),  # a coupon
        ("0000020123457", True),  # an in-store EAN-8 (2...), written long
        ("0000096385074", False),  # an ordinary EAN-8, written long
    ],
)
def test_restricted_circulation_numbers_are_told_from_products(
    gtin13: str, restricted: bool
) -> None:
    assert restricted_circulation("0" + gtin13) is restricted


@given(st.text(max_size=40))
def test_any_code_text_is_classified_without_error(text: str) -> None:
    scan = BarcodeScan("qrcode", text, None, "test", 0.0, kind="text")
    number = CodePolicy(("925",)).loyalty_number(scan)
    assert number is None or (number.isdigit() and number.startswith("925"))


@given(st.from_regex(r"[0-9]{14}", fullmatch=True))
def test_any_gtin_is_classified_without_error(gtin: str) -> None:
    scan = BarcodeScan("ean13", gtin[1:], gtin, "test", 0.0)
    assert CodePolicy().product_gtin(scan) in (gtin, None)


def test_each_purpose_has_its_own_key() -> None:
    secret = bytes(range(32))
    pseudonyms = Pseudonyms.from_secret(secret)
    # The same digits as a card and as a beacon id: unrelated pseudonyms.
    assert pseudonyms.card("9250000000017") != pseudonyms.beacon("9250000000017")
    assert derive_key(secret, Domain.CARD) != secret
    with pytest.raises(ValueError, match="128 bits"):
        Pseudonyms.from_secret(b"short")


@pytest.fixture
def redacted_log() -> Iterator[io.StringIO]:
    """Everything logged, at every level, as support would read it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(QuietLibraries())
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


async def _settled(runtime: Runtime, wanted: str, since: int) -> SessionView:
    async with asyncio.timeout(15):
        await runtime.wait_for_change(since)
        return await runtime.wait_for_view(lambda view: view.screen.value == wanted)


def test_a_card_greets_the_same_shopper_however_it_is_read(
    tmp_path: Path, redacted_log: io.StringIO
) -> None:
    config = with_demo_store(
        load_config(
            write_config(
                tmp_path / "kiosk.toml",
                tmp_path / "data",
                devices='camera = "simulated"\nnfc = "simulated"\nhid = "simulated"',
            )
        )
    )
    camille, mehdi, louise = CARDS["Camille"], CARDS["Mehdi"], CARDS["Louise"]
    coupon = with_check_digit("981234500000")
    unknown_card = "9250000000018"  # 8 is not its GS1 check digit

    async def scenario() -> tuple[list[str], list[bytes]]:
        runtime, simulators = await build_runtime(config, camera_fps=None, simulators_allowed=True)
        camera, card, wedge = simulators.camera, simulators.card, simulators.wedge
        assert camera
        assert card
        assert wedge
        greeted: list[str] = []

        async def greet(present: Callable[[], None]) -> None:
            since = runtime.changes
            present()
            view = await _settled(runtime, "welcome", since)
            assert view.customer is not None
            greeted.append(view.customer.first_name)

        await runtime.start()
        try:
            # On the NFC reader; its barcode shown to the camera (a plastic card, a phone
            # wallet pass); another card typed by a handheld wedge scanner.
            await greet(lambda: card.tap(loyalty_records(camille), hold=0.15))
            await runtime.ask(EndSession("home"))
            await greet(lambda: camera.show(camille))
            await runtime.ask(EndSession("home"))
            await greet(lambda: wedge.type_code(mehdi))
            # A card from the retailer's range without a GS1 check digit (a Code 128
            # card read by the wedge): still a card, of nobody the kiosk knows.
            since = runtime.changes
            wedge.type_code(unknown_card)
            view = await _settled(runtime, "welcome", since)
            assert view.customer is None
            # A coupon's barcode: shown as no product, never reported as digits.
            since = runtime.changes
            camera.show(coupon)
            view = await _settled(runtime, Screen.UNKNOWN_PRODUCT.value, since)
            assert view.scanned_gtin is None
            # A card number typed into the search, in one run, then in groups of four.
            for typed in (louise, " ".join(louise[i : i + 4] for i in range(0, 13, 4))):
                await runtime.ask(OpenSearch())
                await runtime.ask(TypeText(typed))
                await runtime.ask(Search())
            await runtime.ask(EndSession("home"))
            rows = [event.payload for event in await runtime.outbox.pending(0, 1000)]
        finally:
            await runtime.close()
            simulators.close()
        return greeted, rows

    greeted, rows = asyncio.run(scenario())

    assert greeted == ["Camille", "Camille", "Mehdi"]
    events = [json.loads(row) for row in rows]
    for event in events:  # the restricted kind is part of the contract
        check_message(
            f"borne/v1/devices/kiosk-07/events/{event['type'][9:]}", json.dumps(event).encode()
        )
    taps = [e["data"]["loyalty_pseudonym"] for e in events if e["type"] == "io.borne.card.tapped"]
    assert len(taps) == 4
    assert taps[0] == taps[1] != taps[2]  # NFC and camera: one shopper, one pseudonym
    scanned = [e["data"] for e in events if e["type"] == "io.borne.product.scanned"]
    assert scanned == [
        {
            "session_id": scanned[0]["session_id"],
            "gtin": None,
            "code_kind": "restricted",
            "symbology": "ean13",
            "found": False,
            "scanner": scanned[0]["scanner"],
        }
    ]
    searches = [e["data"]["query"] for e in events if e["type"] == "io.borne.search.performed"]
    assert searches == ["#", "#"]
    everything = b"".join(rows).decode() + redacted_log.getvalue()
    for number in (camille, mehdi, louise, coupon, unknown_card):
        assert number not in everything
        assert number[1:-1] not in everything  # not even without its first and last digits
