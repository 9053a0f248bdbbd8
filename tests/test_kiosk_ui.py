"""The kiosk in a real Kivy window under Xvfb, driven through the simulated devices.

Screenshots are read back with tesseract: the assertions are about what a shopper
would actually see on the screen.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from devices.barcode.decoder import BarcodeDecoder, as_frame
from edge.bootstrap import catalog_place, open_stream_catalog
from edge.catalog_sync import CatalogFollower
from edge.config import load_config
from edge.demo import DEMO_STORE
from edge.lockdown import hash_pin
from edge.sync.messages import Stream
from kiosk.screens.attract import SLIDE_SECONDS
from tests.asyncapi import check_message
from tests.conftest import BORNE, ROOT, assert_no_card_number
from tests.mosquitto import free_port

pytestmark = pytest.mark.ui

STAFF_PIN = "4242"
JOURNEY: list[dict[str, Any]] = [
    {"screenshot": "attract"},
    {"wait": SLIDE_SECONDS + 0.5},
    {"screenshot": "attract_next"},
    {"tap_card": "9250000000017"},
    {"screenshot": "welcome"},
    {"scan": "3760123450010"},
    {"screenshot": "product"},
    {"press": "reviews"},
    {"screenshot": "reviews"},
    {"press": "close_reviews"},
    {"press": "similar_1"},
    {"screenshot": "similar"},
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
    {"press": "browse"},
    {"screenshot": "shelves"},
    {"press": "category_jeux"},
    {"screenshot": "shelf"},
    {"press": "product_1"},
    {"screenshot": "from_shelf"},
    {"press": "back"},
    {"screenshot": "back_to_shelf"},
    {"press": "language"},
    {"press": "search"},
    {"type": "cafetiere"},
    {"press": "key_search"},
    {"screenshot": "search_en"},
    {"press": "product_1"},
    {"press": "accessibility"},
    {"screenshot": "accessibility"},
    {"press": "contrast"},
    {"press": "large_text"},
    {"press": "low_controls"},
    {"press": "close_accessibility"},
    {"screenshot": "accessible"},
    {"press": "home"},
    {"screenshot": "attract_after_accessible"},
    {"press": "staff"},
    {"press": "pin_1"},
    {"press": "pin_2"},
    {"press": "pin_3"},
    {"press": "pin_4"},
    {"press": "pin_ok"},
    {"wait": 0.5},
    {"screenshot": "wrong_pin"},
    {"press": "pin_cancel"},
    {"scan": "9250000000024"},  # Mehdi's loyalty card shown to the camera, not tapped
    {"screenshot": "card_shown"},
    {"idle": True},
    {"screenshot": "idle_warning"},
    {"idle": True},
    {"screenshot": "after_idle"},
    {"press": "staff"},
    *({"press": f"pin_{digit}"} for digit in STAFF_PIN),
    {"press": "pin_ok"},
    {"wait": 5},  # the kiosk closes before this ends
]


def _ocr(image: Path, languages: str = "fra+eng") -> str:
    """The words tesseract reads on an image, on one line."""
    result = subprocess.run(
        ["tesseract", str(image), "stdout", "-l", languages],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return " ".join(result.stdout.split())


def screen_text(image: Path) -> str:
    """The words on a screenshot as OCR reads them: as shown, and with light text (white,
    amber prices) turned black on white (white on orange buttons reads poorly otherwise)."""
    pixels = cv2.imread(str(image))
    assert pixels is not None
    # Twice the size: tesseract reads small muted text far better.
    pixels = cv2.resize(pixels, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    as_shown = image.with_name(f"{image.stem}.x2.png")
    cv2.imwrite(str(as_shown), pixels)
    # White, amber and yellow text (blue-green-red order): black on white for tesseract.
    light = np.where((pixels[:, :, 2] > 200) & (pixels[:, :, 1] > 150), 0, 255).astype(np.uint8)
    binarized = image.with_name(f"{image.stem}.light.png")
    cv2.imwrite(str(binarized), light)
    text = _ocr(as_shown) + " | " + _ocr(binarized)
    # The narrow space of "34,90 €" is read sometimes as a space, sometimes as nothing.
    return re.sub(r"(\d)\s*€", r"\1 €", text)


def play(journey: Path, base: Path, display: str, env: dict[str, str] | None = None) -> Path:
    """Play `journey` in the kiosk with `base`/kiosk.toml, as an installer would; the
    screenshots folder. The run must end well (the last step may be the staff PIN)."""
    shots = base / "shots"
    result = subprocess.run(
        [
            *BORNE,
            "demo",
            "--windowed",
            "--config",
            str(base / "kiosk.toml"),
            "--journey",
            str(journey),
            "--screenshots",
            str(shots),
        ],
        env={**os.environ, "DISPLAY": display, "KIVY_HOME": str(base / "kivy"), **(env or {})},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert_no_card_number(result.stderr)
    return shots


@pytest.fixture(scope="module")
def journey_run(tmp_path_factory: pytest.TempPathFactory, display: str) -> Path:
    """One scripted journey through the kiosk; its screenshots folder."""
    base = tmp_path_factory.mktemp("ui")
    config = base / "kiosk.toml"
    config.write_text(
        f'[storage]\ndata_dir = "{base / "data"}"\nsynchronous = "normal"\n'
        '[devices]\nhid = "keyboard"\n'  # the Kivy fallback for wedge scanners
        f'[kiosk]\nexit_pin_hash = "{hash_pin(STAFF_PIN, iterations=10_000)}"\n'
    )
    journey = base / "journey.json"
    journey.write_text(json.dumps(JOURNEY))
    # A dummy sound card: the chime of each scan is played through SDL's real path.
    return play(journey, base, display, {"SDL_AUDIODRIVER": "dummy"})


def buttons(shots: Path, name: str) -> dict[str, dict[str, Any]]:
    """The buttons a shopper could touch on screenshot `name`, by id."""
    found = json.loads((shots / f"{name}.buttons.json").read_text())
    return {button["id"]: button for button in found}


def events(shots: Path) -> list[dict[str, Any]]:
    """Every event the journey committed to the outbox, in order."""
    with sqlite3.connect(shots.parent / "data" / "outbox.sqlite") as db:
        return [json.loads(row[0]) for row in db.execute("SELECT payload FROM events")]


def share(image: Path, rgb: tuple[int, int, int]) -> float:
    """The share of the screenshot's pixels that are (about) this colour."""
    pixels = cv2.imread(str(image))
    assert pixels is not None
    bgr = np.array(rgb[::-1])
    return float(np.all(np.abs(pixels.astype(int) - bgr) < 12, axis=2).mean())


NAVY = (15, 28, 46)
GREEN = (92, 209, 133)
PANEL = (28, 43, 66)
ACCENT = (204, 69, 23)


def colour_inside(image: Path, button: dict[str, Any]) -> tuple[int, int, int]:
    """The colour just inside a button's lower left corner (away from its text)."""
    pixels = cv2.imread(str(image))
    assert pixels is not None
    x, y = button["pos_dp"]  # window coordinates: the origin is at the bottom left
    blue, green, red = pixels[pixels.shape[0] - 1 - (y + 6), x + 6]
    return int(red), int(green), int(blue)


def near(colour: tuple[int, int, int], expected: tuple[int, int, int]) -> bool:
    return all(abs(a - b) <= 12 for a, b in zip(colour, expected, strict=True))


def test_attract_loops_over_the_promotions_and_invites_a_scan_or_a_card(
    journey_run: Path,
) -> None:
    text = screen_text(journey_run / "attract.png")
    assert "Bienvenue" in text
    assert "carte de fidélité" in text
    assert "casque Nomade" in text  # the first promotion
    assert "99,99 €" in text
    assert {"promotion", "browse", "search"} <= buttons(journey_run, "attract").keys()
    after_a_while = screen_text(journey_run / "attract_next.png")
    assert "cocotte" in after_a_while  # the next promotion
    assert "99,00 €" in after_a_while


def test_a_tapped_card_greets_the_shopper_with_their_points_and_offers(journey_run: Path) -> None:
    text = screen_text(journey_run / "welcome.png")
    assert "Bonjour Camille" in text
    assert "1 250 points" in text
    assert "Vos offres" in text
    assert "points doublés sur la cuisine" in text


def test_a_shopper_who_declined_personalisation_is_not_named(journey_run: Path) -> None:
    text = screen_text(journey_run / "welcome_no_consent.png")
    assert "Bonjour" in text
    assert "Louise" not in text
    assert "4 890" not in text
    assert "Vos offres" not in text


def test_a_scanned_product_shows_price_rating_stock_reviews_and_similar(
    journey_run: Path,
) -> None:
    image = journey_run / "product.png"
    text = screen_text(image)
    assert "Casque sans fil Nomade ANC" in text
    assert "99,99 €" in text  # the promotion's price
    assert re.search(r"214 ?avis", text)  # OCR may lose the space after the stars' row
    assert "7 en magasin" in text
    assert "Lyon Part-Dieu : 3" in text
    assert "Lille Grand Place : épuisé" in text
    assert "Les avis les plus utiles" in text
    assert "Réduction de bruit bluffante" in text  # the most helpful review first
    assert "Julie" in text
    assert "Vous aimerez aussi" in text
    # A code read is seen (and heard): a green frame around the screen for a moment.
    assert share(image, GREEN) > 0.01
    assert share(journey_run / "welcome.png", GREEN) < 0.001  # no scan yet there
    assert {"similar_1", "similar_2", "similar_3"} <= buttons(journey_run, "product").keys()
    # The rating is drawn as stars: 4.5 of 5, so the stars' row holds amber pixels.
    pixels = cv2.imread(str(image))
    assert pixels is not None
    amber = np.all(np.abs(pixels.astype(int) - (46, 189, 255)) < 40, axis=2)
    assert amber.sum() > 500


def test_every_review_can_be_read_in_full(journey_run: Path) -> None:
    text = screen_text(journey_run / "reviews.png")
    assert "Avis des clients" in text
    assert "Utile : 48" in text
    assert "pourrait être plus petit" in text  # the third review, not in the excerpts


def test_a_similar_product_opens_at_a_touch(journey_run: Path) -> None:
    assert "de son compacte" in screen_text(journey_run / "similar.png")  # OCR: B or D


def test_an_unknown_barcode_gets_a_kind_message(journey_run: Path) -> None:
    assert "Nous ne trouvons pas ce produit" in screen_text(journey_run / "unknown.png")


def test_home_wipes_the_shopper_from_the_screen(journey_run: Path) -> None:
    text = screen_text(journey_run / "after_home.png")
    assert "Bienvenue" in text
    assert "Camille" not in text
    assert "Réduction de bruit" not in text


def test_every_screen_change_and_interaction_was_recorded_as_an_event(journey_run: Path) -> None:
    payloads = events(journey_run)
    types = [event["type"].removeprefix("io.borne.") for event in payloads]
    assert types == [
        "session.started",
        "card.tapped",
        "product.scanned",
        "reviews.read",
        "product.viewed",
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
        "screen.shown",
        "category.viewed",
        "product.viewed",
        "screen.shown",
        "language.changed",
        "screen.shown",
        "search.performed",
        "product.viewed",
        "accessibility.changed",
        "accessibility.changed",
        "accessibility.changed",
        "session.ended",
        "kiosk.exit_attempted",
        "session.started",
        "card.tapped",
        "session.ended",
        "kiosk.exit_attempted",
    ]
    data = [event["data"] for event in payloads]
    assert data[4] == {**data[4], "via": "similar", "gtin": "03760123450218"}
    assert data[12]["gtin"] == "03760123450041"  # the product in view when the advisor was called
    assert data[16] == {**data[16], "category": "jeux", "products": 11}
    assert data[21] == {**data[21], "query": "cafetiere", "results": 1}
    assert [d["setting"] for d in data[23:26]] == ["high_contrast", "large_text", "low_controls"]
    assert data[30]["reason"] == "idle"
    assert [d["granted"] for d in data if "granted" in d] == [False, True]
    scans = [d for event, d in zip(types, data, strict=True) if event == "product.scanned"]
    assert [(s["gtin"], s["found"], s["symbology"]) for s in scans] == [
        ("03760123450010", True, "ean13"),
        ("03760123459990", False, "ean13"),
        ("03760123450041", True, "keyboard"),
    ]


def test_every_event_fits_the_contract(journey_run: Path) -> None:
    for event in events(journey_run):
        topic = f"borne/v1/devices/kiosk-01/events/{event['type'].removeprefix('io.borne.')}"
        check_message(topic, json.dumps(event).encode())


def test_a_keyboard_wedge_scan_shows_the_product(journey_run: Path) -> None:
    text = screen_text(journey_run / "wedge_scan.png")
    assert "Cafetière à piston 1 L" in text
    assert "34,90 €" in text


def test_english_at_a_touch_with_prices_in_english(journey_run: Path) -> None:
    text = screen_text(journey_run / "product_en.png")
    assert "French press 1 L" in text
    assert "€34.90" in text
    assert "views" in text  # "342 reviews", beside the stars that OCR reads as noise
    assert "15 in store" in text
    assert "200 available, delivered" in text  # "in 2 days" wraps under it
    assert "in 2 days" in text
    assert "You may also like" in text


def test_calling_an_advisor_is_confirmed_on_screen(journey_run: Path) -> None:
    assert "An advisor is on the way" in screen_text(journey_run / "assist_en.png")


def test_the_next_shopper_gets_french_again(journey_run: Path) -> None:
    text = screen_text(journey_run / "attract_after_english.png")
    assert "Bienvenue" in text
    assert "English" in text  # the button that offers English


def test_a_shopper_without_a_barcode_browses_the_shelves(journey_run: Path) -> None:
    shelves = screen_text(journey_run / "shelves.png")
    assert "Nos rayons" in shelves
    assert "Cuisine" in shelves
    assert "Jeux et jouets" in shelves
    # The tiles a touch can reach: the first rows; the rest scroll into view.
    shelf = {key for key in buttons(journey_run, "shelf") if key.startswith("product_")}
    assert {f"product_{n}" for n in range(1, 7)} <= shelf
    assert "product_11" not in shelf
    assert "Doudou lapin Plume" in screen_text(journey_run / "shelf.png")  # best rated first
    picked = screen_text(journey_run / "from_shelf.png")
    assert "Doudou lapin Plume" in picked
    assert "Retour" in picked
    assert "back" in buttons(journey_run, "from_shelf")
    back = {key for key in buttons(journey_run, "back_to_shelf") if key.startswith("product_")}
    assert back == shelf  # the same shelf again


def test_a_shopper_searches_with_the_on_screen_keyboard(journey_run: Path) -> None:
    text = screen_text(journey_run / "search_en.png")
    assert "What are you looking for?" in text
    assert "cafetiere" in text
    assert "One product found" in text
    assert "French press" in text
    keys = buttons(journey_run, "search_en")
    assert {"key_a", "key_z", "key_0", "key_space", "key_erase", "key_search"} <= keys.keys()


def test_accessibility_high_contrast_large_text_and_controls_within_reach(
    journey_run: Path,
) -> None:
    panel = screen_text(journey_run / "accessibility.png")
    assert "High contrast: off" in panel
    assert "Large text: off" in panel
    image = journey_run / "accessible.png"
    assert share(image, (0, 0, 0)) > 0.5  # black, white and yellow only
    assert share(image, NAVY) < 0.01
    assert "€34.90" in screen_text(image)
    before, after = buttons(journey_run, "product_en"), buttons(journey_run, "accessible")
    assert before["assist"]["pos_dp"][1] > 600  # the bar at the top...
    assert after["assist"]["pos_dp"][1] < 100  # ...moves within reach
    # Larger text: the price is drawn taller.
    assert text_height(journey_run, "accessible", "€34.90") > text_height(
        journey_run, "product_en", "€34.90"
    )
    # The next shopper gets the standard screen again.
    reset = journey_run / "attract_after_accessible.png"
    assert share(reset, NAVY) > 0.3
    assert share(reset, (0, 0, 0)) < 0.01
    reset_buttons = buttons(journey_run, "attract_after_accessible")
    assert reset_buttons["assist"]["pos_dp"][1] > 600
    # Each button keeps its own colours through the round trip.
    assert near(colour_inside(reset, reset_buttons["language"]), PANEL)
    assert near(colour_inside(reset, reset_buttons["assist"]), ACCENT)
    attract = buttons(journey_run, "attract")
    assert near(colour_inside(journey_run / "attract.png", attract["language"]), PANEL)


def text_height(run: Path, name: str, text: str) -> int:
    """How tall a text is drawn on a screenshot, in pixels (from its texts.json)."""
    texts = json.loads((run / f"{name}.texts.json").read_text())
    _, bottom, _, top = next(found["rect"] for found in texts if found["text"] == text)
    return int(top - bottom)


def test_every_touch_target_is_at_least_48_dp(journey_run: Path) -> None:
    for listing in journey_run.glob("*.buttons.json"):
        for button in json.loads(listing.read_text()):
            width, height = button["size_dp"]
            assert min(width, height) >= 48, f"{listing.name}: {button}"


def test_only_the_staff_pin_closes_the_kiosk(journey_run: Path) -> None:
    # A wrong PIN is refused (and recorded); the right one closed the kiosk, and the
    # journey run ended with success (see the fixture).
    assert "Code incorrect" in screen_text(journey_run / "wrong_pin.png")


def test_a_loyalty_card_shown_to_the_camera_greets_like_a_tap(journey_run: Path) -> None:
    assert "Bonjour Mehdi" in screen_text(journey_run / "card_shown.png")
    payloads = events(journey_run)
    shown = payloads[-3]  # before the idle wipe and the staff's exit
    assert shown["type"] == "io.borne.card.tapped"
    assert shown["data"]["known"] is True
    assert "9250000000024" not in json.dumps(payloads)


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
        "https://www.borne-demo.fr/produit/3760123450041?store=paris-01&fulfilment=delivery"
    ]


@pytest.fixture(scope="module")
def tour_run(tmp_path_factory: pytest.TempPathFactory, display: str) -> Path:
    """The bundled tour (assets/journeys/tour.json) played as an installer would."""
    base = tmp_path_factory.mktemp("tour")
    config = base / "kiosk.toml"
    config.write_text(f'[storage]\ndata_dir = "{base / "data"}"\nsynchronous = "normal"\n')
    return play(ROOT / "assets" / "journeys" / "tour.json", base, display)


def test_the_bundled_tour_shows_every_screen_in_both_languages(tour_run: Path) -> None:
    steps = json.loads((ROOT / "assets" / "journeys" / "tour.json").read_text())
    names = {step["screenshot"] for step in steps if "screenshot" in step}
    assert {path.stem for path in tour_run.glob("*.png") if "." not in path.stem} == names
    assert "Nos rayons" in screen_text(tour_run / "07-shelves-fr.png")
    assert "Our shelves" in screen_text(tour_run / "07-shelves-en.png")
    assert "Tous les avis" in screen_text(tour_run / "03-product-fr.png")
    assert "€99.99" in screen_text(tour_run / "03-product-en.png")
    assert "Are you still there?" in screen_text(tour_run / "14-are-you-still-there-en.png")


def test_stock_the_platform_has_not_confirmed_lately_is_shown_with_its_time(
    tmp_path: Path, display: str
) -> None:
    """A kiosk fed by the platform, booted offline: its cached stock is two hours old."""
    config_path = tmp_path / "kiosk.toml"
    config_path.write_text(
        f'[storage]\ndata_dir = "{tmp_path / "data"}"\nsynchronous = "normal"\n'
        '[device]\nstore_id = "paris-01"\ndevice_id = "kiosk-01"\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {free_port()}\n'  # nobody listens: offline
        '[catalog]\nsource = ""\nstore_names = { "lyon-02" = "Lyon Part-Dieu" }\n'
        f'pictures = "{DEMO_STORE / "images"}"\n'
    )
    synced_at = time.time() - 7200
    headset = {
        "title": "Casque sans fil Nomade ANC",
        "brand": "Nomade",
        "product_type": ["Audio"],
        "price": {"cents": 12999, "currency": "EUR"},
    }
    items = {
        Stream.CATALOG: headset,
        Stream.REVIEWS: {"rating": 4.5, "count": 214, "reviews": []},
        Stream.STOCK: {"here": 7, "nearby": {"lyon-02": 3}, "online": 40},
    }
    config = load_config(config_path)
    catalog, cache = open_stream_catalog(config)
    try:
        for stream, value in items.items():
            page = {"store": "paris-01", "stream": str(stream), "epoch": "e1", "version": 1}
            page |= {"page": 1, "pages": 1, "items": [{"key": "03760123450010", "value": value}]}
            cache.handle(json.dumps(page).encode(), "paris-01", synced_at)
        CatalogFollower(cache, catalog_place(config)).rebuild()
    finally:
        catalog.close()
        cache.close()
    journey = tmp_path / "journey.json"
    steps = [
        {"scan": "3760123450010"},
        {"screenshot": "stale_stock"},
        {"press": "language"},
        {"screenshot": "stale_stock_en"},
    ]
    journey.write_text(json.dumps(steps))

    shots = play(journey, tmp_path, display)

    at = datetime.fromtimestamp(synced_at).strftime("%H:%M")
    french = screen_text(shots / "stale_stock.png")
    assert "Casque sans fil Nomade ANC" in french
    assert "7 en magasin" in french  # what was known is still shown...
    assert f"Stock à {at}" in french  # ...with its time
    assert f"Stock as of {at}" in screen_text(shots / "stale_stock_en.png")
