"""A real `borne hub serve` on a real mosquitto answers staff kiosks' requests.

What an associate or a manager is told about a customer, an order, a handover; what the
hub refuses (a badge it does not list for the store, or not logged in at the asking
kiosk); what it drops without a word (a malformed request, an answer asked for on
another device's topic). Every message the hub sends is checked against
docs/asyncapi.yaml.
"""

from __future__ import annotations

import asyncio
import json
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.hub.config import HubMqttConfig
from edge.hub.resync import SyncResponder, device_store_lookup
from edge.hub.service import HubService
from edge.hub.staff_requests import StaffResponder, session_check
from edge.hub.store import SqliteEventStore
from edge.hub.streams import StreamStore
from edge.hub.streams.lookups import StaffLookups
from tests.asyncapi import check_message
from tests.conftest import borne
from tests.hub_staff_fixtures import (
    CAMILLE,
    CARDS,
    DEMO_FEEDS,
    INES,
    LEA,
    LOUISE,
    MARC,
    STAFF_FEEDS,
    Client,
    demo_staff_feeds,
    hub_config,
    kiosk_event,
    staff_event,
    start_hub,
    stop_hub,
    wait_until_serving,
)
from tests.mosquitto import Broker, free_port

pytestmark = pytest.mark.mqtt


def import_demo(config: Path) -> None:
    files = [str(DEMO_FEEDS / name) for name in STAFF_FEEDS]
    result = borne("hub", "import", "--config", str(config), *files)
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Broker, Client]]:
    """A broker, a hub fed the demo's staff feeds, and a kiosk listening for answers."""
    folder = tmp_path_factory.mktemp("staff-hub")
    (folder / "broker").mkdir()
    broker = Broker(folder / "broker", free_port(), persistent=False)
    broker.start()
    config = hub_config(folder, broker.port, "hub-staff")
    import_demo(config)
    process = start_hub(config)
    kiosk = Client(broker.port, "kiosk-test").start("borne/v1/devices/+/res/#")
    try:
        wait_until_serving(kiosk)
        # Léa and Marc log in at kiosk-a (the hub answers no badge logged in elsewhere).
        kiosk.publish_events(
            [
                staff_event("logged_in", "kiosk-a", 1, LEA, role="associate"),
                staff_event("logged_in", "kiosk-a", 2, MARC, role="manager"),
            ]
        )
        yield broker, kiosk
    finally:
        kiosk.stop()
        counters, log = stop_hub(process)
        broker.kill(signal.SIGTERM)
    # Nothing personal in the hub's log: no pseudonym, no name, no contact.
    for private in (CAMILLE, LEA, "Camille", "Martin", "example.fr"):
        assert private not in log
    assert counters["staff"]["answered"] >= 1


def ask(kiosk: Client, name: str, document: Any, **options: Any) -> dict[str, Any]:
    """Ask as a kiosk does; the answer, checked against the contract (and, by `answer_to`,
    carrying the request's correlation data and an expiry of 10 s at most)."""
    topic, answer = kiosk.answer_to(kiosk.ask(name, document, **options))
    check_message(topic, json.dumps(answer).encode())
    return answer


def test_an_associate_sees_the_customer_s_file_with_contact_details_masked(
    hub: tuple[Broker, Client],
) -> None:
    _, kiosk = hub
    answer = ask(kiosk, "customer", {"store": "paris-01", "staff": LEA, "customer": CAMILLE})
    assert answer["status"] == "ok"
    camille = answer["customer"]
    assert (camille["first_name"], camille["last_name"], camille["tier"]) == (
        "Camille",
        "Martin",
        "Or",
    )
    assert camille["points"] == 1250
    assert (camille["email"], camille["phone"]) == ("c•••@example.fr", "•• •• •• •• 78")
    assert camille["contact_masked"] is True
    assert camille["sizes"] == {"Chaussures": "39", "Haut": "M"}
    assert camille["wishlist"] == ["03760123450263", "03760123450317"]
    orders = camille["orders"]
    assert [order["placed"] for order in orders] == sorted(
        (order["placed"] for order in orders), reverse=True
    )
    assert {order["channel"] for order in orders} == {"store", "web", "app"}
    assert any(order["returned"] for order in orders)


def test_a_manager_sees_the_contact_details(hub: tuple[Broker, Client]) -> None:
    _, kiosk = hub
    answer = ask(kiosk, "customer", {"store": "paris-01", "staff": MARC, "customer": CAMILLE})
    camille = answer["customer"]
    assert (camille["email"], camille["phone"]) == ("camille.martin@example.fr", "06 12 34 56 78")
    assert camille["contact_masked"] is False


def test_a_customer_who_declined_personalisation_is_said_so_and_nothing_else(
    hub: tuple[Broker, Client],
) -> None:
    _, kiosk = hub
    answer = ask(kiosk, "customer", {"store": "paris-01", "staff": MARC, "customer": LOUISE})
    assert answer == {"status": "declined"}


def test_an_unknown_customer_and_an_unknown_order_are_said_unknown(
    hub: tuple[Broker, Client],
) -> None:
    _, kiosk = hub
    stranger = CARDS("9250000000099")
    assert ask(kiosk, "customer", {"store": "paris-01", "staff": LEA, "customer": stranger}) == {
        "status": "unknown"
    }
    assert ask(kiosk, "order", {"store": "paris-01", "staff": LEA, "order": "CC-0000-1"}) == {
        "status": "unknown"
    }


def test_a_badge_the_hub_does_not_list_for_the_store_is_refused(
    hub: tuple[Broker, Client],
) -> None:
    _, kiosk = hub
    unknown_badge = CARDS("staff:NOBODY-01")
    for staff in (unknown_badge, INES):  # Inès works at lyon-01
        request = {"store": "paris-01", "staff": staff, "customer": CAMILLE}
        assert ask(kiosk, "customer", request) == {"status": "refused"}
    # A kiosk the hub knows is at lyon-01 cannot ask for paris-01, whoever is logged in.
    request = {"store": "paris-01", "staff": LEA, "order": "CC-2026-104233"}
    assert ask(kiosk, "order", request, device="kiosk-lyon") == {"status": "refused"}


def test_a_badge_not_logged_in_at_the_asking_kiosk_is_refused_and_holds_no_other_request(
    hub: tuple[Broker, Client],
) -> None:
    _, kiosk = hub
    # Marc logged in at kiosk-a; his badge's pseudonym is no secret, yet kiosk-b naming
    # it (to see a customer's contact details) is refused.
    forged = kiosk.ask(
        "customer", {"store": "paris-01", "staff": MARC, "customer": CAMILLE}, device="kiosk-b"
    )
    honest = kiosk.ask("customer", {"store": "paris-01", "staff": LEA, "customer": CAMILLE})
    topic, refused = kiosk.answer_to(forged)
    check_message(topic, json.dumps(refused).encode())
    assert refused == {"status": "refused"}
    # While the hub looked again for Marc's login at kiosk-b, Léa's kiosk had its answer.
    answered = [
        getattr(properties, "CorrelationData", None)
        for topic, _, properties, _ in kiosk.received
        if "/res/" in topic
    ]
    assert honest in answered
    assert answered.index(honest) < answered.index(forged)
    assert kiosk.answer_to(honest)[1]["status"] == "ok"


def test_a_request_sent_before_its_login_event_is_answered_and_a_logout_ends_the_answers(
    hub: tuple[Broker, Client],
) -> None:
    _, kiosk = hub
    # The login goes through kiosk-c's outbox, the request straight to the broker: the
    # request may come first, and is answered once the login is stored.
    request = {"store": "paris-01", "staff": LEA, "order": "CC-2026-104233"}
    asked = kiosk.ask("order", request, device="kiosk-c")
    kiosk.publish_events([staff_event("logged_in", "kiosk-c", 1, LEA, role="associate")])
    assert kiosk.answer_to(asked)[1]["status"] == "ok"
    kiosk.publish_events([staff_event("logged_out", "kiosk-c", 2, LEA, reason="button")])
    for _ in range(50):  # answered as before until the hub has stored the logout
        status = ask(kiosk, "order", request, device="kiosk-c")["status"]
        if status != "ok":
            break
    assert status == "refused"


def test_an_order_is_shown_with_its_items_status_and_first_name(
    hub: tuple[Broker, Client],
) -> None:
    _, kiosk = hub
    answer = ask(kiosk, "order", {"store": "paris-01", "staff": LEA, "order": "CC-2026-104233"})
    assert answer["status"] == "ok"
    assert answer["first_name"] == "Camille"
    order = answer["order"]
    assert (order["status"], order["pickup_store"], order["channel"]) == (
        "ready_for_pickup",
        "paris-01",
        "web",
    )
    assert [(line["title"], line["quantity"]) for line in order["lines"]] == [
        ("Plaid laine mérinos", 1)
    ]


def test_a_pickup_is_handed_over_once_and_only_in_its_store(hub: tuple[Broker, Client]) -> None:
    _, kiosk = hub
    request = {"store": "paris-01", "staff": LEA, "order": "CC-2026-104251"}
    done = ask(kiosk, "handover", request)
    assert (done["status"], done["order"]["status"]) == ("ok", "handed_over")
    again = ask(kiosk, "handover", request)
    assert (again["status"], again["order"]["status"]) == ("not_ready", "handed_over")
    looked_up = ask(kiosk, "order", request)
    assert looked_up["order"]["status"] == "handed_over"
    # Waiting at lyon-01, or shipped: not this store's pickups, nothing said of them.
    for number in ("CC-2026-104198", "W-2026-0077"):
        elsewhere = {"store": "paris-01", "staff": MARC, "order": number}
        assert ask(kiosk, "handover", elsewhere) == {"status": "unknown"}
        assert ask(kiosk, "order", elsewhere) == {"status": "unknown"}


def test_malformed_requests_and_other_devices_topics_get_no_answer_and_are_counted(
    tmp_path: Path, broker: Broker
) -> None:
    config = hub_config(tmp_path, broker.port, "hub-strict")
    import_demo(config)
    process = start_hub(config)
    kiosk = Client(broker.port, "kiosk-strict").start("borne/v1/devices/#")
    try:
        wait_until_serving(kiosk)
        kiosk.publish_events([staff_event("logged_in", "kiosk-a", 1, LEA, role="associate")])
        good = {"store": "paris-01", "staff": LEA, "customer": CAMILLE}
        dropped = [
            kiosk.ask("customer", b"{not json"),
            kiosk.ask("customer", {**good, "customer": "9250000000017"}),  # a card number
            kiosk.ask("order", {**good, "order": "cc 42; drop"}),
            kiosk.ask("customer", {**good, "staff": None}),
            kiosk.ask("customer", b"{" + b" " * 5000 + b"}"),
            # An answer asked for on another kiosk's topic would let one kiosk read
            # what was asked at another: dropped.
            kiosk.ask("customer", good, response_topic="borne/v1/devices/kiosk-b/res/staff"),
            kiosk.ask("customer", good, response_topic="borne/v1/devices/kiosk-a/res/#"),
        ]
        # Requests are answered in order: once this one is, the others were dropped.
        last = kiosk.ask("customer", good)
        assert kiosk.answer_to(last)[1]["status"] == "ok"
        correlations = [
            getattr(properties, "CorrelationData", None)
            for topic, _, properties, _ in kiosk.received
            if "/res/" in topic
        ]
        assert not set(dropped) & set(correlations)
        assert not [
            topic for topic, *_ in kiosk.received if topic.startswith("borne/v1/devices/kiosk-b")
        ]
    finally:
        kiosk.stop()
        counters, log = stop_hub(process)
    assert counters["staff"]["malformed"] == len(dropped)
    assert "kiosk-a" in log  # the device is named, never what it sent
    for private in (CAMILLE, LEA, "9250000000017"):
        assert private not in log


def eventually(condition: Callable[[], bool], what: str) -> None:
    for _ in range(300):
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"never: {what}")


def test_a_database_failure_costs_one_request_and_the_hub_goes_on(
    tmp_path: Path, broker: Broker
) -> None:
    events = SqliteEventStore(tmp_path / "events.sqlite")
    streams = StreamStore(tmp_path / "streams.sqlite")
    streams.add_store("paris-01")
    streams.import_feeds(demo_staff_feeds())
    # Where the hub looks up a device's store fails, as a database that went away does.
    broken = SqliteEventStore(tmp_path / "broken.sqlite")
    broken.close()
    store_of = device_store_lookup(broken)
    staff = StaffResponder(StaffLookups(streams.database), store_of, session_check(events))
    resync = SyncResponder(streams, store_of)
    config = HubMqttConfig(
        host="127.0.0.1", port=broker.port, client_id="hub-failing", reconnect_min=0.1
    )
    service = HubService(config, events, resync=resync, staff=staff)
    loop = asyncio.new_event_loop()
    failures: list[BaseException] = []

    def serve() -> None:
        try:
            loop.run_until_complete(service.run())
        except BaseException as error:  # the test says what ended the hub
            failures.append(error)

    thread = threading.Thread(target=serve)
    thread.start()
    kiosk = Client(broker.port, "kiosk-failing").start("borne/v1/devices/+/res/#")
    try:
        request = {"store": "paris-01", "staff": LEA, "customer": CAMILLE}
        sync = {"store": "paris-01", "stream": "catalog", "epoch": "", "version": 0}

        def asked_both() -> bool:  # asked again until the hub has subscribed
            if not staff.counters.failed:
                kiosk.ask("customer", request)
            if not resync.counters.failed:
                kiosk.ask("sync", sync)
            return bool(staff.counters.failed and resync.counters.failed)

        eventually(asked_both, "a staff and a resync request failed")
        # Neither responder ended, nor did the hub: it answers and stores on.
        kiosk.publish_events([kiosk_event("io.borne.session.started", "kiosk-a", 1, {})])
        eventually(lambda: service.counters.stored == 1, "the event was stored")
        assert not [t for t, *_ in kiosk.received if "/res/" in t]  # no answer: the kiosk says so
        assert thread.is_alive()
    finally:
        kiosk.stop()
        loop.call_soon_threadsafe(service.close)
        thread.join(30)
        loop.close()
        events.close()
        streams.close()
    assert failures == []
