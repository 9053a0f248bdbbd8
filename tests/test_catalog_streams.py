"""The kiosk shows what the platform sends: the catalog, reviews and offers make the
products, shelves and promotions; stock and loyalty customers are read live; what is
old says so; `borne catalog` tells an installer what the kiosk holds and shows."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.bootstrap import build_runtime, catalog_place, open_stream_catalog
from edge.catalog import Catalog
from edge.catalog_live import StreamReads, customer_from_value, stock_from_value
from edge.catalog_rebuild import CatalogPlace
from edge.catalog_source import SourceReader
from edge.catalog_streams import source_document
from edge.catalog_sync import CatalogFollower
from edge.config import load_config
from edge.demo import DEMO_SECRET, DEMO_STORE
from edge.errors import CatalogError
from edge.intents import ShowProduct
from edge.sync.cache import Handled, StreamCache
from edge.sync.messages import Stream
from tests.conftest import BORNE, borne, write_config
from tests.mosquitto import Broker, free_port

NOW = datetime(2026, 11, 30, 10, 42, tzinfo=UTC)
KETTLE = "03760123450010"
GRINDER = "03760123450027"
TOASTER = "03760123450034"
STORE_NAMES = {"lyon-02": "Lyon Part-Dieu"}


def product(title: str, cents: int, *kinds: str, **more: Any) -> dict[str, Any]:
    """A catalog item as the hub makes it from a Merchant Center product row."""
    return {
        "id": title.lower(),
        "title": title,
        "brand": "Maison Dupont",
        "product_type": list(kinds),
        "link": f"https://shop.example/{title.lower()}",
        "price": {"cents": cents, "currency": "EUR"},
        **more,
    }


def period(start: datetime, end: datetime) -> dict[str, str]:
    return {"start": start.isoformat(), "end": end.isoformat()}


CATALOG = {
    KETTLE: product("Bouilloire inox", 4990, "Cuisine", "Bouilloires", description="1,7 L"),
    GRINDER: product(
        "Moulin à café",
        3990,
        "Cuisine",
        sale_price={"cents": 2990, "currency": "EUR"},
        sale_price_effective_date=period(NOW - timedelta(days=1), NOW + timedelta(days=6)),
    ),
    TOASTER: product("Grille-pain", 2990, "Petit électroménager"),
}
REVIEWS = {
    KETTLE: {
        "rating": 4.5,
        "count": 2,
        "reviews": [
            {"stars": 5, "author": "Léa", "title": "Rapide", "content": "Bout en 2 minutes."},
            {"stars": 4, "content": "Un peu bruyante."},
        ],
    }
}
OFFERS = {
    "noel-toaster": {
        "title": "-20 % sur le grille-pain",
        "applicability": "specific_products",
        "effective": period(NOW - timedelta(hours=1), NOW + timedelta(days=2)),
        "channels": ["in_store"],
        "percent_off": 20,
        "gtins": [TOASTER],
    },
    "online-only": {
        "title": "-50 % en ligne",
        "effective": period(NOW - timedelta(hours=1), NOW + timedelta(days=2)),
        "channels": ["online"],
        "percent_off": 50,
        "gtins": [KETTLE],
    },
}
STOCK = {
    KETTLE: {"here": 7, "nearby": {"lyon-02": 3, "nice-03": 0}, "online": 120, "as_of": "x"},
    GRINDER: {"here": 2, "online": 5, "as_of": "x"},
}


class Clock:
    """A settable wall clock."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def apply(cache: StreamCache, stream: Stream, items: dict[str, Any], at: float) -> None:
    """What the platform sends next on `stream`, setting `items` (a None value removes
    one): a one-page snapshot when the kiosk holds nothing yet, else a change set."""
    version = cache.position(stream).version + 1
    listed = [
        {"key": key} if value is None else {"key": key, "value": value}
        for key, value in items.items()
    ]
    document: dict[str, Any] = {
        "store": "paris-01",
        "stream": str(stream),
        "epoch": "2026-11-30.1",
        "version": version,
    }
    if version == 1:
        document |= {"page": 1, "pages": 1, "items": listed}
    else:
        document["changes"] = listed
    outcome = cache.handle(json.dumps(document).encode(), "paris-01", at)
    assert outcome.handled is Handled.APPLIED, outcome


def fill(cache: StreamCache, at: float) -> None:
    for stream, items in (
        (Stream.CATALOG, CATALOG),
        (Stream.REVIEWS, REVIEWS),
        (Stream.OFFERS, OFFERS),
        (Stream.STOCK, STOCK),
    ):
        apply(cache, stream, items, at)


class Kiosk:
    """A stream cache, the catalog over it and the follower that rebuilds it."""

    def __init__(self, folder: Path, clock: Clock) -> None:
        self.cache = StreamCache(folder / "streams.sqlite")
        reads = StreamReads(self.cache, store_names=STORE_NAMES, stale_after=600, clock=clock)
        self.catalog = Catalog(folder / "catalog.sqlite", today=NOW.date, live=reads)
        self.place = CatalogPlace(
            streams=folder / "streams.sqlite",
            catalog=folder / "catalog.sqlite",
            source=folder / "streams-catalog.json",
            pictures=folder / "pictures",
            store_id="paris-01",
        )
        self.follower = CatalogFollower(self.cache, self.place, settle=0.3, now=lambda: NOW)

    def close(self) -> None:
        self.catalog.close()
        self.cache.close()


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW.timestamp())


@pytest.fixture
def kiosk(tmp_path: Path, clock: Clock) -> Iterator[Kiosk]:
    made = Kiosk(tmp_path, clock)
    fill(made.cache, clock.now)
    assert made.follower.rebuild()
    yield made
    made.close()


def test_the_catalog_answers_with_what_the_streams_hold(kiosk: Kiosk) -> None:
    catalog = kiosk.catalog
    kettle = catalog.lookup("3760123450010")
    assert kettle is not None
    assert kettle.display_name("fr") == kettle.display_name("en") == "Bouilloire inox"
    assert kettle.display_description("en") == "1,7 L"
    assert (kettle.price_cents, kettle.currency) == (4990, "EUR")
    assert kettle.page_url == "https://shop.example/bouilloire inox"
    assert (kettle.rating, kettle.review_count) == (4.5, 2)
    assert [(r.author, r.rating, r.text) for r in kettle.reviews] == [
        ("Léa", 5, "Rapide — Bout en 2 minutes."),
        ("", 4, "Un peu bruyante."),
    ]
    assert kettle.promotion is None  # its only offer is for the web shop
    shelves = {shelf.id: shelf.display_name("fr") for shelf in catalog.categories()}
    assert shelves == {"cuisine": "Cuisine", "petit-electromenager": "Petit électroménager"}
    assert [p.gtin for p in catalog.in_category("cuisine")] == [KETTLE, GRINDER]
    assert [p.gtin for p in catalog.search("moulin")] == [GRINDER]
    assert [p.gtin for p in catalog.similar(kettle)] == [GRINDER]


def test_a_big_catalog_is_rebuilt_in_a_child_process_with_the_same_answers(
    tmp_path: Path, clock: Clock, kiosk: Kiosk
) -> None:
    child = Kiosk(tmp_path / "child", clock)
    try:
        fill(child.cache, clock.now)
        # Any size is "big" here: the rebuild runs in a child process, as at 100,000.
        follower = CatalogFollower(child.cache, child.place, now=lambda: NOW, child_items=0)
        assert follower.rebuild()
        for gtin in (KETTLE, GRINDER):
            assert child.catalog.lookup(gtin) == kiosk.catalog.lookup(gtin)
        assert child.catalog.categories() == kiosk.catalog.categories()
    finally:
        child.close()


def test_a_sale_price_or_an_in_store_offer_running_today_is_a_promotion(kiosk: Kiosk) -> None:
    promoted = {p.gtin: p for p in kiosk.catalog.promotions()}
    assert set(promoted) == {GRINDER, TOASTER}
    assert promoted[GRINDER].current_price_cents == 2990
    grinder = promoted[GRINDER].promotion
    assert grinder is not None
    assert (grinder.display_title("fr"), grinder.display_title("en")) == ("−25 %", "25% off")
    assert not grinder.open_ended  # its feed gave its dates
    toaster = promoted[TOASTER]
    assert toaster.current_price_cents == 2392  # 20 % off 29.90
    assert toaster.promotion is not None
    assert toaster.promotion.display_title("en") == "-20 % sur le grille-pain"


def test_stock_is_read_live_with_store_names_and_a_change_needs_no_rebuild(
    kiosk: Kiosk, clock: Clock
) -> None:
    kettle = kiosk.catalog.lookup(KETTLE)
    assert kettle is not None
    assert kettle.stock.here == 7
    assert kettle.stock.online == 120
    assert kettle.stock.nearby == (("Lyon Part-Dieu", 3), ("nice-03", 0))
    assert not kettle.stock.stale
    rebuilds = kiosk.follower.rebuilds
    apply(kiosk.cache, Stream.STOCK, {KETTLE: {"here": 1, "as_of": "y"}}, clock.now + 5)
    after = kiosk.catalog.lookup(KETTLE)
    assert after is not None
    assert (after.stock.here, after.stock.nearby, after.stock.online) == (1, (), 0)
    assert kiosk.follower.rebuilds == rebuilds
    apply(kiosk.cache, Stream.STOCK, {KETTLE: None}, clock.now + 6)  # no store has it now
    gone = kiosk.catalog.lookup(KETTLE)
    assert gone is not None
    assert (gone.stock.here, gone.stock.online) == (0, 0)


def test_stock_older_than_the_limit_is_shown_with_its_time(kiosk: Kiosk, clock: Clock) -> None:
    clock.now += 601  # the link went down just after the last change
    kettle = kiosk.catalog.lookup(KETTLE)
    assert kettle is not None
    assert kettle.stock.stale
    assert kettle.stock.as_of == NOW
    assert kettle.stock.here == 7  # what was known is still shown, with its time


def test_a_burst_of_changes_makes_one_rebuild_and_the_screen_is_told(
    kiosk: Kiosk, clock: Clock
) -> None:
    titles = [f"Bouilloire {n}" for n in range(5)]

    async def scenario() -> tuple[int, int]:
        rebuilt = asyncio.Event()
        stock_shown = asyncio.Event()

        async def on_rebuilt() -> None:
            rebuilt.set()

        async def on_stock() -> None:
            stock_shown.set()

        first = kiosk.follower.rebuilds
        task = asyncio.create_task(kiosk.follower.run(on_rebuilt=on_rebuilt, on_stock=on_stock))
        await asyncio.sleep(0)  # it runs, and waits for changes to settle
        try:

            def downlink() -> None:  # the downlink's worker thread, one commit each
                for title in titles:
                    apply(kiosk.cache, Stream.CATALOG, {KETTLE: product(title, 4990)}, clock.now)
                    kiosk.follower.streams_changed(frozenset({Stream.CATALOG}))
                apply(kiosk.cache, Stream.STOCK, {KETTLE: {"here": 3}}, clock.now)
                kiosk.follower.streams_changed(frozenset({Stream.STOCK}))

            await asyncio.to_thread(downlink)
            async with asyncio.timeout(10):
                await rebuilt.wait()
                await stock_shown.wait()
            return first, kiosk.follower.rebuilds
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    before, after = asyncio.run(scenario())
    assert after == before + 1
    kettle = kiosk.catalog.lookup(KETTLE)
    assert kettle is not None
    assert kettle.display_name("fr") == titles[-1]
    assert kettle.stock.here == 3


def test_a_big_catalog_is_made_by_a_child_process_the_kiosk_answering_meanwhile(
    kiosk: Kiosk, clock: Clock
) -> None:
    apply(kiosk.cache, Stream.CATALOG, {KETTLE: product("Bouilloire 2", 4490)}, clock.now)
    big = CatalogFollower(kiosk.cache, kiosk.place, now=lambda: NOW, child_items=0)
    assert big.rebuild()
    kettle = kiosk.catalog.lookup(KETTLE)
    assert kettle is not None
    assert (kettle.display_name("fr"), kettle.price_cents) == ("Bouilloire 2", 4490)
    assert kettle.stock.here == 7  # still read live
    assert not big.rebuild()  # nothing changed since


def test_a_product_that_cannot_be_shown_is_left_out_not_the_catalog(
    kiosk: Kiosk, clock: Clock
) -> None:
    broken = {
        "03760123450041": product("Sans prix", 0),
        "12345": product("Mauvais code", 1000),
        "03760123450058": {"title": "Pas de prix"},
    }
    apply(kiosk.cache, Stream.CATALOG, broken, clock.now)
    made = kiosk.follower.document()
    assert (made.products, made.skipped) == (3, 3)
    kiosk.follower.rebuild()
    assert kiosk.catalog.count() == 3


def test_loyalty_customers_come_from_the_customers_stream(kiosk: Kiosk, clock: Clock) -> None:
    pseudonym = "ab" * 32
    assert kiosk.catalog.customer(pseudonym) is None
    value = {
        "first_name": "Camille",
        "points": 1250,
        "offers": [
            {"gtin": KETTLE, "title": {"en": "€10 off the kettle", "fr": "-10 € la bouilloire"}},
            {"gtin": "x", "title": "?"},
        ],
    }
    apply(kiosk.cache, Stream.CUSTOMERS, {pseudonym: value}, clock.now)
    customer = kiosk.catalog.customer(pseudonym)
    assert customer is not None
    assert (customer.first_name, customer.points, customer.personalisation) == (
        "Camille",
        1250,
        True,
    )
    assert [offer.gtin for offer in customer.offers] == [KETTLE]  # an unknown product's offer goes
    assert customer.offers[0].display_title("en") == "€10 off the kettle"


def test_a_promotion_to_come_is_not_shown_yet_but_its_start_is_known() -> None:
    starts = NOW + timedelta(hours=3)
    catalog = {
        KETTLE: product(
            "Bouilloire",
            4990,
            sale_price={"cents": 3990, "currency": "EUR"},
            sale_price_effective_date=period(starts, starts + timedelta(days=1)),
        )
    }
    made = source_document(
        store_id="paris-01",
        store_names={},
        catalog=catalog,
        reviews={},
        offers={},
        stock={},
        now=NOW,
    )
    assert json.loads(made.text)["promotions"] == []
    assert made.next_start == starts
    later = source_document(
        store_id="paris-01",
        store_names={},
        catalog=catalog,
        reviews={},
        offers={},
        stock={},
        now=starts,
    )
    [promotion] = json.loads(later.text)["promotions"]
    assert promotion["price_cents"] == 3990
    assert date.fromisoformat(promotion["ends"]) >= starts.date()


# --- whatever the platform sends, the kiosk's catalog takes it --------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
_money = st.fixed_dictionaries(
    {"cents": st.integers(-5, 10**12) | _json, "currency": st.sampled_from(["EUR", "eur", ""])}
)
_period = st.fixed_dictionaries(
    {
        "start": st.sampled_from(["2026-11-29T00:00:00Z", "2026-12-01T00:00:00Z", "x", ""]),
        "end": st.sampled_from(["2026-12-24T00:00:00Z", "2026-11-30T00:00:00", "", "y"]),
    }
)
_products = st.fixed_dictionaries(
    {},
    optional={
        "title": st.text(max_size=20) | _json,
        "description": st.text(max_size=20) | _json,
        "brand": st.text(max_size=10) | _json,
        "product_type": st.lists(st.text(max_size=12), max_size=3) | _json,
        "link": st.sampled_from(["https://a.example/p", "http://a.example", ""]) | _json,
        "price": _money | _json,
        "sale_price": _money | _json,
        "sale_price_effective_date": _period | _json,
    },
)
_reviews = st.fixed_dictionaries(
    {},
    optional={
        "rating": st.floats(-1, 6) | _json,
        "count": st.integers(-1, 10) | _json,
        "reviews": st.lists(
            st.fixed_dictionaries(
                {},
                optional={
                    "stars": st.floats(0, 5) | _json,
                    "author": st.text(max_size=5) | _json,
                    "title": st.text(max_size=5) | _json,
                    "content": st.text(max_size=5) | _json,
                },
            ),
            max_size=3,
        )
        | _json,
    },
)
_offers = st.fixed_dictionaries(
    {},
    optional={
        "title": st.text(max_size=10) | _json,
        "effective": _period | _json,
        "channels": st.lists(st.sampled_from(["in_store", "online"]), max_size=2) | _json,
        "percent_off": st.integers(-1, 101) | _json,
        "money_off": _money | _json,
        "gtins": st.lists(st.sampled_from([KETTLE, GRINDER, "1", ""]), max_size=2) | _json,
    },
)
_stock = st.dictionaries(
    st.sampled_from(["here", "online", "nearby"]),
    st.integers(-1, 10) | st.dictionaries(st.text(max_size=4), st.integers(-1, 5) | _json) | _json,
    max_size=3,
)
_keys = st.sampled_from([KETTLE, GRINDER, TOASTER, "3760123450010", "12345", "abc"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    catalog=st.dictionaries(_keys, _products, max_size=4),
    reviews=st.dictionaries(_keys, _reviews, max_size=3),
    offers=st.dictionaries(st.text(min_size=1, max_size=5), _offers, max_size=3),
    stock=st.dictionaries(_keys, _stock, max_size=3),
)
def test_whatever_the_streams_hold_makes_a_catalog_the_kiosk_loads(
    catalog: dict[str, Any],
    reviews: dict[str, Any],
    offers: dict[str, Any],
    stock: dict[str, Any],
) -> None:
    made = source_document(
        store_id="paris-01",
        store_names=STORE_NAMES,
        catalog=catalog,
        reviews=reviews,
        offers=offers,
        stock=stock,
        now=NOW,
    )
    reader = SourceReader(made.text, "streams")  # refuses as a load would, with the reason
    loaded = list(reader.products())
    reader.promotions()
    assert len(loaded) == made.products
    assert made.products + made.skipped == len(catalog)


@given(
    value=st.dictionaries(st.sampled_from(["here", "online", "nearby", "as_of"]), _json | _stock)
)
def test_a_stock_item_is_read_or_refused_with_a_catalog_error(value: dict[str, Any]) -> None:
    try:
        stock = stock_from_value(value, STORE_NAMES, confirmed_at=NOW, stale=False)
    except CatalogError as error:
        refused = str(error)
    else:
        assert min(stock.here, stock.online, *(units for _, units in stock.nearby)) >= 0
        return
    assert refused.startswith("stock item:")


@given(
    value=st.dictionaries(
        st.sampled_from(["first_name", "points", "personalisation", "offers"]),
        _json
        | st.lists(
            st.fixed_dictionaries(
                {
                    "gtin": _json | _keys,
                    "title": _json | st.dictionaries(st.sampled_from(["fr", "en"]), _json),
                }
            )
        ),
    )
)
def test_a_customer_item_is_read_or_refused_with_a_catalog_error(value: dict[str, Any]) -> None:
    try:
        document = customer_from_value(value)
    except CatalogError as error:
        refused = str(error)
    else:
        assert isinstance(document["points"], int)
        assert all(len(gtin) >= 14 for gtin, _ in document["offers"])
        return
    assert refused.startswith("customer item:")


# --- the kiosk fed by the streams ----------------------------------------------------------


def stream_config(tmp_path: Path, **extra: str) -> Path:
    """A kiosk fed by the platform's streams from a broker (none listens: offline)."""
    return write_config(
        tmp_path / "kiosk.toml",
        tmp_path / "data",
        free_port(),
        catalog='source = ""\nstore_names = { "lyon-02" = "Lyon Part-Dieu" }',
        **extra,
    )


def synced_before(config_path: Path, at: float) -> None:
    """The streams as a kiosk left them when it last ran, its catalog made from them."""
    config = load_config(config_path)
    catalog, cache = open_stream_catalog(config)
    try:
        fill(cache, at)
        CatalogFollower(cache, catalog_place(config)).rebuild()
    finally:
        catalog.close()
        cache.close()


def test_a_kiosk_booted_offline_serves_its_cache_with_the_stock_time(tmp_path: Path) -> None:
    config_path = stream_config(tmp_path)
    hour_ago = time.time() - 3600
    synced_before(config_path, hour_ago)
    config = load_config(config_path)

    async def scenario() -> None:
        runtime, _ = await build_runtime(config)
        assert runtime.streams is not None
        await runtime.start()
        try:
            await runtime.ask(ShowProduct(KETTLE, "search"))
            shown = runtime.session.view.product
            assert shown is not None
            assert shown.display_name("fr") == "Bouilloire inox"
            assert shown.stock.stale
            assert shown.stock.as_of is not None
            assert abs(shown.stock.as_of.timestamp() - hour_ago) < 1
            assert shown.stock.nearby[0] == ("Lyon Part-Dieu", 3)
            # The downlink applies a stock change: the screen shows it, nobody touched it.
            changes = runtime.changes
            apply(runtime.streams.cache, Stream.STOCK, {KETTLE: {"here": 2}}, time.time())
            runtime.streams.follower.streams_changed(frozenset({Stream.STOCK}))
            async with asyncio.timeout(5):
                view = await runtime.wait_for_view(
                    lambda view: view.product is not None and view.product.stock.here == 2
                )
            assert runtime.changes == changes + 1
            assert view.product is not None
            assert not view.product.stock.stale  # just confirmed
        finally:
            await runtime.close()

    asyncio.run(scenario())


def test_borne_catalog_status_and_show_read_the_kiosks_files(tmp_path: Path) -> None:
    config_path = stream_config(tmp_path)
    synced_before(config_path, time.time() - 30)

    status = borne("catalog", "status", "--config", str(config_path), "--json")
    assert status.returncode == 0, status.stderr
    streams = {entry["stream"]: entry for entry in json.loads(status.stdout)["streams"]}
    assert streams["catalog"]["version"] == 1
    assert streams["catalog"]["items"] == 3
    assert 29 <= streams["stock"]["age_seconds"] < 120
    assert streams["customers"]["synced_at"] is None
    text = borne("catalog", "status", "--config", str(config_path))
    assert "never synced" in text.stdout

    shown = borne("catalog", "show", "3760123450027", "--config", str(config_path), "--json")
    assert shown.returncode == 0, shown.stderr
    grinder = json.loads(shown.stdout)
    assert grinder["title"] == "Moulin à café"
    assert (grinder["price_cents"], grinder["current_price_cents"]) == (3990, 2990)
    assert grinder["stock"]["here"] == 2
    assert grinder["stock"]["online"] == 5
    assert not grinder["stock"]["stale"]
    assert (grinder["rating"], grinder["review_count"]) == (0.0, 0)
    text = borne("catalog", "show", KETTLE, "--config", str(config_path))
    assert "Lyon Part-Dieu 3" in text.stdout
    assert "4.5/5 from 2 reviews" in text.stdout


@pytest.mark.parametrize("gtin", ["3760123450011", "12345", "abc"])
def test_borne_catalog_show_refuses_what_is_not_a_gtin(tmp_path: Path, gtin: str) -> None:
    config_path = stream_config(tmp_path)
    shown = borne("catalog", "show", gtin, "--config", str(config_path))
    assert shown.returncode == 2
    assert "is not a GTIN" in shown.stderr


def test_borne_catalog_show_says_when_the_kiosk_does_not_sell_it(tmp_path: Path) -> None:
    config_path = stream_config(tmp_path)
    synced_before(config_path, time.time())
    shown = borne("catalog", "show", "4006381333931", "--config", str(config_path))
    assert shown.returncode == 1
    assert "not in the kiosk's catalog" in shown.stderr


def test_pictures_from_the_configured_folder_are_shown_once_it_is_set(
    kiosk: Kiosk, tmp_path: Path
) -> None:
    kettle = kiosk.catalog.lookup(KETTLE)
    assert kettle is not None
    assert kettle.picture == ""  # the kiosk's folder has none
    drawn = tmp_path / "drawn"
    drawn.mkdir()
    (drawn / "3760123450010.png").write_bytes(b"\x89PNG")
    place = replace(kiosk.place, pictures=drawn)
    # The same streams, so the same document: the new folder alone makes a new load.
    assert CatalogFollower(kiosk.cache, place, now=lambda: NOW).rebuild()
    kettle = kiosk.catalog.lookup(KETTLE)
    assert kettle is not None
    assert kettle.picture == str(drawn / "3760123450010.png")


def test_stock_on_screen_when_the_link_goes_quiet_gets_its_time_without_a_touch(
    tmp_path: Path,
) -> None:
    config_path = stream_config(tmp_path, sync="stale_after = 2")
    synced_before(config_path, time.time() - 3600)
    config = load_config(config_path)

    async def scenario() -> None:
        runtime, _ = await build_runtime(config)
        assert runtime.streams is not None
        await runtime.start()
        try:  # the platform's last word on stock, then silence
            apply(runtime.streams.cache, Stream.STOCK, {KETTLE: {"here": 4}}, time.time())
            await runtime.ask(ShowProduct(KETTLE, "search"))
            shown = runtime.session.view.product
            assert shown is not None
            assert not shown.stock.stale  # just synced
            async with asyncio.timeout(10):  # nothing comes from the platform meanwhile
                view = await runtime.wait_for_view(
                    lambda view: view.product is not None and view.product.stock.stale
                )
            assert view.product is not None
            assert view.product.stock.as_of == shown.stock.as_of
        finally:
            await runtime.close()

    asyncio.run(scenario())


# --- the whole link: feeds imported at a real hub, a kiosk synced over a real broker -------


def test_an_inventory_change_imported_at_the_hub_is_on_the_kiosks_screen(
    tmp_path: Path, broker: Broker
) -> None:
    feeds = tmp_path / "feeds"
    shutil.copytree(DEMO_STORE / "feeds", feeds)
    hub_config = tmp_path / "hub.toml"
    hub_config.write_text(
        f'[mqtt]\nhost = "127.0.0.1"\nport = {broker.port}\nclient_id = "hub"\n'
        f'[store]\ndata_dir = "{tmp_path / "hub"}"\n'
        f'[privacy]\npseudonym_key_file = "{DEMO_SECRET}"\n'
        '[devices]\n"kiosk-07" = "paris-01"\n'
    )
    imported = borne(
        "hub", "import", "--config", str(hub_config), *map(str, sorted(feeds.iterdir()))
    )
    assert imported.returncode == 0, imported.stderr
    with (tmp_path / "hub.log").open("wb") as hub_log:  # what went wrong, if it does
        hub = subprocess.Popen(
            [*BORNE, "hub", "serve", "--config", str(hub_config)],
            stdout=subprocess.DEVNULL,
            stderr=hub_log,
        )
    names = 'store_names = { "lyon-01" = "Lyon Part-Dieu", "lille-01" = "Lille Grand Place" }'
    config_path = write_config(
        tmp_path / "kiosk.toml",
        tmp_path / "data",
        broker.port,
        catalog=f'source = ""\n{names}',
        # The kiosk may ask before the hub has subscribed: it asks again a second later.
        sync="answer_within = 1",
    )
    config = load_config(config_path)

    async def scenario() -> None:
        runtime, _ = await build_runtime(config)
        await runtime.start()
        try:
            async with asyncio.timeout(60):  # the hub starts, the kiosk syncs and rebuilds
                while runtime.catalog.lookup(KETTLE) is None:  # noqa: ASYNC110 (no event to wait for in another process)
                    await asyncio.sleep(0.1)
                # The attract screen, empty until now, is told to read the catalog again.
                await runtime.wait_for_view(lambda view: view.catalog_version > 0)
            await runtime.ask(ShowProduct(KETTLE, "search"))
            shown = runtime.session.view.product
            assert shown is not None
            assert shown.display_name("fr") == "Casque sans fil Nomade ANC"
            assert (shown.price_cents, shown.current_price_cents) == (12999, 9999)
            assert shown.stock.here == 7
            assert ("Lyon Part-Dieu", 3) in shown.stock.nearby
            assert not shown.stock.stale
            inventory = feeds / "inventory-paris-01.tsv"
            inventory.write_text(
                inventory.read_text().replace("3760123450010\t7\t", "3760123450010\t2\t")
            )
            done = await asyncio.to_thread(
                borne, "hub", "import", "--config", str(hub_config), str(inventory)
            )
            assert done.returncode == 0, done.stderr
            async with asyncio.timeout(10):  # nobody touches the screen
                await runtime.wait_for_view(
                    lambda view: view.product is not None and view.product.stock.here == 2
                )
            show = await asyncio.to_thread(
                borne, "catalog", "show", KETTLE, "--config", str(config_path), "--json"
            )
            assert json.loads(show.stdout)["stock"]["here"] == 2
        finally:
            await runtime.close()

    try:
        asyncio.run(scenario())
    finally:
        hub.send_signal(signal.SIGTERM)
        hub.wait(30)


def test_borne_catalog_show_says_when_the_kiosk_never_ran_and_creates_nothing(
    tmp_path: Path,
) -> None:
    config_path = stream_config(tmp_path)
    shown = borne("catalog", "show", KETTLE, "--config", str(config_path))
    assert shown.returncode == 1
    assert "no catalog at" in shown.stderr
    status = borne("catalog", "status", "--config", str(config_path))
    assert status.returncode == 1
    assert "no stream cache at" in status.stderr
    assert not (tmp_path / "data").exists()


def test_a_sale_price_without_dates_runs_until_the_feed_says_otherwise(
    kiosk: Kiosk, clock: Clock
) -> None:
    on_sale = product("Bouilloire", 4990, sale_price={"cents": 3990, "currency": "EUR"})
    apply(kiosk.cache, Stream.CATALOG, {KETTLE: on_sale}, clock.now)
    assert kiosk.follower.rebuild()
    kettle = kiosk.catalog.lookup(KETTLE)
    assert kettle is not None
    assert kettle.current_price_cents == 3990
    assert kettle.promotion is not None
    assert kettle.promotion.open_ended  # no end date to show
