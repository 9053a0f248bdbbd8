"""The catalog cache as the kiosk relies on it: a source refused whole when it is wrong,
customers by pseudonym only, search as a shopper types, similar products, shelves in
pages, an empty store, and calls from a worker thread while another reloads.
"""

from __future__ import annotations

import copy
import json
import os
import string
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from devices.barcode.gs1 import gtin_check_digit
from edge.catalog import SEARCH_LIMIT, SHELF_LIMIT, Catalog, Product
from edge.catalog_index import closest_in_price
from edge.catalog_load import load_into
from edge.catalog_split import SplitError, split_members
from edge.errors import CatalogError
from edge.pseudonym import Pseudonyms

DEMO_STORE = Path(__file__).resolve().parent.parent / "assets" / "demo-store"
DEMO_CATALOG = DEMO_STORE / "catalog.json"
HEADPHONES = "3760123450010"
# BORNE_FUZZ_EXAMPLES=2000 for a longer hunt than the suite does by default.
FUZZ = settings(
    max_examples=int(os.environ.get("BORNE_FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def demo_document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(DEMO_CATALOG.read_text(encoding="utf-8"))
    return document


def card_pseudonym(card: str) -> str:
    secret = bytes.fromhex((DEMO_STORE / "pseudonym.key").read_text().strip())
    return Pseudonyms.from_secret(secret).card(card)


def write(folder: Path, document: Any) -> Path:
    source = folder / "catalog.json"
    source.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return source


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[Catalog]:
    catalog = Catalog(tmp_path / "catalog.sqlite", today=lambda: date(2026, 12, 1))
    catalog.load_source(DEMO_CATALOG)
    yield catalog
    catalog.close()


def what_it_answers(catalog: Catalog) -> dict[str, Any]:
    """Everything a shopper could see, to compare a cache before and after."""
    headphones = catalog.lookup(HEADPHONES)
    return {
        "count": catalog.count(),
        "headphones": headphones,
        "similar": catalog.similar(headphones) if headphones else (),
        "search": catalog.search("casque"),
        "shelves": catalog.categories(),
        "shelf": catalog.in_category("audio"),
        "promotions": catalog.promotions(),
        "camille": catalog.customer(card_pseudonym("9250000000017")),
        "offers": getattr(catalog.customer(card_pseudonym("9250000000017")), "offers", None),
    }


def test_an_empty_catalog_answers_empty(tmp_path: Path, catalog: Catalog) -> None:
    empty = Catalog(tmp_path / "empty" / "catalog.sqlite")
    headphones = catalog.lookup(HEADPHONES)
    assert headphones is not None
    assert empty.lookup(HEADPHONES) is None
    assert empty.similar(headphones) == ()
    assert empty.search("casque") == ()
    assert empty.in_category("audio") == ()
    assert empty.promotions() == ()
    assert empty.categories() == ()
    assert empty.customer(card_pseudonym("9250000000017")) is None
    assert (empty.count(), empty.gtins()) == (0, [])


def refusal(tmp_path: Path, document: Any) -> str:
    catalog = Catalog(tmp_path / "catalog.sqlite")
    with pytest.raises(CatalogError) as refused:
        catalog.load_source(write(tmp_path, document))
    catalog.close()
    return str(refused.value)


def test_a_product_without_stock_is_refused_at_load_naming_it_and_the_field(
    tmp_path: Path,
) -> None:
    document = demo_document()
    del document["products"][0]["stock"]["here"]
    assert refusal(tmp_path, document) == (
        "catalog.json: product 3760123450010: stock.here: field required"
    )


def broken(change: str) -> dict[str, Any]:
    """The demo source with one thing wrong."""
    document = demo_document()
    first = document["products"][0]
    if change == "price as text":
        first["price_cents"] = "129.99"
    elif change == "no gtin":
        del document["products"][3]["gtin"]
    elif change == "wrong check digit":
        first["gtin"] = "3760123450011"
    elif change == "twice":
        document["products"][1]["gtin"] = first["gtin"]
    elif change == "unknown shelf":
        first["category"] = "garage"
    elif change == "no French name":
        first["name"] = {"en": "Headphones"}
    elif change == "negative stock":
        first["stock"]["online"] = -1
    elif change == "promotion raises the price":
        document["promotions"][0]["price_cents"] = 10**9
    elif change == "offer for nothing":
        document["customers"][1]["offers"][0]["gtin"] = "3760123459990"
    elif change == "bad store page":
        document["store"]["product_page"] = "http://shop.example/{gtin}"
    elif change == "no products":
        del document["products"]
    return document


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("price as text", "product 3760123450010: price_cents: input should be a valid integer"),
        ("no gtin", "product #3: gtin: field required"),
        ("wrong check digit", "product 3760123450011: gtin: wrong check digit"),
        ("twice", "product 3760123450010: gtin: appears twice"),
        ("unknown shelf", "product 3760123450010: category: 'garage' is not one of the store"),
        ("no French name", "product 3760123450010: name: needs a French text"),
        ("negative stock", "product 3760123450010: stock.online: input should be greater"),
        ("promotion raises the price", "promotion promo-noel-casque: price_cents: does not lower"),
        ("offer for nothing", "customer #1: offers: an offer for an unknown product"),
        ("bad store page", "store.product_page: must be an https URL with {gtin}"),
        ("no products", "catalog.json: products: field required"),
    ],
)
def test_a_bad_source_is_refused_saying_what_and_where(
    tmp_path: Path, change: str, message: str
) -> None:
    assert message.lower() in refusal(tmp_path, broken(change)).lower()


def test_a_refused_source_leaves_the_previous_cache_answering(
    catalog: Catalog, tmp_path: Path
) -> None:
    before = what_it_answers(catalog)
    for change in ("price as text", "twice", "offer for nothing", "no products"):
        with pytest.raises(CatalogError):
            catalog.load_source(write(tmp_path, broken(change)))
        assert what_it_answers(catalog) == before


def test_a_big_source_is_loaded_or_refused_by_a_child_process(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "catalog.sqlite", child_load_bytes=0)
    document = demo_document()
    del document["products"][0]["stock"]["here"]
    with pytest.raises(CatalogError) as refused:
        catalog.load_source(write(tmp_path, document))
    assert str(refused.value) == "catalog.json: product 3760123450010: stock.here: field required"
    assert catalog.count() == 0
    assert catalog.load_source(DEMO_CATALOG)
    assert catalog.lookup(HEADPHONES) is not None
    assert catalog.customer(card_pseudonym("9250000000017")) is not None


def test_the_product_page_is_the_store_address_with_the_gtin(tmp_path: Path) -> None:
    document = demo_document()
    document["store"]["product_page"] = "https://shop.example/{gtin}?from={0}{x}"
    catalog = Catalog(tmp_path / "catalog.sqlite")
    catalog.load_source(write(tmp_path, document))
    headphones = catalog.lookup(HEADPHONES)
    assert headphones is not None
    assert headphones.page_url == "https://shop.example/3760123450010?from={0}{x}"


def test_a_source_with_raw_card_numbers_is_refused(tmp_path: Path) -> None:
    document = demo_document()
    document["customers"][0]["card"] = "9250000000017"
    assert "customer #0: card: a raw card number" in refusal(tmp_path, document)
    del document["customers"][0]["pseudonym"]  # the old layout: a card, no pseudonym
    assert "customer #0: card: a raw card number" in refusal(tmp_path, document)


def test_a_customer_is_found_by_the_pseudonym_of_their_card_only(catalog: Catalog) -> None:
    camille = catalog.customer(card_pseudonym("9250000000017"))
    assert camille is not None
    assert camille.first_name == "Camille"
    assert catalog.customer("9250000000017") is None  # never by the number itself
    secret = bytes.fromhex((DEMO_STORE / "pseudonym.key").read_text().strip())
    beacon = Pseudonyms.from_secret(secret).beacon("9250000000017")
    assert catalog.customer(beacon) is None  # nor by another purpose's pseudonym


def test_every_demo_loyalty_card_is_a_known_customer(catalog: Catalog) -> None:
    cards = json.loads((DEMO_STORE / "loyalty-cards.json").read_text(encoding="utf-8"))
    for card in cards["cards"]:
        customer = catalog.customer(card_pseudonym(card["card"]))
        assert customer is not None
        assert customer.first_name == card["first_name"]


def names(products: tuple[Product, ...]) -> list[str]:
    return [product.display_name("fr") for product in products]


def test_search_finds_words_as_they_are_being_typed(catalog: Catalog) -> None:
    assert names(catalog.search("cafet")) == ["Cafetière à piston 1 L"]
    assert names(catalog.search("CAFÉT")) == ["Cafetière à piston 1 L"]
    assert names(catalog.search("caf pis")) == ["Cafetière à piston 1 L"]
    assert catalog.search("afetiere") == ()  # a word is found by its beginning
    nomade = catalog.search("casq nom")
    assert nomade
    assert all("nomade" in p.display_name("fr").lower() for p in nomade)
    ratings = [(p.rating, p.review_count) for p in catalog.search("c")]
    assert ratings == sorted(ratings, reverse=True)  # best first, as before
    assert len(catalog.search("c", limit=5)) == 5


@pytest.mark.parametrize(
    "query", ['casque" OR "lampe', "NEAR(casque lampe)", "casque*", "-casque", "casque AND", '"']
)
def test_search_syntax_is_only_text(catalog: Catalog, query: str) -> None:
    found = catalog.search(query)
    assert all("casque" in p.display_name("fr").lower() for p in found)


@pytest.fixture(scope="module")
def demo_catalog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Catalog]:
    catalog = Catalog(tmp_path_factory.mktemp("demo") / "catalog.sqlite")
    catalog.load_source(DEMO_CATALOG)
    yield catalog
    catalog.close()


@FUZZ
@given(st.text(max_size=40))
@example(string.punctuation)
@example("\u0301casque")
@example("ﬁ \x00 NEAR(")
def test_anything_typed_searches_without_error(demo_catalog: Catalog, query: str) -> None:
    found = demo_catalog.search(query)
    assert len(found) <= SEARCH_LIMIT
    assert all(isinstance(product, Product) for product in found)


def test_similar_products_share_the_shelf_and_are_closest_in_price(catalog: Catalog) -> None:
    headphones = catalog.lookup(HEADPHONES)
    assert headphones is not None
    similar = catalog.similar(headphones)
    shelf = [p for p in catalog.in_category("audio") if p.gtin != headphones.gtin]
    shelf.sort(key=lambda p: (abs(p.price_cents - headphones.price_cents), p.gtin))
    assert similar == tuple(shelf[:3])


shelves = st.lists(st.tuples(st.sampled_from("ab"), st.integers(100, 110)), min_size=1, max_size=40)


@FUZZ
@given(shelves)
def test_closest_in_price_is_what_sorting_the_whole_shelf_gives(
    items: list[tuple[str, int]],
) -> None:
    products = [(shelf, price, f"{index:04d}") for index, (shelf, price) in enumerate(items)]
    similar = closest_in_price(products)
    for shelf, price, gtin in products:
        others = [(abs(p - price), g) for s, p, g in products if s == shelf and g != gtin]
        assert similar[gtin] == [g for _, g in sorted(others)[:3]]


def generated_source(count: int, price_of: Any = lambda index: 1000 + index) -> dict[str, Any]:
    document = demo_document()
    products = []
    for index in range(count):
        body = f"400{index:09d}"
        products.append(
            {
                **copy.deepcopy(document["products"][0]),
                "gtin": body + str(gtin_check_digit(body)),
                "name": {"fr": f"Casque {index}"},
                "rating": round(1 + (index * 7 % 40) / 10, 1),
                "review_count": index,
                "price_cents": price_of(index),
            }
        )
    return {**document, "products": products, "promotions": [], "customers": []}


def test_a_big_shelf_reads_in_pages_best_first(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "catalog.sqlite")
    catalog.load_source(write(tmp_path, generated_source(130)))
    first = catalog.in_category("audio")
    assert len(first) == SHELF_LIMIT
    pages = [catalog.in_category("audio", offset=offset) for offset in range(0, 130, SHELF_LIMIT)]
    whole = [p for page in pages for p in page]
    assert len({p.gtin for p in whole}) == 130
    ranked = [(p.rating, p.review_count) for p in whole]
    assert ranked == sorted(ranked, reverse=True)


def test_an_unchanged_source_is_not_reloaded(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "catalog.sqlite")
    source = write(tmp_path, demo_document())
    assert catalog.load_source(source)
    assert not catalog.load_source(source)
    catalog.close()
    reopened = Catalog(tmp_path / "catalog.sqlite")  # the next boot too
    assert not reopened.load_source(source)
    assert reopened.lookup(HEADPHONES) is not None


def test_a_reload_brings_its_own_shelves_and_promotions(catalog: Catalog, tmp_path: Path) -> None:
    headphones = catalog.lookup(HEADPHONES)
    assert headphones is not None
    assert headphones.promotion is not None
    document = demo_document()
    document["promotions"] = [p for p in document["promotions"] if p["gtin"] != HEADPHONES]
    document["categories"][0]["name"]["fr"] = "Son"
    assert catalog.load_source(write(tmp_path, document))
    headphones = catalog.lookup(HEADPHONES)
    assert headphones is not None
    assert headphones.promotion is None
    assert HEADPHONES not in {p.gtin.lstrip("0") for p in catalog.promotions()}
    assert catalog.categories()[0].display_name("fr") == "Son"


def test_the_catalog_answers_a_worker_thread(catalog: Catalog) -> None:
    with ThreadPoolExecutor(max_workers=1) as worker:
        product = worker.submit(catalog.lookup, HEADPHONES).result()
        assert product is not None
        assert worker.submit(catalog.similar, product).result()
        assert worker.submit(catalog.search, "casque").result()
        assert worker.submit(catalog.customer, card_pseudonym("9250000000017")).result()


def test_a_reload_in_a_worker_thread_never_shows_half_a_catalog(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "catalog.sqlite", child_load_bytes=0)  # as a big source
    catalog.load_source(write(tmp_path, generated_source(2000, lambda index: 1000)))
    changed = tmp_path / "changed"
    changed.mkdir()
    source = write(changed, generated_source(2000, lambda index: 2000))
    gtins = catalog.gtins()[::97]

    def prices() -> set[int]:
        products = [catalog.lookup(gtin) for gtin in gtins]
        return {product.price_cents for product in products if product is not None}

    seen: list[set[int]] = []
    loader = threading.Thread(target=catalog.load_source, args=(source,))
    with ThreadPoolExecutor(max_workers=1) as worker:
        loader.start()
        while loader.is_alive():
            # One answer at a time, as the kiosk's worker thread asks.
            seen.append(worker.submit(prices).result())
        loader.join()
    # Every product answered, old or new: never missing, never an error.
    assert all(answer and answer <= {1000, 2000} for answer in seen)
    assert {p.price_cents for p in catalog.in_category("audio")} == {2000}


# Hostile sources: the demo source with a part replaced by anything JSON can hold, or
# a key removed, or bytes that are not JSON at all.
json_values: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
PLACES = [
    ("store",),
    ("store", "nearby"),
    ("store", "product_page"),
    ("categories",),
    ("categories", 0),
    ("categories", 0, "name"),
    ("products",),
    ("products", 0),
    ("products", 0, "gtin"),
    ("products", 0, "name"),
    ("products", 0, "stock"),
    ("products", 0, "stock", "nearby"),
    ("products", 0, "reviews"),
    ("products", 0, "reviews", 0, "rating"),
    ("products", 5, "price_cents"),
    ("products", 5, "rating"),
    ("products", 5, "label"),
    ("promotions", 0, "ends"),
    ("promotions", 0, "gtin"),
    ("customers", 0, "pseudonym"),
    ("customers", 0, "offers"),
    ("customers", 0, "offers", 0, "gtin"),
]


def mutated(place: tuple[str | int, ...], value: Any, remove: bool) -> dict[str, Any]:
    document = demo_document()
    parent: Any = document
    for step in place[:-1]:
        parent = parent[step]
    if remove and isinstance(parent, dict):
        parent.pop(place[-1], None)
    elif remove:
        del parent[place[-1]]
    else:
        parent[place[-1]] = value
    return document


@FUZZ
@given(st.sampled_from(PLACES), json_values, st.booleans())
def test_a_hostile_source_is_refused_whole_and_the_cache_answers_as_before(
    place: tuple[str | int, ...], value: Any, remove: bool
) -> None:
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        load_into(folder / "catalog.sqlite", DEMO_CATALOG)
        catalog = Catalog(folder / "catalog.sqlite", today=lambda: date(2026, 12, 1))
        before = what_it_answers(catalog)
        try:  # the load's own work, in this process: as fast as hypothesis needs
            load_into(folder / "catalog.sqlite", write(folder, mutated(place, value, remove)))
        except CatalogError:
            assert what_it_answers(catalog) == before
        else:  # taken whole: what the cache holds is the new source
            assert catalog.count() == len(mutated(place, value, remove)["products"])
        finally:
            catalog.close()


@FUZZ
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_bytes_that_are_not_a_catalog_are_refused(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as name:
        source = Path(name) / "catalog.json"
        source.write_bytes(raw)
        with pytest.raises(CatalogError):
            load_into(Path(name) / "catalog.sqlite", source)


@pytest.mark.parametrize(
    "text",
    [
        '{"store": {"id": "s"}, "products": [' + "1" * 5000 + "]}",  # past int()'s limit
        '{"store": ' + "[" * 100_000 + "]" * 100_000 + ', "products": []}',
        '{"store": {"id": "s"}, "products": []} {}',
    ],
)
def test_json_that_python_cannot_or_should_not_read_is_refused(tmp_path: Path, text: str) -> None:
    source = tmp_path / "catalog.json"
    source.write_text(text)
    with pytest.raises(CatalogError, match="not a JSON object"):
        Catalog(tmp_path / "catalog.sqlite").load_source(source)


@FUZZ
@given(st.dictionaries(st.sampled_from(["products", "x", "customers"]), json_values))
def test_a_source_cut_into_items_reads_as_the_whole(document: dict[str, Any]) -> None:
    lists = frozenset({"products", "customers"})
    for text in (json.dumps(document), json.dumps(document, indent=3)):
        members = split_members(text, lists)
        rebuilt = {
            key: [json.loads(item) for item in value]
            if isinstance(value, list)
            else json.loads(value)
            for key, value in members.items()
        }
        assert json.dumps(rebuilt) == json.dumps(document)


@FUZZ
@given(st.text(alphabet='{}[]":, 0a\n', max_size=30))
def test_text_that_is_not_one_object_cannot_be_cut(text: str) -> None:
    try:
        expected = json.loads(text)
    except ValueError:
        expected = None
    try:
        split_members(text, frozenset({"a"}))
    except SplitError:
        assert not isinstance(expected, dict)
    else:
        assert isinstance(expected, dict)
