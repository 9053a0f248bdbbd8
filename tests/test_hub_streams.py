"""The hub turns imported feeds into each store's versioned streams, as the kiosk parses them.

Every scenario runs against both backends: SQLite in a temporary file, and a real
PostgreSQL started from Debian's packages (as `nobody` when the tests run as root).
"""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.hub.feeds import (
    Customer,
    FeedKind,
    FeedResult,
    LocalInventory,
    LoyaltyOffer,
    Money,
    OfferType,
    Period,
    Product,
    ProductApplicability,
    Promotion,
    RedemptionChannel,
    Review,
    ReviewedProduct,
    read_feed,
)
from edge.hub.feeds.demo_export import DemoFeedFiles, export_demo_store
from edge.hub.streams import (
    MAX_REVIEWS_SHOWN,
    RETAINED_VERSIONS,
    STREAMS,
    InvalidStoreIdError,
    SqliteStreamDatabase,
    StreamDatabaseError,
    StreamStore,
    StreamStoreError,
    UnknownStreamError,
)
from edge.hub.streams import store as store_module
from edge.hub.streams.postgres import PostgresStreamDatabase
from edge.sync.cursor import Apply, Position, Skip, decide
from edge.sync.messages import MAX_ITEMS, ChangeSet, SnapshotPage, Stream, parse_message
from tests.mosquitto import free_port
from tests.postgres import PostgresServer

DEMO_CATALOG = Path(__file__).parent.parent / "assets" / "demo-store" / "catalog.json"
DEMO_STORES = ("lille-01", "lyon-01", "paris-01")
GTINS = ("03760123450010", "03760123450027", "03760123450034")
BACKENDS = ("sqlite", "postgres")

OpenHub = Callable[..., StreamStore]  # new_epoch=, clock= -> a store on a fresh database


def parsed(document: dict[str, Any], store_id: str) -> ChangeSet | SnapshotPage:
    return parse_message(json.dumps(document).encode(), store_id)


def apply(items: dict[str, Any], message: ChangeSet | SnapshotPage) -> None:
    changes = message.changes if isinstance(message, ChangeSet) else message.items
    for change in changes:
        if change.value is None:
            items.pop(change.key, None)
        else:
            items[change.key] = change.value


@pytest.fixture
def demo(tmp_path: Path) -> DemoFeedFiles:
    return export_demo_store(DEMO_CATALOG, tmp_path / "feeds")


@pytest.fixture(scope="module")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL on loopback for this module, stopped by its pid."""
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(params=BACKENDS)
def open_hub(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OpenHub]:
    """Opens stream stores, each on a fresh database of the backend; closes them after."""
    opened: list[StreamStore] = []

    def open_store(**options: Any) -> StreamStore:
        if request.param == "sqlite":
            database: Any = SqliteStreamDatabase(tmp_path / f"streams-{len(opened)}.sqlite")
        else:
            server = request.getfixturevalue("postgres_server")
            database = PostgresStreamDatabase(server.new_database())
        opened.append(StreamStore(database, **options))
        return opened[-1]

    yield open_store
    for store in opened:
        store.close()


@pytest.fixture
def hub(open_hub: OpenHub) -> StreamStore:
    return open_hub()


def import_demo(hub: StreamStore, demo: DemoFeedFiles) -> None:
    products, *others = demo.all()
    hub.import_feeds([read_feed(path) for path in [*others, products]])  # products go first


def rewrite_quantity(path: Path, gtin: str, quantity: int) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines):
        cells = line.split("\t")
        if cells[1].zfill(14) == gtin:  # the demo uses GTIN-13s as ids
            cells[2] = str(quantity)
            lines[number] = "\t".join(cells)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_the_demo_feeds_make_version_1_of_every_stream_of_every_store(
    hub: StreamStore, demo: DemoFeedFiles
) -> None:
    import_demo(hub, demo)
    assert hub.stores() == list(DEMO_STORES)
    for store_id in DEMO_STORES:
        for stream in STREAMS:
            assert hub.position(store_id, stream)[1] == 1
            (document,) = hub.changes_since(store_id, stream, 0) or []
            message = parsed(document, store_id)
            assert isinstance(message, ChangeSet)
            assert message.version == 1
    stock = hub.items("paris-01", Stream.STOCK)["03760123450010"]
    assert (stock["here"], stock["nearby"], stock["online"]) == (
        7,
        {"lille-01": 0, "lyon-01": 3},
        45,
    )
    product = hub.items("lyon-01", Stream.CATALOG)["03760123450010"]
    assert product["price"] == {"cents": 12999, "currency": "EUR"}
    assert product["sale_price"] == {"cents": 9999, "currency": "EUR"}
    reviews = hub.items("paris-01", Stream.REVIEWS)["03760123450010"]
    assert (reviews["count"], sorted(review["stars"] for review in reviews["reviews"])) == (
        3,
        [4, 4, 5],
    )
    offers = hub.items("paris-01", Stream.OFFERS)
    assert offers["promo-noel-casque"]["gtins"] == ["03760123450010"]


def test_one_changed_quantity_is_one_new_stock_version_per_store_holding_that_product(
    hub: StreamStore, demo: DemoFeedFiles
) -> None:
    import_demo(hub, demo)
    lyon = next(path for path in demo.inventories if "lyon-01" in path.name)
    rewrite_quantity(lyon, "03760123450010", 11)
    report = hub.import_feed(read_feed(lyon))
    assert report.versions == {(store_id, Stream.STOCK): 2 for store_id in DEMO_STORES}
    for store_id in DEMO_STORES:
        (document,) = hub.changes_since(store_id, Stream.STOCK, 1) or []
        message = parsed(document, store_id)
        assert isinstance(message, ChangeSet)
        assert [change.key for change in message.changes] == ["03760123450010"]
    paris = hub.items("paris-01", Stream.STOCK)["03760123450010"]
    assert paris["nearby"]["lyon-01"] == 11
    assert hub.items("lyon-01", Stream.STOCK)["03760123450010"]["here"] == 11


def test_reimporting_the_same_files_makes_no_new_version(
    hub: StreamStore, demo: DemoFeedFiles
) -> None:
    import_demo(hub, demo)
    for path in demo.all():
        assert hub.import_feed(read_feed(path)).versions == {}
    assert hub.changes_since("paris-01", Stream.CATALOG, 1) == []


def test_a_product_absent_from_a_product_feed_is_removed(
    hub: StreamStore, demo: DemoFeedFiles
) -> None:
    import_demo(hub, demo)
    lines = demo.products.read_text(encoding="utf-8").splitlines()
    gone = lines[1].split("\t")[0]
    demo.products.write_text("\n".join([lines[0], *lines[2:]]) + "\n", encoding="utf-8")
    hub.import_feed(read_feed(demo.products))
    (document,) = hub.changes_since("paris-01", Stream.CATALOG, 1) or []
    message = parsed(document, "paris-01")
    assert isinstance(message, ChangeSet)
    assert [(change.key, change.value) for change in message.changes] == [("0" + gone, None)]
    assert "0" + gone not in hub.items("paris-01", Stream.CATALOG)


def test_products_without_a_gtin_are_skipped_and_counted(hub: StreamStore) -> None:
    products = (
        Product(id="a", title="A", price=Money(100, "EUR"), gtin=GTINS[0]),
        Product(id="b", title="B", price=Money(100, "EUR")),
    )
    hub.add_store("paris-01")
    report = hub.import_feed(FeedResult(FeedKind.PRODUCTS, products, ()))
    assert report.without_gtin == 1
    assert list(hub.items("paris-01", Stream.CATALOG)) == [GTINS[0]]


def test_inventory_rows_of_unknown_products_or_impossible_stores_are_reported(
    hub: StreamStore,
) -> None:
    hub.import_feed(FeedResult(FeedKind.PRODUCTS, products_feed(), ()))
    rows = (
        LocalInventory(store_code="paris-01", id="nope", quantity=1),
        LocalInventory(store_code="a/b", id="sku-0", quantity=1),
        LocalInventory(store_code="paris-01", id="sku-0", quantity=2),
    )
    report = hub.import_feed(FeedResult(FeedKind.LOCAL_INVENTORY, rows, ()))
    assert (report.unknown_ids, report.refused_store_codes) == (("nope",), ("a/b",))
    assert hub.stores() == ["paris-01"]


def test_snapshot_pages_reassembled_are_the_items(hub: StreamStore, demo: DemoFeedFiles) -> None:
    import_demo(hub, demo)
    for stream in STREAMS:
        pages = hub.snapshot("paris-01", stream, page_size=7)
        items: dict[str, Any] = {}
        for number, document in enumerate(pages, start=1):
            message = parsed(document, "paris-01")
            assert isinstance(message, SnapshotPage)
            assert (message.page, message.pages, message.version) == (number, len(pages), 1)
            apply(items, message)
        assert items == hub.items("paris-01", stream)
    assert len(hub.snapshot("paris-01", Stream.CATALOG, page_size=7)) > 1


def test_a_stream_with_nothing_yet_is_one_empty_page(hub: StreamStore) -> None:
    hub.add_store("paris-01")
    (page,) = hub.snapshot("paris-01", Stream.OFFERS)
    message = parsed(page, "paris-01")
    assert isinstance(message, SnapshotPage)
    assert (message.version, message.items) == (1, ())


def test_a_failed_import_changes_no_item_and_no_version(
    hub: StreamStore, demo: DemoFeedFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    import_demo(hub, demo)
    before = {(s, stream): hub.items(s, stream) for s in DEMO_STORES for stream in STREAMS}
    calls = []
    real = store_module._record

    def failing(*arguments: Any) -> None:
        calls.append(arguments)
        if len(calls) == 2:  # the first store's change is written, then the disk fails
            raise StreamDatabaseError("injected")
        real(*arguments)

    monkeypatch.setattr(store_module, "_record", failing)
    lyon = next(path for path in demo.inventories if "lyon-01" in path.name)
    rewrite_quantity(lyon, "03760123450010", 11)
    with pytest.raises(StreamDatabaseError):
        hub.import_feed(read_feed(lyon))
    assert len(calls) == 2
    after = {(s, stream): hub.items(s, stream) for s in DEMO_STORES for stream in STREAMS}
    assert after == before
    assert all(hub.position(s, Stream.STOCK)[1] == 1 for s in DEMO_STORES)


def test_the_kiosk_cursor_reaches_the_hub_version_through_the_change_sets(
    hub: StreamStore, demo: DemoFeedFiles
) -> None:
    import_demo(hub, demo)
    epoch = hub.position("paris-01", Stream.STOCK)[0]
    first = parsed(hub.snapshot("paris-01", Stream.STOCK)[0], "paris-01")
    position = Position(Stream.STOCK, first.epoch, first.version)
    lyon = next(path for path in demo.inventories if "lyon-01" in path.name)
    for quantity in (4, 5, 6):
        rewrite_quantity(lyon, "03760123450027", quantity)
        hub.import_feed(read_feed(lyon))
    documents = hub.changes_since("paris-01", Stream.STOCK, position.version, epoch) or []
    for document in [*documents, documents[0]]:  # and a redelivery
        message = parsed(document, "paris-01")
        assert isinstance(message, ChangeSet)
        decision = decide(position, message)
        assert isinstance(decision, Apply | Skip)
        if isinstance(decision, Apply):
            position = decision.position
    assert position == Position(Stream.STOCK, epoch, 4)
    assert hub.position("paris-01", Stream.STOCK) == (epoch, 4)


def test_changes_since_answers_none_when_a_snapshot_is_needed(
    open_hub: OpenHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "RETAINED_VERSIONS", 2)
    hub = open_hub(new_epoch=lambda: "epoch-1")
    hub.import_feed(FeedResult(FeedKind.PRODUCTS, products_feed(), ()))
    for quantity in range(4):
        inventory = (LocalInventory(store_code="paris-01", id="sku-0", quantity=quantity),)
        hub.import_feed(FeedResult(FeedKind.LOCAL_INVENTORY, inventory, ()))
    assert hub.position("paris-01", Stream.STOCK) == ("epoch-1", 4)
    assert hub.changes_since("paris-01", Stream.STOCK, 1) is None  # forgotten
    assert len(hub.changes_since("paris-01", Stream.STOCK, 2) or []) == 2
    assert hub.changes_since("paris-01", Stream.STOCK, 2, "epoch-0") is None
    assert hub.changes_since("paris-01", Stream.STOCK, 5) is None
    with pytest.raises(UnknownStreamError):
        hub.changes_since("lyon-01", Stream.STOCK, 0)
    assert RETAINED_VERSIONS >= 100  # the module's own retention is untouched


def test_store_ids_and_page_sizes_are_checked(hub: StreamStore) -> None:
    for bad in ("", "online", "a+b", "x" * 65):
        with pytest.raises(InvalidStoreIdError):
            hub.add_store(bad)
    hub.add_store("paris-01")
    with pytest.raises(StreamStoreError):
        hub.snapshot("paris-01", Stream.STOCK, page_size=0)


def test_a_database_that_cannot_open_is_a_typed_error(tmp_path: Path) -> None:
    with pytest.raises(StreamDatabaseError):
        StreamStore(tmp_path)  # a directory
    nobody_listens = f"host=127.0.0.1 port={free_port()} user=borne connect_timeout=2"
    with pytest.raises(StreamDatabaseError) as refused:
        PostgresStreamDatabase(nobody_listens)
    assert refused.value.retryable


def test_postgres_reconnects_after_the_server_drops_it(postgres_server: PostgresServer) -> None:
    dsn = postgres_server.new_database()
    hub = StreamStore(PostgresStreamDatabase(dsn))
    try:
        hub.add_store("paris-01")
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        with pytest.raises(StreamDatabaseError) as dropped:
            hub.stores()
        assert dropped.value.retryable
        assert hub.stores() == ["paris-01"]  # connected again
    finally:
        hub.close()


def products_feed() -> tuple[Product, ...]:
    return tuple(
        Product(id=f"sku-{number}", title=f"P{number}", price=Money(100, "EUR"), gtin=gtin)
        for number, gtin in enumerate(GTINS)
    )


inventory_rows = st.builds(
    LocalInventory,
    store_code=st.sampled_from(["paris-01", "lyon-01", "online"]),
    id=st.sampled_from(["sku-0", "sku-1", "sku-2", "unknown"]),
    quantity=st.integers(0, 3),
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.lists(inventory_rows, max_size=6), max_size=6))
def test_every_change_set_in_order_rebuilds_the_hub_items(
    open_hub: OpenHub, imports: list[list[LocalInventory]]
) -> None:
    ticks = iter(range(10_000))
    hub = open_hub(
        clock=lambda: datetime(2026, 11, 30, tzinfo=UTC).replace(second=next(ticks) % 60),
    )
    hub.add_store("lille-01")
    hub.import_feed(FeedResult(FeedKind.PRODUCTS, products_feed(), ()))
    for rows in imports:
        hub.import_feed(FeedResult(FeedKind.LOCAL_INVENTORY, tuple(rows), ()))
    for store_id in hub.stores():
        items: dict[str, Any] = {}
        for document in hub.changes_since(store_id, Stream.STOCK, 0) or []:
            apply(items, parsed(document, store_id))
        assert items == hub.items(store_id, Stream.STOCK)


def test_a_row_time_moves_only_when_the_row_changes(open_hub: OpenHub) -> None:
    times = iter([datetime(2026, 11, 30, 9, tzinfo=UTC), datetime(2026, 11, 30, 10, tzinfo=UTC)])
    hub = open_hub(clock=lambda: next(times))
    hub.import_feed(FeedResult(FeedKind.PRODUCTS, products_feed(), ()))
    row = LocalInventory(store_code="paris-01", id="sku-0", quantity=1)
    hub.import_feed(FeedResult(FeedKind.LOCAL_INVENTORY, (row,), ()))
    hub.import_feed(FeedResult(FeedKind.LOCAL_INVENTORY, (replace(row, quantity=2),), ()))
    assert hub.items("paris-01", Stream.STOCK)[GTINS[0]]["as_of"] == "2026-11-30T10:00:00Z"


def gtin14(body: int) -> str:
    """A valid GTIN-14 from 13 digits (GS1's mod-10 check digit)."""
    digits = f"{body:013d}"
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return digits + str(-total % 10)


def review(number: int, stars: float, **changes: Any) -> Review:
    return replace(
        Review(
            review_id=f"r{number}",
            timestamp=datetime(2026, 11, 1, tzinfo=UTC) + timedelta(days=number),
            stars=stars,
            products=(ReviewedProduct(skus=("sku-1",)),),
            reviewer_name=f"Person {number}",
        ),
        **changes,
    )


def test_reviews_map_by_gtin_or_sku_newest_first_without_spam_or_anonymous_names(
    hub: StreamStore,
) -> None:
    hub.add_store("paris-01")
    hub.import_feed(FeedResult(FeedKind.PRODUCTS, products_feed(), ()))
    reviews = [review(number, 4.0) for number in range(MAX_REVIEWS_SHOWN + 5)]
    reviews += [
        review(100, 1.0, is_spam=True),
        review(101, 2.0, products=(ReviewedProduct(skus=("unknown",)),)),
        review(102, 5.0, products=(ReviewedProduct(gtins=(GTINS[2],)),), is_anonymous=True),
    ]
    report = hub.import_feed(FeedResult(FeedKind.REVIEWS, tuple(reviews), ()))
    assert (report.spam, report.unmatched_reviews) == (1, 1)
    items = hub.items("paris-01", Stream.REVIEWS)
    assert set(items) == {GTINS[1], GTINS[2]}
    shown = items[GTINS[1]]
    assert (shown["count"], shown["rating"], len(shown["reviews"])) == (
        MAX_REVIEWS_SHOWN + 5,
        4.0,
        MAX_REVIEWS_SHOWN,
    )
    assert shown["reviews"][0]["id"] == f"r{MAX_REVIEWS_SHOWN + 4}"
    assert shown["reviews"][0]["author"] == f"Person {MAX_REVIEWS_SHOWN + 4}"
    assert "author" not in items[GTINS[2]]["reviews"][0]
    hub.import_feed(FeedResult(FeedKind.REVIEWS, (review(1, 3.0),), ()))  # a full feed
    assert set(hub.items("paris-01", Stream.REVIEWS)) == {GTINS[1]}


def test_offers_name_their_products_by_gtin_and_report_unknown_ids(hub: StreamStore) -> None:
    hub.add_store("paris-01")
    hub.import_feed(FeedResult(FeedKind.PRODUCTS, products_feed(), ()))
    start = datetime(2026, 12, 1, tzinfo=UTC)
    promotion = Promotion(
        promotion_id="noel",
        product_applicability=ProductApplicability.SPECIFIC_PRODUCTS,
        offer_type=OfferType.NO_CODE,
        long_title="-10 %",
        promotion_effective_dates=Period(start, start + timedelta(days=30)),
        redemption_channel=(RedemptionChannel.IN_STORE,),
        percent_off=10,
        item_ids=("sku-2", "sku-0", "gone"),
    )
    report = hub.import_feed(FeedResult(FeedKind.PROMOTIONS, (promotion,), ()))
    assert report.unknown_ids == ("gone",)
    offer = hub.items("paris-01", Stream.OFFERS)["noel"]
    assert offer["gtins"] == [GTINS[0], GTINS[2]]
    assert offer["effective"] == {"start": "2026-12-01T00:00:00Z", "end": "2026-12-31T00:00:00Z"}
    assert offer["percent_off"] == 10


def test_the_later_of_two_rows_for_one_store_and_product_wins(hub: StreamStore) -> None:
    hub.import_feed(FeedResult(FeedKind.PRODUCTS, products_feed(), ()))
    row = LocalInventory(store_code="paris-01", id="sku-0", quantity=1)
    hub.import_feed(FeedResult(FeedKind.LOCAL_INVENTORY, (row,), ()))
    again = (replace(row, quantity=5), row)  # the file ends with the row as held
    assert hub.import_feed(FeedResult(FeedKind.LOCAL_INVENTORY, again, ())).versions == {}
    assert hub.items("paris-01", Stream.STOCK)[GTINS[0]]["here"] == 1


def test_a_store_registered_later_starts_at_version_1_with_every_item(hub: StreamStore) -> None:
    hub.import_feed(FeedResult(FeedKind.PRODUCTS, products_feed(), ()))
    rows = (LocalInventory(store_code="paris-01", id="sku-1", quantity=3),)
    hub.import_feed(FeedResult(FeedKind.LOCAL_INVENTORY, rows, ()))
    report = hub.add_store("lille-01")
    assert report.versions == {("lille-01", stream): 1 for stream in STREAMS}
    assert set(hub.items("lille-01", Stream.CATALOG)) == set(GTINS)
    stock = hub.items("lille-01", Stream.STOCK)[GTINS[1]]
    assert ("here" in stock, stock["nearby"]) == (False, {"paris-01": 3})
    assert hub.position("paris-01", Stream.STOCK).version == 1  # lille has no row: no change


def test_a_change_set_too_big_for_one_message_is_answered_by_a_snapshot(hub: StreamStore) -> None:
    hub.add_store("paris-01")
    many = tuple(
        Product(id=f"sku-{n}", title="P", price=Money(100, "EUR"), gtin=gtin14(n))
        for n in range(MAX_ITEMS + 1)
    )
    hub.import_feed(FeedResult(FeedKind.PRODUCTS, many, ()))
    assert hub.position("paris-01", Stream.CATALOG).version == 2
    assert hub.changes_since("paris-01", Stream.CATALOG, 1) is None
    pages = hub.snapshot("paris-01", Stream.CATALOG, page_size=MAX_ITEMS)
    assert [parsed(page, "paris-01").version for page in pages] == [2, 2]


def _open_location(backend: str, where: str) -> StreamStore:
    if backend == "sqlite":
        return StreamStore(SqliteStreamDatabase(where))
    return StreamStore(PostgresStreamDatabase(where))


def _import_quantities(
    backend: str, where: str, sku: str, quantities: list[int], start: Any, report: Any
) -> None:
    """A hub process: one import per quantity, of product `sku` in two stores."""
    hub = _open_location(backend, where)
    start.wait()
    try:
        for quantity in quantities:
            rows = tuple(
                LocalInventory(store_code=store_id, id=sku, quantity=quantity)
                for store_id in ("paris-01", "lyon-01")
            )
            versions = hub.import_feed(FeedResult(FeedKind.LOCAL_INVENTORY, rows, ())).versions
            report.put(versions[("paris-01", Stream.STOCK)])
    finally:
        hub.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_processes_importing_at_once_number_every_version_once_without_gaps(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    if backend == "sqlite":
        where = str(tmp_path / "shared.sqlite")
    else:
        where = request.getfixturevalue("postgres_server").new_database()
    hub = _open_location(backend, where)
    rounds = 15
    try:
        hub.import_feed(FeedResult(FeedKind.PRODUCTS, products_feed(), ()))
        for store_id in ("paris-01", "lyon-01"):
            hub.add_store(store_id)
        spawn = multiprocessing.get_context("spawn")
        start, report = spawn.Barrier(2), spawn.Queue()
        workers = [
            spawn.Process(
                target=_import_quantities,
                args=(backend, where, sku, [1 + n for n in range(rounds)], start, report),
            )
            # Each its own product, so that no row of one import waits on the other's, and
            # each import changes its product's quantity: one new version per store.
            for sku in ("sku-0", "sku-1")
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=120)
        assert [worker.exitcode for worker in workers] == [0, 0]
        told = sorted(report.get(timeout=10) for _ in range(2 * rounds))
        assert told == list(range(2, 2 * rounds + 2))  # each version given to one import
        for store_id in ("paris-01", "lyon-01"):
            assert hub.position(store_id, Stream.STOCK).version == 2 * rounds + 1
            items: dict[str, Any] = {}
            documents = hub.changes_since(store_id, Stream.STOCK, 0) or []
            assert [document["version"] for document in documents] == list(range(1, 2 * rounds + 2))
            for document in documents:
                apply(items, parsed(document, store_id))
            assert items == hub.items(store_id, Stream.STOCK)
    finally:
        hub.close()


def customer(number: int, points: int, *offers: LoyaltyOffer) -> Customer:
    return Customer(
        pseudonym=f"{number:064x}", first_name=f"Client {number}", points=points, offers=offers
    )


def test_a_loyalty_feed_gives_every_store_its_customers_and_replaces_the_last_one(
    hub: StreamStore,
) -> None:
    hub.import_feed(FeedResult(FeedKind.PRODUCTS, products_feed(), ()))
    for store_id in ("paris-01", "lyon-01"):
        hub.add_store(store_id)
    offer = LoyaltyOffer(gtin=GTINS[0], title={"fr": "Points doublés", "en": "Double points"})
    unsold = LoyaltyOffer(gtin=gtin14(42), title={"fr": "Ailleurs"})
    first = (customer(1, 100, offer, unsold), customer(2, 5), customer(3, 0))
    report = hub.import_feed(FeedResult(FeedKind.CUSTOMERS, first, ()))
    assert report.versions == {
        ("paris-01", Stream.CUSTOMERS): 2,
        ("lyon-01", Stream.CUSTOMERS): 2,
    }
    assert report.unknown_offers == 1  # kept: the kiosk leaves out what it does not sell
    shown = hub.items("lyon-01", Stream.CUSTOMERS)[f"{1:064x}"]
    assert shown == {
        "first_name": "Client 1",
        "points": 100,
        "personalisation": True,
        "offers": [
            {"gtin": GTINS[0], "title": {"en": "Double points", "fr": "Points doublés"}},
            {"gtin": gtin14(42), "title": {"fr": "Ailleurs"}},
        ],
    }
    # The next full feed: customer 1 earned points, 2 is unchanged, 3 left the scheme.
    second = (customer(1, 180, offer, unsold), customer(2, 5))
    hub.import_feed(FeedResult(FeedKind.CUSTOMERS, second, ()))
    (document,) = hub.changes_since("paris-01", Stream.CUSTOMERS, 2) or []
    message = parsed(document, "paris-01")
    assert isinstance(message, ChangeSet)
    assert [(change.key, change.value is None) for change in message.changes] == [
        (f"{1:064x}", False),
        (f"{3:064x}", True),
    ]
    assert set(hub.items("paris-01", Stream.CUSTOMERS)) == {f"{1:064x}", f"{2:064x}"}


def test_a_stream_store_opens_while_another_hub_process_holds_the_file(tmp_path: Path) -> None:
    path = tmp_path / "streams.sqlite"
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("CREATE TABLE other_process (n INTEGER)")
    other.execute("BEGIN IMMEDIATE")  # another process's import, not yet committed
    opened: list[StreamStore] = []
    opener = threading.Thread(target=lambda: opened.append(StreamStore(path)))
    opener.start()
    opener.join(timeout=0.3)  # meanwhile it waits ("database is locked" is tried again)
    other.execute("COMMIT")
    other.close()
    opener.join(timeout=60)
    assert len(opened) == 1
    opened[0].add_store("paris-01")
    assert opened[0].stores() == ["paris-01"]
    opened[0].close()
