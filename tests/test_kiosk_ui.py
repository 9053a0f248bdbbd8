"""The kiosk in a real Kivy window under Xvfb, driven through the simulated devices.

Screenshots are read back with tesseract: the assertions are about what a shopper
would actually see on the screen.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from devices.barcode.decoder import BarcodeDecoder, as_frame
from tests.conftest import BORNE

pytestmark = pytest.mark.ui


def _ocr(image: Path) -> str:
    result = subprocess.run(
        ["tesseract", str(image), "stdout", "-l", "fra+eng"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return " ".join(result.stdout.split())


def screen_text(image: Path) -> str:
    """The words on a screenshot as OCR reads them: as shown, and with light text
    turned black on white (white on orange or green buttons reads poorly otherwise)."""
    pixels = cv2.imread(str(image))
    assert pixels is not None
    # Twice the size: tesseract reads small muted text far better.
    pixels = cv2.resize(pixels, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    as_shown = image.with_name(f"{image.stem}.x2.png")
    cv2.imwrite(str(as_shown), pixels)
    light = np.where(pixels.min(axis=2) > 200, 0, 255).astype(np.uint8)
    binarized = image.with_name(f"{image.stem}.light.png")
    cv2.imwrite(str(binarized), light)
    return _ocr(as_shown) + " | " + _ocr(binarized)


@pytest.fixture(scope="module")
def journey_run(tmp_path_factory: pytest.TempPathFactory, display: str) -> Path:
    """One scripted journey through the kiosk; its screenshots folder."""
    base = tmp_path_factory.mktemp("ui")
    config = base / "kiosk.toml"
    config.write_text(
        f'[storage]\ndata_dir = "{base / "data"}"\nsynchronous = "normal"\n'
        '[devices]\nhid = "keyboard"\n'  # the Kivy fallback for wedge scanners
    )
    journey = base / "journey.json"
    journey.write_text(
        json.dumps(
            [
                {"screenshot": "attract"},
                {"tap_card": "9250000000017"},
                {"screenshot": "welcome"},
                {"scan": "3760123450010"},
                {"screenshot": "product"},
                {"scan": "3760123459990"},
                {"screenshot": "unknown"},
                {"press": "home"},
                {"screenshot": "after_home"},
                {"tap_card": "9250000000031"},
                {"screenshot": "welcome_no_consent"},
                {"keys": "3760123450041"},
                {"screenshot": "wedge_scan"},
                {"press": "deliver"},
                {"screenshot": "handoff"},
                {"press": "close"},
                {"press": "language"},
                {"screenshot": "product_en"},
                {"press": "assist"},
                {"screenshot": "assist_en"},
                {"press": "home"},
                {"screenshot": "attract_after_english"},
                {"tap_card": "9250000000024"},
                {"idle": True},
                {"screenshot": "idle_warning"},
                {"idle": True},
                {"screenshot": "after_idle"},
            ]
        )
    )
    shots = base / "shots"
    result = subprocess.run(
        [
            *BORNE,
            "demo",
            "--windowed",
            "--config",
            str(config),
            "--journey",
            str(journey),
            "--screenshots",
            str(shots),
        ],
        env={**os.environ, "DISPLAY": display, "KIVY_HOME": str(base / "kivy")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return shots


def test_attract_screen_invites_a_scan_or_a_card(journey_run: Path) -> None:
    text = screen_text(journey_run / "attract.png")
    assert "Bienvenue" in text
    assert "carte de fidélité" in text


def test_a_tapped_card_greets_the_shopper_with_their_points(journey_run: Path) -> None:
    text = screen_text(journey_run / "welcome.png")
    assert "Bonjour Camille" in text
    assert "1 250 points" in text


def test_a_shopper_who_declined_personalisation_is_not_named(journey_run: Path) -> None:
    text = screen_text(journey_run / "welcome_no_consent.png")
    assert "Bonjour" in text
    assert "Louise" not in text
    assert "4 890" not in text


def test_a_scanned_product_shows_price_rating_and_stock(journey_run: Path) -> None:
    image = journey_run / "product.png"
    text = screen_text(image)
    assert "Casque sans fil Nomade ANC" in text
    assert "129,99 €" in text
    assert "214 avis" in text
    assert "7 en magasin" in text
    assert "Lyon Part-Dieu : 3" in text
    assert "Lille Grand Place : épuisé" in text
    assert "Les avis les plus utiles" in text
    assert "Réduction de bruit bluffante" in text  # the most helpful review first
    assert "Julie" in text
    # The rating is drawn as stars: 4.5 of 5, so the stars' row holds amber pixels.
    pixels = cv2.imread(str(image))
    assert pixels is not None
    amber = np.all(np.abs(pixels.astype(int) - (46, 189, 255)) < 40, axis=2)
    assert amber.sum() > 500


def test_an_unknown_barcode_gets_a_kind_message(journey_run: Path) -> None:
    assert "Nous ne trouvons pas ce produit" in screen_text(journey_run / "unknown.png")


def test_home_wipes_the_shopper_from_the_screen(journey_run: Path) -> None:
    text = screen_text(journey_run / "after_home.png")
    assert "Bienvenue" in text
    assert "Camille" not in text
    assert "Casque" not in text


def test_every_screen_change_was_recorded_as_an_event(journey_run: Path) -> None:
    outbox = journey_run.parent / "data" / "outbox.sqlite"
    with sqlite3.connect(outbox) as db:
        payloads = [json.loads(row[0]) for row in db.execute("SELECT payload FROM events")]
    types = [event["type"].removeprefix("io.borne.") for event in payloads]
    assert types == [
        "session.started",
        "card.tapped",
        "product.scanned",
        "product.scanned",
        "session.ended",
        "session.started",
        "card.tapped",
        "product.scanned",
        "handoff.shown",
        "language.changed",
        "assist.requested",
        "session.ended",
        "session.started",
        "card.tapped",
        "session.ended",
    ]
    assert payloads[-6]["data"]["language"] == "en"
    assert payloads[-5]["data"]["gtin"] == "03760123450041"  # the product in view
    assert payloads[-1]["data"]["reason"] == "idle"
    scans = [event["data"] for event in payloads if event["type"].endswith("scanned")]
    assert [(s["gtin"], s["found"], s["symbology"]) for s in scans] == [
        ("03760123450010", True, "ean13"),
        ("03760123459990", False, "ean13"),
        ("03760123450041", True, "keyboard"),
    ]


def test_a_keyboard_wedge_scan_shows_the_product(journey_run: Path) -> None:
    text = screen_text(journey_run / "wedge_scan.png")
    assert "Cafetière à piston 1 L" in text
    assert "34,90 €" in text


def test_english_at_a_touch_with_prices_in_english(journey_run: Path) -> None:
    text = screen_text(journey_run / "product_en.png")
    assert "French press 1 L" in text
    assert "€34.90" in text
    assert "views" in text  # "542 reviews", beside the stars that OCR reads as noise
    assert "15 in store" in text
    assert "200 available, delivered in 2" in text


def test_calling_an_advisor_is_confirmed_on_screen(journey_run: Path) -> None:
    assert "An advisor is on the way" in screen_text(journey_run / "assist_en.png")


def test_the_next_shopper_gets_french_again(journey_run: Path) -> None:
    text = screen_text(journey_run / "attract_after_english.png")
    assert "Bienvenue" in text
    assert "English" in text  # the button that offers English


def test_an_idle_shopper_is_asked_then_wiped(journey_run: Path) -> None:
    warning = screen_text(journey_run / "idle_warning.png")
    assert "toujours là" in warning
    assert "Continuer" in warning
    after = screen_text(journey_run / "after_idle.png")
    assert "Bienvenue" in after
    assert "Mehdi" not in after


def test_get_it_delivered_hands_the_product_page_to_a_phone(journey_run: Path) -> None:
    assert "téléphone" in screen_text(journey_run / "handoff.png")
    pixels = cv2.imread(str(journey_run / "handoff.png"))
    assert pixels is not None
    codes = BarcodeDecoder(thorough=True).decode(as_frame(pixels))
    assert [code.text for code in codes] == [
        "https://www.borne-demo.fr/produit/3760123450041?store=demo-store&fulfilment=delivery"
    ]
