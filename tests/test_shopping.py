"""What a shopper can do without a barcode: shelves, search, offers, promotions, settings.

Runs the real session over the real catalog cache loaded from the demo store.
"""

from __future__ import annotations

import gc
import json
import sqlite3
import time
from datetime import date
from pathlib import Path

import pytest

from devices.readings import BarcodeScan, CardTap
from edge.catalog import SCHEMA_VERSION, Catalog, Customer, Product
from edge.config import load_config
from edge.errors import CatalogError, ConfigError
from edge.lockdown import ExitLock, hash_pin
from edge.pseudonym import Pseudonyms
from edge.session import Accessibility, Screen, SessionView, ShopperSession

DEMO_STORE = Path(__file__).resolve().parent.parent / "assets" / "demo-store"
DEMO_CATALOG = DEMO_STORE / "catalog.json"
# The demo's published secret: its catalog knows customers by these pseudonyms.
pseudonym = Pseudonyms.from_secret(
    bytes.fromhex((DEMO_STORE / "pseudonym.key").read_text().strip())
).card


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    catalog = Catalog(tmp_path / "catalog.sqlite", today=lambda: date(2026, 12, 1))
    catalog.load_source(DEMO_CATALOG)
    return catalog


@pytest.fixture
def session(catalog: Catalog) -> ShopperSession:
    return ShopperSession(catalog, pseudonym, clock=time.time)


def test_the_demo_store_is_a_real_store(catalog: Catalog) -> None:
    document = json.loads(DEMO_CATALOG.read_text())
    assert catalog.count() >= 60
    shelves = catalog.categories()
    assert len(shelves) >= 5
    for shelf in shelves:
        products = catalog.in_category(shelf.id)
        assert len(products) >= 10
        for product in products:
            assert len(product.reviews) >= 3
            assert len(product.stock.nearby) == 2  # with this one, three stores
            assert Path(product.picture).is_file()
    labels = {item.get("label") for item in document["products"]}
    assert {"gs1-datamatrix", "gs1-qr"} <= labels


def test_search_ignores_accents_and_case_and_needs_every_word(catalog: Catalog) -> None:
    found = [p.display_name("fr") for p in catalog.search("CAFETIERE")]
    assert found == ["Cafetière à piston 1 L"]
    assert catalog.search("casque nomade")
    assert all("enfant" in fold_name(p) for p in catalog.search("casque enfant"))
    assert catalog.search("kitchen")  # shelf names, in English too
    assert catalog.search("") == ()
    assert catalog.search("%") == ()  # LIKE wildcards are text, not patterns
    assert catalog.search("zzzz") == ()


def fold_name(product: Product) -> str:
    return product.display_name("fr").lower()


def test_a_shelf_lists_best_rated_first_and_similar_products_share_the_shelf(
    catalog: Catalog,
) -> None:
    toys = catalog.in_category("jeux")
    assert [p.rating for p in toys] == sorted((p.rating for p in toys), reverse=True)
    headphones = catalog.lookup("3760123450010")
    assert headphones is not None
    similar = catalog.similar(headphones)
    assert len(similar) == 3
    assert all(p.category == "audio" and p.gtin != headphones.gtin for p in similar)


def test_promotions_run_until_their_last_day(tmp_path: Path) -> None:
    today = [date(2026, 12, 31)]
    catalog = Catalog(tmp_path / "catalog.sqlite", today=lambda: today[0])
    catalog.load_source(DEMO_CATALOG)
    headphones = catalog.lookup("3760123450010")
    assert headphones is not None
    assert headphones.promotion is not None
    assert headphones.current_price_cents < headphones.price_cents
    assert headphones.gtin in {p.gtin for p in catalog.promotions()}
    today[0] = date(2027, 1, 1)
    headphones = catalog.lookup("3760123450010")
    assert headphones is not None
    assert headphones.promotion is None
    assert headphones.current_price_cents == 12999


def test_a_bad_promotion_or_offer_is_refused_whole(tmp_path: Path) -> None:
    document = json.loads(DEMO_CATALOG.read_text())
    document["promotions"][0]["price_cents"] = 10**9  # not a price cut
    source = tmp_path / "catalog.json"
    source.write_text(json.dumps(document))
    catalog = Catalog(tmp_path / "catalog.sqlite")
    with pytest.raises(CatalogError, match="does not lower the price"):
        catalog.load_source(source)
    document = json.loads(DEMO_CATALOG.read_text())
    document["customers"][0]["offers"][0]["gtin"] = "3760123459990"
    source.write_text(json.dumps(document))
    with pytest.raises(CatalogError, match="unknown product"):
        catalog.load_source(source)
    assert catalog.count() == 0  # nothing half-loaded


def test_an_older_cache_is_rebuilt_from_the_source(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite"
    with sqlite3.connect(path) as old:  # the version 1 layout, and its load marker
        old.execute("CREATE TABLE products (gtin TEXT PRIMARY KEY, doc TEXT NOT NULL)")
        old.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value)")
        old.execute("INSERT INTO meta VALUES ('source_sha256', 'x')")
    catalog = Catalog(path)
    assert catalog.load_source(DEMO_CATALOG)
    assert catalog.search("cafetiere")
    with sqlite3.connect(path) as db:
        version = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    assert version == (SCHEMA_VERSION,)


def test_offers_are_for_the_shopper_who_agreed(catalog: Catalog) -> None:
    camille = catalog.customer(pseudonym("9250000000017"))
    assert camille is not None
    assert camille.personalisation
    assert camille.offers
    assert all(Path(offer.picture).is_file() for offer in camille.offers)


def screen(session: ShopperSession) -> Screen:
    """The screen now (a call, so that type narrowing does not outlive a step)."""
    return session.view.screen


def test_browse_pick_go_back(session: ShopperSession) -> None:
    events = session.open_browse()
    assert [e.type for e in events] == ["io.borne.session.started", "io.borne.screen.shown"]
    events = session.browse("cuisine")
    assert screen(session) is Screen.BROWSE
    assert len(session.view.results) == 11
    assert events[0].data["category"] == "cuisine"
    first = session.view.results[0]
    events = session.view_product(first.gtin, "browse")
    assert screen(session) is Screen.PRODUCT
    assert session.view.product == first
    assert events[0].data["via"] == "browse"
    session.back()
    assert screen(session) is Screen.BROWSE
    assert session.view.category == "cuisine"
    session.back()
    shelves = session.view  # a new view: what `back` left
    assert shelves.category is None
    assert shelves.results == ()
    assert session.back() == []  # nothing further back than the shelves
    assert session.browse("no-such-shelf") == []


def test_a_search_never_sends_a_number_that_could_be_personal(session: ShopperSession) -> None:
    session.open_search()
    session.type_text("casque 0612345678")
    events = session.search()
    assert events[0].data == {
        "session_id": session.view.session_id,
        "query": "casque #",
        "results": 0,
    }
    session.type_text("x" * 100)
    assert len(session.view.query) == 40
    session.erase()
    assert len(session.view.query) == 39


def test_a_scan_is_counted_for_feedback_even_when_unknown(session: ShopperSession) -> None:
    session.on_scan(BarcodeScan("ean13", "3760123459990", "03760123459990", "test", 0.0))
    session.on_scan(BarcodeScan("ean13", "3760123450010", "03760123450010", "test", 0.0))
    assert session.view.scans == 2
    assert len(session.view.similar) == 3


def test_settings_end_with_the_session_and_nothing_of_the_shopper_survives(
    session: ShopperSession,
) -> None:
    session.on_card(CardTap("9250000000017", "01", "Type3Tag", "test", 0.0))
    session.set_accessibility("high_contrast", True)
    assert session.set_accessibility("high_contrast", True) == []  # no change, no event
    with pytest.raises(ValueError, match="unknown accessibility"):
        session.set_accessibility("loud", True)
    session.open_search()
    session.type_text("lampe")
    session.search()
    session.open_browse()
    session.browse("audio")
    session.view_product(session.view.results[0].gtin, "browse")
    session.open_reviews()
    assert session.view.reviews_open
    session.end("idle")
    assert session.view == SessionView()
    assert session.view.accessibility == Accessibility()
    gc.collect()
    assert not [o for o in gc.get_objects() if isinstance(o, Customer)]
    # The only products left in memory are the catalog's promotions and the cache's
    # own, never a list the shopper saw.
    assert session.view.results == ()
    assert session.view.similar == ()


def test_the_staff_pin_lock_slows_guessing_down() -> None:
    now = [1000.0]
    lock = ExitLock(hash_pin("2580", iterations=1000), clock=lambda: now[0])
    assert not lock.attempt("0000").granted
    assert lock.attempt("2580").granted
    for _ in range(ExitLock.MAX_FAILURES - 1):
        assert not lock.attempt("1111").locked_out
    assert lock.attempt("1111").locked_out
    assert lock.attempt("2580") == lock.attempt("2580")  # refused unseen while locked
    assert not lock.attempt("2580").granted
    now[0] += ExitLock.LOCKOUT_SECONDS
    assert lock.attempt("2580").granted
    with pytest.raises(ValueError, match="4 to 12 digits"):
        hash_pin("12")


def test_a_broken_pin_hash_in_the_configuration_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "kiosk.toml"
    config.write_text('[kiosk]\nexit_pin_hash = "2580"\n')
    with pytest.raises(ConfigError, match=r"kiosk\.exit_pin_hash"):
        load_config(config)
    config.write_text(f'[kiosk]\nexit_pin_hash = "{hash_pin("2580")}"\n')
    assert load_config(config).kiosk.exit_pin_hash.startswith("pbkdf2-sha256$")


def test_every_demo_pack_code_reads_back_as_its_product(catalog: Catalog) -> None:
    # The simulator panel shows each demo product's code as printed on its pack: EAN-13,
    # GS1 DataMatrix (with best-before and lot) or GS1 Digital Link QR code.
    from devices.barcode.decoder import BarcodeDecoder
    from devices.barcode.scanner import scan_from_code
    from devices.barcode.simulated_camera import SimulatedCamera
    from kiosk.journey import symbology_for
    from kiosk.simulator_panel import code_on_pack

    camera, decoder = SimulatedCamera(fps=None), BarcodeDecoder()
    kinds = set()
    for gtin in catalog.gtins():
        product = catalog.lookup(gtin)
        assert product is not None
        text = code_on_pack(product)
        symbology, gs1 = symbology_for(text)
        camera.show(text, symbology, frames=1, gs1=gs1)
        frame = camera.read()
        assert frame is not None
        scans = [scan_from_code(code, "test", 0.0) for code in decoder.decode(frame)]
        assert [scan.gtin for scan in scans] == [gtin], text
        kinds.add(scans[0].kind)
        for _ in range(SimulatedCamera.GAP_FRAMES):  # the empty frames after the code
            camera.read()
    assert kinds == {"gtin", "gs1", "digital_link"}
