"""The hub keeps its staff directory, customers' profiles and orders (by number and by
customer) in SQLite and in PostgreSQL alike; each store's kiosks get that store's staff;
a handover is done once, by one hub process, and an orders feed imported again keeps it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from edge.hub.feeds import read_feed
from edge.hub.store import PostgresEventStore, SqliteEventStore
from edge.hub.streams import SqliteStreamDatabase, StreamStore
from edge.hub.streams.lookups import StaffLookups
from edge.hub.streams.postgres import PostgresStreamDatabase
from edge.sync.messages import Stream
from tests.asyncapi import check_message
from tests.hub_staff_fixtures import (
    CAMILLE,
    CARDS,
    DEMO_FEEDS,
    INES,
    LEA,
    LOUISE,
    MARC,
    demo_staff_feeds,
    kiosk_event,
)
from tests.postgres import PostgresServer

BACKENDS = ["sqlite", "postgres"]
STORES = ("lille-01", "lyon-01", "paris-01")


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
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A way to open the stream database twice, as two hub processes do."""
    if request.param == "sqlite":
        path = tmp_path / "streams.sqlite"
        yield lambda: SqliteStreamDatabase(path)
    else:
        dsn = request.getfixturevalue("postgres_server").new_database()
        yield lambda: PostgresStreamDatabase(dsn)


@pytest.fixture
def hub(database: Any) -> Iterator[StreamStore]:
    streams = StreamStore(database())
    for store_id in STORES:
        streams.add_store(store_id)
    streams.import_feeds(demo_staff_feeds())
    yield streams
    streams.close()


def test_each_store_s_kiosks_get_that_store_s_staff_with_name_role_and_pin_hash(
    hub: StreamStore,
) -> None:
    staff = {store_id: hub.items(store_id, Stream.STAFF) for store_id in STORES}
    assert set(staff["paris-01"]) == {LEA, MARC}
    assert set(staff["lyon-01"]) == {INES, MARC}  # Marc works in every store
    assert set(staff["lille-01"]) == {MARC}
    lea = staff["paris-01"][LEA]
    assert set(lea) == {"name", "role", "pin_hash"}
    assert (lea["name"], lea["role"]) == ("Léa D.", "associate")
    assert lea["pin_hash"].startswith("pbkdf2-sha256$")
    assert "LEA-0042" not in json.dumps(staff)  # the badge id is never kept
    # As the kiosks receive them: change sets, and a resync's snapshot pages.
    changes = hub.changes_since("paris-01", Stream.STAFF, 0) or []
    assert changes
    for document in changes:
        check_message("borne/v1/stores/paris-01/staff/changes", json.dumps(document).encode())
    for page in hub.snapshot("paris-01", Stream.STAFF):
        check_message("borne/v1/devices/kiosk-a/res/sync", json.dumps(page).encode())


def test_a_customer_is_read_with_profile_and_orders_newest_first(hub: StreamStore) -> None:
    lookups = StaffLookups(hub.database)
    camille = lookups.customer(CAMILLE)
    assert camille is not None
    assert camille.customer["first_name"] == "Camille"
    assert camille.profile is not None
    assert camille.profile["sizes"] == {"Chaussures": "39", "Haut": "M"}
    numbers = [order["order"] for order in camille.orders]
    assert numbers == ["CC-2026-104233", "A-2026-0117", "W-2026-0042", "M-2026-88120"]
    assert {order["channel"] for order in camille.orders} == {"web", "app", "store"}
    assert camille.orders[1]["returned"][0]["amount"] == "34.90"
    assert lookups.customer(CARDS("9250000000099")) is None
    louise = lookups.customer(LOUISE)
    assert louise is not None
    assert louise.customer["personalisation"] is False


def test_an_order_is_found_by_number_with_its_customer_s_first_name(hub: StreamStore) -> None:
    lookups = StaffLookups(hub.database)
    found = lookups.order("CC-2026-104233")
    assert found is not None
    order, first_name = found
    assert first_name == "Camille"
    assert (order["status"], order["pickup_store"], order["total"]) == (
        "ready_for_pickup",
        "paris-01",
        "89.00",
    )
    assert lookups.order("CC-0000-000000") is None


def test_a_handover_is_done_once_and_an_orders_feed_imported_again_keeps_it(
    hub: StreamStore, database: Any
) -> None:
    lookups = StaffLookups(hub.database)
    assert lookups.hand_over("CC-2026-104233", "lyon-01").status == "not_ready"  # other store
    assert lookups.hand_over("W-2026-0077", "paris-01").status == "not_ready"  # shipped
    assert lookups.hand_over("NO-SUCH-ORDER", "paris-01").status == "unknown"
    done = lookups.hand_over("CC-2026-104233", "paris-01")
    assert done.status == "ok"
    assert done.order is not None
    assert done.order["status"] == "handed_over"
    other_process = StreamStore(database())
    try:
        again = StaffLookups(other_process.database).hand_over("CC-2026-104233", "paris-01")
        assert again.status == "not_ready"
        assert again.order is not None
        assert again.order["status"] == "handed_over"
    finally:
        other_process.close()
    # The retailer's next export still says "ready": the hub knows better.
    hub.import_feed(read_feed(DEMO_FEEDS / "orders.jsonl"))
    found = lookups.order("CC-2026-104233")
    assert found is not None
    assert found[0]["status"] == "handed_over"
    ready = lookups.order("CC-2026-104251")
    assert ready is not None
    assert ready[0]["status"] == "ready_for_pickup"


def test_the_orders_feed_changes_no_stream_and_a_new_staff_feed_does(
    hub: StreamStore, tmp_path: Path
) -> None:
    before = {store_id: hub.position(store_id, Stream.STAFF).version for store_id in STORES}
    report = hub.import_feed(read_feed(DEMO_FEEDS / "orders.jsonl"))
    assert report.versions == {}
    lea_only = tmp_path / "staff.jsonl"
    lea_only.write_text(
        (DEMO_FEEDS / "staff.jsonl").read_text(encoding="utf-8").splitlines()[0] + "\n",
        encoding="utf-8",
    )
    report = hub.import_feed(read_feed(lea_only, card_pseudonym=CARDS))
    # Marc and Inès left: every store's staff stream changes; Léa is paris-01's alone.
    assert report.versions == {
        (store_id, Stream.STAFF): version + 1 for store_id, version in before.items()
    }
    assert set(hub.items("paris-01", Stream.STAFF)) == {LEA}
    assert hub.items("lyon-01", Stream.STAFF) == {}


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_store_s_assist_events_are_read_back_from_the_event_store(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if backend == "sqlite":
        events: Any = SqliteEventStore(tmp_path / "events.sqlite")
    else:
        events = PostgresEventStore(request.getfixturevalue("postgres_server").new_database())
    now = datetime.now(UTC).replace(microsecond=0)
    written = [
        kiosk_event("io.borne.assist.requested", "kiosk-a", 1, {"session_id": "s", "gtin": None}),
        kiosk_event("io.borne.product.scanned", "kiosk-a", 2, {"gtin": "3760123450010"}),
        kiosk_event("io.borne.session.ended", "kiosk-a", 3, {"session_id": "s"}),
        kiosk_event("io.borne.assist.requested", "kiosk-l", 1, {"gtin": None}, store="lyon-01"),
        kiosk_event(
            "io.borne.assist.requested", "kiosk-b", 1, {"gtin": None}, at=now - timedelta(hours=3)
        ),
    ]
    try:
        events.ingest([json.dumps(event).encode() for event in written])
        found = events.assist_events("paris-01", now - timedelta(hours=1))
    finally:
        events.close()
    assert [(event.device_id, event.type) for event in found] == [
        ("kiosk-a", "io.borne.assist.requested"),
        ("kiosk-a", "io.borne.session.ended"),
    ]
    assert found[0].id == written[0]["id"]
    assert found[0].data == {"session_id": "s", "gtin": None}
    assert found[0].time.tzinfo is not None


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_kiosk_s_staff_logins_and_logouts_are_read_back_in_its_order(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if backend == "sqlite":
        events: Any = SqliteEventStore(tmp_path / "events.sqlite")
    else:
        events = PostgresEventStore(request.getfixturevalue("postgres_server").new_database())
    now = datetime.now(UTC).replace(microsecond=0)
    written = [
        # Logged out in the same second as logged in: the kiosk's sequence says which last.
        kiosk_event("io.borne.staff.logged_out", "kiosk-a", 3, {"staff": LEA, "reason": "badge"}),
        kiosk_event("io.borne.staff.logged_in", "kiosk-a", 2, {"staff": LEA, "role": "associate"}),
        kiosk_event("io.borne.staff.pin_refused", "kiosk-a", 1, {"staff": LEA, "failures": 1}),
        kiosk_event("io.borne.staff.logged_in", "kiosk-b", 1, {"staff": MARC, "role": "manager"}),
        kiosk_event(
            "io.borne.staff.locked_out",
            "kiosk-a",
            4,
            {"staff": MARC, "until": "2026-12-01T10:00:00Z"},
            at=now - timedelta(hours=20),
        ),
    ]
    try:
        events.ingest([json.dumps(event).encode() for event in written])
        found = events.staff_sessions("kiosk-a", now - timedelta(hours=1))
    finally:
        events.close()
    assert [(event.type, event.data["staff"]) for event in found] == [
        ("io.borne.staff.logged_in", LEA),
        ("io.borne.staff.logged_out", LEA),
    ]
    assert found[0].id == written[1]["id"]
