"""Staff mode at the kiosk, headless: badge and PIN, lockouts, locks, the customer's
360° view and pickups asked of a hub over a real mosquitto, advisor calls.

The staff directory is in the kiosk's stream cache as the hub sends it; the hub is a
tiny responder on the broker (tests/staff_hub.py) or nobody at all.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, closing, contextmanager
from pathlib import Path
from typing import Any

import pytest

from devices.readings import BarcodeScan, CardTap
from edge.bootstrap import build_runtime
from edge.catalog import Catalog
from edge.config import load_config
from edge.demo import DEMO_CATALOG, demo_cards, with_demo_store
from edge.errors import ConfigError
from edge.events import EventDraft, Priority
from edge.intents import (
    EndStaff,
    EnterStaffPin,
    HandOverOrder,
    LookupOrder,
    OpenStaffPage,
    RequestAssist,
    TakeCall,
    TypeText,
    UnlockBadge,
)
from edge.lockdown import hash_pin
from edge.runtime import Runtime
from edge.session import Screen, SessionView, ShopperSession
from edge.staff.answers import CustomerData
from edge.staff.desk import StaffDesk
from edge.staff.directory import FixedDirectory, StaffEntry
from edge.staff.lockouts import BadgeLockouts
from edge.staff.requests import HubRequests, StaffRequest
from edge.staff.view import AssistCall, CustomerFile, Order, OrderLine, StaffNotice, StaffPage
from edge.uplink import Request
from tests.asyncapi import check_message
from tests.conftest import Subscriber, write_config
from tests.mosquitto import Broker
from tests.staff_hub import PSEUDONYMS, TinyHub, badge_pseudonym, seed_directory

CARDS = dict(demo_cards())  # first name -> card number
LEA, MARC = "LEA-0042", "MARC-0007"
# What only the customer's file holds: it must never be found on disk.
SECRET_NAME = "Quintavalle"
SECRET_TITLE = "Sac cabas Ébène 42"
PICKUP = "CC-2026-104233"


def badge(badge_id: str) -> CardTap:
    return CardTap(f"staff:{badge_id}", "", "Type3Tag", "test", time.time())


def card(first_name: str) -> CardTap:
    return CardTap(CARDS[first_name], "01", "Type3Tag", "test", time.time())


def kiosk_config(tmp_path: Path, broker_port: int | None = None, staff: str = "") -> Any:
    seed_directory(tmp_path / "data")
    path = write_config(
        tmp_path / "kiosk.toml",
        tmp_path / "data",
        broker_port,
        staff=staff or "lock_after = 30\nanswer_within = 2",
    )
    return load_config(path)


@asynccontextmanager
async def running(config: Any) -> AsyncIterator[Runtime]:
    runtime, _ = await build_runtime(config)
    await runtime.start()
    try:
        if config.mqtt.host:
            uplink = runtime.uplink
            assert uplink is not None
            await until(lambda: uplink.status().connected)
        yield runtime
    finally:
        await runtime.close()


async def until(predicate: Callable[[], bool]) -> None:
    """Wait (bounded) for what only polling can see: the link's state, a counter."""
    async with asyncio.timeout(15):
        while not predicate():  # noqa: ASYNC110 - watched from outside the runtime
            await asyncio.sleep(0.02)


async def settled(runtime: Runtime, notice: StaffNotice) -> SessionView:
    """The view once the staff screen says `notice` (bounded)."""
    async with asyncio.timeout(15):
        return await runtime.wait_for_view(
            lambda view: view.staff is not None and view.staff.notice is notice
        )


async def log_in(runtime: Runtime, badge_id: str, pin: str) -> SessionView:
    await runtime.handle(badge(badge_id))
    await runtime.ask(EnterStaffPin(pin))
    view = runtime.session.view
    assert view.staff is not None
    assert view.staff.logged_in
    return view


def check_events(payloads: list[bytes]) -> list[dict[str, Any]]:
    """Every event is in the contract and names nobody: pseudonyms only."""
    events = [json.loads(payload) for payload in payloads]
    for payload, event in zip(payloads, events, strict=True):
        check_message(f"borne/v1/devices/kiosk-07/events/{event['type'][9:]}", payload)
        text = payload.decode()
        for clear in ("Léa", "Marc", LEA, MARC, SECRET_NAME, *CARDS.values()):
            assert clear not in text, f"{clear} in {event['type']}"
    return events


async def outbox_events(runtime: Runtime) -> list[dict[str, Any]]:
    return check_events([event.payload for event in await runtime.outbox.pending(0, 1000)])


def test_wrong_pins_lock_a_badge_across_a_restart_until_a_manager_unlocks_it(
    tmp_path: Path,
) -> None:
    config = kiosk_config(tmp_path)  # no broker: the directory is the one cached
    lea = badge_pseudonym(LEA)

    async def first_boot() -> None:
        async with running(config) as runtime:
            await runtime.handle(badge(LEA))
            view = runtime.session.view
            assert view.screen is Screen.STAFF
            assert view.staff is not None
            assert view.staff.page is StaffPage.PIN
            assert view.staff.member is not None
            assert view.staff.member.name == "Léa D."
            await runtime.ask(EnterStaffPin("1111"))
            assert runtime.session.view.staff is not None
            assert runtime.session.view.staff.notice is StaffNotice.WRONG_PIN
            assert runtime.session.view.staff.failures_left == 4
            for _ in range(4):
                await runtime.ask(EnterStaffPin("0000"))
            staff = runtime.session.view.staff
            assert staff is not None
            assert staff.notice is StaffNotice.LOCKED_OUT
            assert staff.locked_until is not None
            assert staff.locked_until > time.time() + 800
            await runtime.ask(EnterStaffPin("2468"))  # the right PIN, too late
            staff = runtime.session.view.staff
            assert staff is not None
            assert not staff.logged_in
            assert staff.notice is StaffNotice.LOCKED_OUT

    async def second_boot() -> list[dict[str, Any]]:
        async with running(config) as runtime:
            await runtime.handle(badge(LEA))
            staff = runtime.session.view.staff
            assert staff is not None
            assert staff.notice is StaffNotice.LOCKED_OUT
            await runtime.ask(EnterStaffPin("2468"))
            assert runtime.session.view.staff is not None
            assert not runtime.session.view.staff.logged_in
            await runtime.ask(EndStaff())
            assert runtime.session.view == SessionView()
            # An associate sees no locked badges and cannot unlock one.
            await runtime.handle(badge("NINA-0001"))  # a staff badge the directory lacks
            staff = runtime.session.view.staff
            assert staff is not None
            assert staff.notice is StaffNotice.UNKNOWN_BADGE
            assert staff.member is None
            await runtime.ask(EndStaff())
            # The manager sees Léa's badge locked, and unlocks it.
            view = await log_in(runtime, MARC, "1357")
            assert view.staff is not None
            assert view.staff.locked_badges == ((lea, "Léa D."),)
            await runtime.ask(UnlockBadge(lea))
            assert runtime.session.view.staff is not None
            assert runtime.session.view.staff.locked_badges == ()
            await runtime.ask(EndStaff())
            view = await log_in(runtime, LEA, "2468")
            assert view.staff is not None
            assert view.staff.page is StaffPage.HOME
            assert view.staff.member is not None
            assert not view.staff.member.manager
            await runtime.ask(UnlockBadge(badge_pseudonym(MARC)))  # not hers to do
            await runtime.ask(EndStaff())
            return await outbox_events(runtime)

    asyncio.run(first_boot())
    events = asyncio.run(second_boot())
    staff_events = [(e["type"][9:], e["data"]) for e in events]
    marc = badge_pseudonym(MARC)
    assert staff_events == [
        *[("staff.pin_refused", {"staff": lea, "failures": n}) for n in range(1, 6)],
        ("staff.locked_out", {"staff": lea, "until": staff_events[5][1]["until"]}),
        ("staff.logged_in", {"staff": marc, "role": "manager"}),
        ("staff.badge_unlocked", {"staff": marc, "badge": lea}),
        ("staff.logged_out", {"staff": marc, "reason": "button"}),
        ("staff.logged_in", {"staff": lea, "role": "associate"}),
        ("staff.logged_out", {"staff": lea, "reason": "button"}),
    ]


def test_a_badge_wipes_the_shopper_and_staff_mode_locks_on_a_tap_and_when_left_alone(
    tmp_path: Path,
) -> None:
    config = kiosk_config(tmp_path, staff="lock_after = 1.5")

    async def scenario() -> list[dict[str, Any]]:
        async with running(config) as runtime:
            await runtime.handle(card("Camille"))
            await runtime.ask(RequestAssist())
            assert runtime.session.view.customer is not None
            await runtime.handle(badge(LEA))  # the shopper's session ends, wiped
            view = runtime.session.view
            assert view.customer is None
            assert not view.assist_requested
            assert view.session_id is None
            assert view.screen is Screen.STAFF
            await runtime.ask(EnterStaffPin("2468"))
            # Without a broker, the hub cannot be asked: said at once.
            await runtime.ask(OpenStaffPage("customer"))
            await runtime.handle(card("Camille"))
            view = await settled(runtime, StaffNotice.HUB_SILENT)
            assert view.staff is not None
            assert view.staff.customer is None
            await runtime.handle(badge(MARC))  # any staff badge locks at once
            assert runtime.session.view == SessionView()
            await log_in(runtime, LEA, "2468")
            async with asyncio.timeout(15):  # nobody touches it: it locks by itself
                view = await runtime.wait_for_view(lambda view: view.staff is None)
            assert view == SessionView()
            await runtime.handle(badge("NINA-0001"))  # "Badge inconnu", then attract again
            async with asyncio.timeout(15):
                view = await runtime.wait_for_view(lambda view: view.staff is None)
            assert view == SessionView()
            return await outbox_events(runtime)

    events = asyncio.run(scenario())
    lea = badge_pseudonym(LEA)
    ended = [e["data"]["reason"] for e in events if e["type"] == "io.borne.session.ended"]
    assert ended == ["staff"]
    logouts = [e["data"] for e in events if e["type"] == "io.borne.staff.logged_out"]
    assert logouts == [{"staff": lea, "reason": "badge"}, {"staff": lea, "reason": "idle"}]
    viewed = [e["data"] for e in events if e["type"] == "io.borne.staff.customer_viewed"]
    assert viewed == [
        {"staff": lea, "customer": PSEUDONYMS.card(CARDS["Camille"]), "outcome": "hub_silent"}
    ]


def test_staff_logged_in_when_the_kiosk_stops_are_logged_out(tmp_path: Path) -> None:
    config = kiosk_config(tmp_path)

    async def scenario() -> None:
        async with running(config) as runtime:
            await log_in(runtime, LEA, "2468")

    async def after_restart() -> list[dict[str, Any]]:
        async with running(config) as runtime:
            assert runtime.session.view == SessionView()  # staff mode is not remembered
            return await outbox_events(runtime)

    asyncio.run(scenario())
    events = asyncio.run(after_restart())
    assert [(e["type"][9:], e["data"]["reason"]) for e in events if "reason" in e["data"]] == [
        ("staff.logged_out", "shutdown")
    ]


def _order(number: str, status: str, *, pickup: str | None = None) -> dict[str, Any]:
    line = {"gtin": "3760123450010", "title": SECRET_TITLE, "quantity": 1, "amount": "249.00"}
    return {
        "order": number,
        "channel": "web",
        "placed": "2026-10-02T14:31:00+02:00",
        "where": "borne-demo.fr",
        "status": status,
        "total": "249.00",
        "currency": "EUR",
        "lines": [line],
        "returned": [],
        "pickup_store": pickup,
    }


def _hub_answer(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    """What the tiny hub says: Camille's file, Mehdi declined, one pickup ready."""
    if kind == "customer":
        if body["customer"] == PSEUDONYMS.card(CARDS["Mehdi"]):
            return {"status": "declined"}
        if body["customer"] != PSEUDONYMS.card(CARDS["Camille"]):
            return {"status": "unknown"}
        manager = body["staff"] == badge_pseudonym(MARC)
        return {
            "status": "ok",
            "customer": {
                "first_name": "Camille",
                "last_name": SECRET_NAME,
                "tier": "Or",
                "points": 1250,
                "email": "camille@example.fr" if manager else "c•••@example.fr",
                "phone": "06 12 34 56 78" if manager else "•• •• •• •• 78",
                "contact_masked": not manager,
                "preferences": ["Audio nomade"],
                "sizes": {"Chaussures": "39"},
                "orders": [_order(PICKUP, "ready_for_pickup", pickup="paris-01")],
                "wishlist": ["3760123450072"],
            },
        }
    if kind == "order":
        if body["order"] != PICKUP:
            return {"status": "unknown"}
        return {
            "status": "ok",
            "order": _order(PICKUP, "ready_for_pickup", pickup="paris-01"),
            "first_name": "Camille",
        }
    return {"status": "ok", "order": _order(PICKUP, "handed_over", pickup="paris-01")}


def _logged_out(count: int) -> Callable[[Subscriber], bool]:
    """Whether the platform has heard `count` logouts (every event before them too)."""
    return lambda sub: sum("logged_out" in e["type"] for e in sub.events()) >= count


def _stored_files_holding(folder: Path, texts: list[str]) -> list[str]:
    found = []
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            content = path.read_bytes()
            found += [f"{path.name}: {t}" for t in texts if t.encode() in content]
    return found


def _file_objects() -> list[object]:
    gc.collect()
    kinds = (CustomerFile, CustomerData, Order, OrderLine)
    return [thing for thing in gc.get_objects() if isinstance(thing, kinds)]


def test_the_customers_file_is_shown_on_consent_by_role_and_leaves_nothing_behind(
    tmp_path: Path, broker: Broker, subscriber: Subscriber, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    config = kiosk_config(tmp_path, broker.port)
    hub = TinyHub(broker.port, _hub_answer)
    data_dir = tmp_path / "data"

    async def scenario() -> None:
        async with running(config) as runtime:
            await log_in(runtime, LEA, "2468")
            await runtime.handle(card("Camille"))  # not on the customer page: no consent
            assert hub.asked == []
            await runtime.ask(OpenStaffPage("customer"))
            assert runtime.session.view.staff is not None
            assert runtime.session.view.staff.notice is StaffNotice.TAP_CUSTOMER_CARD
            await runtime.handle(card("Camille"))
            view = await settled(runtime, StaffNotice.NONE)
            assert view.staff is not None
            assert view.staff.customer is not None
            file = view.staff.customer
            assert (file.first_name, file.last_name, file.tier, file.points) == (
                "Camille",
                SECRET_NAME,
                "Or",
                1250,
            )
            assert file.email == "c•••@example.fr"  # an associate's view: masked
            assert [order.number for order in file.pickups] == [PICKUP]
            assert [product.gtin for product in file.wishlist] == ["03760123450072"]
            assert file.suggestions
            assert all(p.stock.here > 0 for p in file.suggestions)
            bought = {"03760123450010", "03760123450072"}
            assert not bought & {p.gtin for p in file.suggestions}
            # Mehdi declined personalisation: nothing is shown.
            await runtime.handle(card("Mehdi"))
            view = await settled(runtime, StaffNotice.DECLINED)
            assert view.staff is not None
            assert view.staff.customer is None
            await runtime.handle(card("Louise"))
            await settled(runtime, StaffNotice.UNKNOWN_CUSTOMER)
            await runtime.ask(EndStaff())
            # A manager sees the contact details.
            await log_in(runtime, MARC, "1357")
            await runtime.ask(OpenStaffPage("customer"))
            shown = BarcodeScan("code128", CARDS["Camille"], None, "test", 0.0, kind="text")
            await runtime.handle(shown)  # the card's barcode: the same consent
            view = await settled(runtime, StaffNotice.NONE)
            assert view.staff is not None
            assert view.staff.customer is not None
            assert view.staff.customer.email == "camille@example.fr"
            await runtime.ask(EndStaff())
            assert runtime.session.view == SessionView()
            del view, file, shown
            assert _file_objects() == []  # nothing of the file survives the logout
            assert _stored_files_holding(data_dir, [SECRET_NAME, SECRET_TITLE]) == []
            await asyncio.to_thread(subscriber.wait_for, _logged_out(2))
        assert _stored_files_holding(data_dir, [SECRET_NAME, SECRET_TITLE]) == []

    try:
        asyncio.run(scenario())
    finally:
        hub.stop()
    assert "edge.runtime" in caplog.text  # the kiosk's logs were captured...
    assert SECRET_NAME not in caplog.text  # ... and hold nothing of the file
    assert SECRET_TITLE not in caplog.text
    asked = [(kind, body["staff"]) for kind, body in hub.asked]
    lea, marc = badge_pseudonym(LEA), badge_pseudonym(MARC)
    assert asked == [("customer", lea)] * 3 + [("customer", marc)]
    assert all(body["store"] == "paris-01" for _, body in hub.asked)
    with subscriber.lock:
        payloads = [p for t, p, _ in subscriber.messages if "/events/" in t]
    events = check_events(payloads)
    with subscriber.lock:
        requests = [(t, p) for t, p, _ in subscriber.messages if "/req/" in t]
    assert len(requests) == 4
    for topic, payload in requests:  # the kiosk's requests are the contract's too
        check_message(topic, payload)
    outcomes = [
        (e["data"]["staff"], e["data"]["outcome"])
        for e in events
        if e["type"] == "io.borne.staff.customer_viewed"
    ]
    assert outcomes == [(lea, "shown"), (lea, "declined"), (lea, "unknown"), (marc, "shown")]


def test_a_silent_hub_is_said_so_and_its_late_answer_is_never_shown(
    tmp_path: Path, broker: Broker
) -> None:
    config = kiosk_config(tmp_path, broker.port, staff="answer_within = 0.5")

    async def scenario() -> HubRequests:
        async with running(config) as runtime:
            await log_in(runtime, LEA, "2468")
            await runtime.ask(OpenStaffPage("customer"))
            await runtime.handle(card("Camille"))  # nobody answers on the broker
            view = await settled(runtime, StaffNotice.HUB_SILENT)
            assert view.staff is not None
            assert view.staff.customer is None
            hub = TinyHub(broker.port, _hub_answer, delay=1.0)  # now a slow hub
            try:
                await runtime.handle(card("Camille"))
                await settled(runtime, StaffNotice.WAITING)
                await settled(runtime, StaffNotice.HUB_SILENT)
                requests = runtime.staff_requests
                assert isinstance(requests, HubRequests)
                await until(lambda: requests.dropped == 1)  # came late, and was dropped
                await asyncio.sleep(0.1)  # anything it would have caused is shown by now
                staff = runtime.session.view.staff
                assert staff is not None
                assert staff.notice is StaffNotice.HUB_SILENT
                assert staff.customer is None
            finally:
                hub.stop()
            return requests

    requests = asyncio.run(scenario())
    assert requests.dropped == 1


def test_a_pickup_found_by_its_qr_code_or_its_number_is_handed_over(
    tmp_path: Path, broker: Broker, subscriber: Subscriber
) -> None:
    config = kiosk_config(tmp_path, broker.port)
    hub = TinyHub(broker.port, _hub_answer)

    async def scenario() -> None:
        async with running(config) as runtime:
            await log_in(runtime, LEA, "2468")
            await runtime.ask(OpenStaffPage("order"))
            qr = f"https://borne-demo.fr/commandes/{PICKUP}?from=mail"
            await runtime.handle(BarcodeScan("qrcode", qr, None, "test", 0.0, kind="url"))
            view = await settled(runtime, StaffNotice.NONE)
            assert view.staff is not None
            assert view.staff.pickup is not None
            assert view.staff.pickup.first_name == "Camille"
            assert view.staff.pickup.can_hand_over
            assert view.scans == 1  # the code read is heard and seen, as for a shopper
            await runtime.ask(OpenStaffPage("order"))
            await runtime.ask(TypeText("cc-2026-10423"))
            await runtime.ask(LookupOrder(""))
            await settled(runtime, StaffNotice.UNKNOWN_ORDER)
            await runtime.ask(LookupOrder(PICKUP))
            await settled(runtime, StaffNotice.NONE)
            await runtime.ask(HandOverOrder())
            view = await settled(runtime, StaffNotice.HANDED_OVER)
            assert view.staff is not None
            assert view.staff.pickup is not None
            assert view.staff.pickup.order.status == "handed_over"
            assert not view.staff.pickup.can_hand_over
            await runtime.ask(EndStaff())
            await asyncio.to_thread(subscriber.wait_for, _logged_out(1))

    try:
        asyncio.run(scenario())
    finally:
        hub.stop()
    assert [(kind, body["order"]) for kind, body in hub.asked] == [
        ("order", PICKUP),
        ("order", "CC-2026-10423"),
        ("order", PICKUP),
        ("handover", PICKUP),
    ]
    with subscriber.lock:
        payloads = [p for t, p, _ in subscriber.messages if "/events/" in t]
    events = check_events(payloads)
    handed = [e["data"] for e in events if e["type"] == "io.borne.order.handed_over"]
    assert handed == [{"staff": badge_pseudonym(LEA), "order": PICKUP}]


def test_advisor_calls_reach_the_staff_screen_and_the_calling_shopper_hears_who_comes(
    tmp_path: Path, broker: Broker, subscriber: Subscriber
) -> None:
    config = kiosk_config(tmp_path, broker.port)
    hub = TinyHub(broker.port, _hub_answer)
    topic = "borne/v1/stores/paris-01/assist"

    def queue(*calls: tuple[str, str, str | None]) -> dict[str, Any]:
        now = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
        return {
            "store": "paris-01",
            "at": now,
            "calls": [
                {"call": c, "device": d, "since": now, "gtin": None, "title": None, "taken_by": t}
                for c, d, t in calls
            ],
        }

    async def scenario() -> None:
        async with running(config) as runtime:
            await runtime.handle(card("Camille"))
            await runtime.ask(RequestAssist())
            hub.publish_retained(topic, queue(("call-1", "kiosk-07", "Léa D.")))
            async with asyncio.timeout(15):
                view = await runtime.wait_for_view(lambda v: v.assist_taken_by is not None)
            assert view.assist_taken_by == "Léa D."
            assert view.screen is Screen.WELCOME
            hub.publish_retained(topic, queue(("call-2", "kiosk-02", None)))
            await log_in(runtime, MARC, "1357")
            async with asyncio.timeout(15):
                view = await runtime.wait_for_view(
                    lambda v: (
                        v.staff is not None and [c.call_id for c in v.staff.calls] == ["call-2"]
                    )
                )
            assert view.staff is not None
            assert view.staff.calls[0].device == "kiosk-02"
            await runtime.ask(TakeCall("call-2"))
            staff = runtime.session.view.staff
            assert staff is not None
            assert staff.notice is StaffNotice.CALL_TAKEN
            assert staff.calls[0].taken_by == "Marc L."
            await runtime.ask(EndStaff())
            await asyncio.to_thread(subscriber.wait_for, _logged_out(1))

    try:
        asyncio.run(scenario())
    finally:
        hub.stop()
    with subscriber.lock:
        payloads = [p for t, p, _ in subscriber.messages if "/events/" in t]
    taken = [e["data"] for e in check_events(payloads) if e["type"] == "io.borne.assist.taken"]
    assert taken == [{"staff": badge_pseudonym(MARC), "call": "call-2", "device": "kiosk-02"}]


@pytest.mark.parametrize("page", ["pin", "nowhere"])
def test_a_staff_page_that_does_not_open_so_is_refused(tmp_path: Path, page: str) -> None:
    config = kiosk_config(tmp_path)

    async def scenario() -> None:
        async with running(config) as runtime:
            await log_in(runtime, LEA, "2468")
            with pytest.raises(ValueError, match=page):
                await runtime.ask(OpenStaffPage(page))

    asyncio.run(scenario())


def test_staff_settings_are_read_and_checked() -> None:
    config = load_config(None, {"BORNE_STAFF__LOCK_AFTER": "45", "BORNE_STAFF__MAX_FAILURES": "3"})
    assert (config.staff.lock_after, config.staff.max_failures) == (45.0, 3)
    assert (config.staff.answer_within, config.staff.lockout_minutes) == (5.0, 15.0)
    # A request expires on the broker after 10 s: waiting longer would wait for nothing.
    with pytest.raises(ConfigError, match=r"ANSWER_WITHIN: must be .* at most 10"):
        load_config(None, {"BORNE_STAFF__ANSWER_WITHIN": "30"})


def test_the_demo_without_its_platform_knows_its_staff_from_its_staff_feed(
    tmp_path: Path,
) -> None:
    config = with_demo_store(load_config(write_config(tmp_path / "k.toml", tmp_path / "data")))

    async def scenario() -> None:
        runtime, simulators = await build_runtime(config, simulators_allowed=True)
        await runtime.start()
        try:
            await log_in(runtime, MARC, "1357")  # the README's demo badges and PINs
            await runtime.ask(EndStaff())
            await runtime.handle(badge("INES-0013"))  # she works at Lyon, not here
            staff = runtime.session.view.staff
            assert staff is not None
            assert staff.notice is StaffNotice.UNKNOWN_BADGE
        finally:
            await runtime.close()
            simulators.close()

    asyncio.run(scenario())


def test_a_broken_staff_file_is_refused_naming_its_line(tmp_path: Path) -> None:
    staff_file = tmp_path / "staff.jsonl"
    staff_file.write_text('{"badge": "LEA-0042", "name": "Léa D.", "role": "boss"}\n')
    path = write_config(
        tmp_path / "k.toml", tmp_path / "data", staff=f'directory_file = "{staff_file}"'
    )
    with pytest.raises(ConfigError, match=r"staff.directory_file: .* line 1: .*role"):
        asyncio.run(build_runtime(load_config(path)))


def test_a_retailers_own_uid_badge_listed_in_the_directory_is_a_staff_badge(
    tmp_path: Path,
) -> None:
    catalog = Catalog(tmp_path / "catalog.sqlite")
    catalog.load_source(DEMO_CATALOG)
    uid_badge = PSEUDONYMS.card("uid:04a1b2c3d4e5f6")
    directory = FixedDirectory(
        {uid_badge: StaffEntry("Zoé R.", "associate", hash_pin("8642", iterations=1000))}
    )
    lockouts = BadgeLockouts(tmp_path / "staff.sqlite")
    desk = StaffDesk(directory, lockouts, PSEUDONYMS.card, catalog, store_id="paris-01")
    session = ShopperSession(catalog, PSEUDONYMS.card, clock=time.time, staff=desk)
    try:
        session.on_card(CardTap("uid:04a1b2c3d4e5f6", "04a1b2c3d4e5f6", "MifareClassic", "t", 0))
        assert session.view.screen is Screen.STAFF
        drafts = session.handle(EnterStaffPin("8642"))
        assert [(d.type, d.priority) for d in drafts] == [
            ("io.borne.staff.logged_in", Priority.CRITICAL)  # never shed
        ]
        session.handle(EndStaff())
        # Another UID-only card is a loyalty card, as before.
        session.on_card(CardTap("uid:0badc0de", "0badc0de", "MifareClassic", "t", 0))
        view = session.view
        assert view.screen is Screen.WELCOME
    finally:
        lockouts.close()
        catalog.close()


@pytest.mark.parametrize(
    "event_type",
    ["io.borne.staff.pin_refused", "io.borne.order.handed_over", "io.borne.assist.taken"],
)
def test_staff_events_are_never_shed(event_type: str) -> None:
    assert EventDraft(event_type, {}).priority is Priority.CRITICAL


# --- review fixes: the desk alone, its answers and the store's calls --------------------

HUB_OK = {"status": "ok", "order": _order(PICKUP, "handed_over", pickup="paris-01")}
READY = {
    "status": "ok",
    "order": _order(PICKUP, "ready_for_pickup", pickup="paris-01"),
    "first_name": "Camille",
}


@contextmanager
def lone_desk(tmp_path: Path, entries: dict[str, StaffEntry] | None = None) -> Iterator[StaffDesk]:
    """A staff desk with Léa in its directory, no runtime, no hub: answers are given."""
    catalog = Catalog(tmp_path / "catalog.sqlite")
    catalog.load_source(DEMO_CATALOG)
    pin_hash = hash_pin("2468", iterations=1000)
    directory = FixedDirectory(
        entries or {badge_pseudonym(LEA): StaffEntry("Léa D.", "associate", pin_hash)}
    )
    lockouts = BadgeLockouts(tmp_path / "staff.sqlite")
    desk = StaffDesk(directory, lockouts, PSEUDONYMS.card, catalog, store_id="paris-01")
    try:
        yield desk
    finally:
        lockouts.close()
        catalog.close()


def notice(desk: StaffDesk) -> StaffNotice:
    """What the staff screen says now."""
    assert desk.view is not None
    return desk.view.notice


def _answer(desk: StaffDesk, document: dict[str, Any]) -> list[EventDraft]:
    (request,) = desk.take_outgoing()
    return desk.answered(request, json.dumps(document).encode())


def _at_the_pickup(desk: StaffDesk) -> None:
    desk.badge_tapped(badge(LEA))
    desk.enter_pin("2468")
    desk.open_page("order")
    desk.lookup_order(PICKUP)
    _answer(desk, READY)
    assert desk.view is not None
    assert desk.view.pickup is not None
    assert desk.view.pickup.can_hand_over


def test_a_handover_the_hub_made_is_told_to_the_platform_even_once_the_kiosk_locked(
    tmp_path: Path,
) -> None:
    with lone_desk(tmp_path) as desk:
        _at_the_pickup(desk)
        desk.hand_over()
        (request,) = desk.take_outgoing()
        desk.lock("button")  # "Terminer" before the hub answered
        drafts = desk.answered(request, json.dumps(HUB_OK).encode())
        assert [(d.type, dict(d.data)) for d in drafts] == [
            ("io.borne.order.handed_over", {"staff": badge_pseudonym(LEA), "order": PICKUP})
        ]
        assert desk.view is None  # nothing shown to whoever comes next
        # Asked again, the hub says it is not ready: it was handed over already.
        _at_the_pickup(desk)
        desk.hand_over()
        not_ready = {"status": "not_ready", "order": HUB_OK["order"]}
        assert _answer(desk, not_ready) == []
        assert notice(desk) is StaffNotice.ALREADY_HANDED_OVER
        # Looked up afterwards, the order says so too.
        desk.lookup_order(PICKUP)
        _answer(desk, {**READY, "order": HUB_OK["order"]})
        assert notice(desk) is StaffNotice.ALREADY_HANDED_OVER


def test_a_handover_request_expires_at_the_broker_when_the_kiosk_stops_waiting() -> None:
    sent: list[Request] = []
    requests = HubRequests("kiosk-07", sent.append, answer_within=0.1)
    body = {"store": "paris-01", "staff": "0" * 64, "order": PICKUP}

    async def ask_all() -> None:
        await requests.ask(StaffRequest("order", body, 1))
        await requests.ask(StaffRequest("handover", body, 2))

    asyncio.run(ask_all())
    assert [(r.topic.rsplit("/", 1)[1], r.expiry) for r in sent] == [
        ("order", 10),
        ("handover", 1),  # MQTT counts whole seconds: the least it can say
    ]
    patient = HubRequests("kiosk-07", sent.append, answer_within=4.0)
    assert patient.expiry(StaffRequest("handover", body, 3)) == 4


def test_a_badge_the_hub_refuses_is_told_so_not_that_nobody_is_known(tmp_path: Path) -> None:
    with lone_desk(tmp_path) as desk:
        desk.badge_tapped(badge(LEA))
        desk.enter_pin("2468")
        desk.open_page("customer")
        desk.card_tapped(CARDS["Camille"])
        drafts = _answer(desk, {"status": "refused"})
        assert notice(desk) is StaffNotice.REFUSED
        assert [d.data["outcome"] for d in drafts] == ["refused"]
        desk.open_page("order")
        desk.lookup_order(PICKUP)
        _answer(desk, {"status": "refused"})
        assert notice(desk) is StaffNotice.REFUSED
        desk.lookup_order("CC-2026-999999")
        _answer(desk, {"status": "unknown"})
        assert notice(desk) is StaffNotice.UNKNOWN_ORDER


def test_a_call_someone_took_cannot_be_taken_again(tmp_path: Path) -> None:
    calls = (
        AssistCall("call-1", "kiosk-02", time.time(), None, None, taken_by="Marc L."),
        AssistCall("call-2", "kiosk-03", time.time(), None, None),
    )
    with lone_desk(tmp_path) as desk:
        desk.calls_changed(calls)
        desk.badge_tapped(badge(LEA))
        desk.enter_pin("2468")
        assert desk.take_call("call-1") == []
        assert notice(desk) is StaffNotice.NONE
        assert desk.view is not None
        assert desk.view.calls[0].taken_by == "Marc L."
        assert [d.type for d in desk.take_call("call-2")] == ["io.borne.assist.taken"]
        assert [call.taken_by for call in desk.view.calls] == ["Marc L.", "Léa D."]


def test_a_badge_whose_hash_no_pin_can_match_is_unknown_not_a_crash(tmp_path: Path) -> None:
    good = hash_pin("2468", iterations=1000)
    algorithm, rounds, salt, digest = good.split("$")
    odd_salt = "$".join((algorithm, rounds, salt[:-1], digest))  # passed the old check
    slow = "$".join((algorithm, "9999999", salt, digest))  # seconds of frozen screen
    for pin_hash in (odd_salt, slow):
        entries = {badge_pseudonym(LEA): StaffEntry("Léa D.", "associate", pin_hash)}
        with lone_desk(tmp_path / pin_hash[-8:], entries) as desk:
            desk.badge_tapped(badge(LEA))
            assert desk.view is not None
            assert notice(desk) is StaffNotice.UNKNOWN_BADGE
            assert desk.enter_pin("2468") == []


def test_lockouts_that_recur_last_longer_each_time_until_a_manager_unlocks(
    tmp_path: Path,
) -> None:
    now = [1_800_000_000.0]
    path = tmp_path / "staff.sqlite"
    lea = badge_pseudonym(LEA)

    def lock_out(lockouts: BadgeLockouts) -> float:
        for _ in range(lockouts.max_failures):
            failure = lockouts.failed(lea)
        assert failure.locked_until is not None
        return failure.locked_until - now[0]

    lockouts = BadgeLockouts(path, clock=lambda: now[0])
    try:
        assert lock_out(lockouts) == 900
        now[0] += 901  # waited out: five more tries, for twice as long a lockout
        assert lockouts.locked_until(lea) is None
        assert lock_out(lockouts) == 1800
    finally:
        lockouts.close()
    now[0] += 1801
    lockouts = BadgeLockouts(path, clock=lambda: now[0])  # a restart forgets nothing
    try:
        assert lock_out(lockouts) == 3600
        assert lockouts.clear(lea)  # a manager unlocks it: afresh
        assert lock_out(lockouts) == 900
    finally:
        lockouts.close()


def test_a_lockouts_file_of_before_lockouts_grew_is_still_read(tmp_path: Path) -> None:
    path = tmp_path / "staff.sqlite"
    with closing(sqlite3.connect(path)) as old:
        old.execute(
            "CREATE TABLE badges (badge TEXT PRIMARY KEY, failures INTEGER NOT NULL,"
            " locked_until REAL)"
        )
        old.execute("INSERT INTO badges VALUES ('b', 4, NULL)")
        old.commit()
    lockouts = BadgeLockouts(path)
    try:
        failure = lockouts.failed("b")
        assert (failure.failures, failure.lockouts) == (5, 1)
    finally:
        lockouts.close()


def test_a_staff_file_beside_the_platforms_directory_is_said_to_be_ignored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    staff_file = tmp_path / "staff.jsonl"
    staff_file.write_text("")
    path = write_config(
        tmp_path / "k.toml",
        tmp_path / "data",
        1,  # never connected: the kiosk is only built
        catalog='pictures = ""',  # fed by the platform's streams
        staff=f'directory_file = "{staff_file}"',
    )

    async def build() -> None:
        runtime, _ = await build_runtime(load_config(path))
        await runtime.close()

    with caplog.at_level(logging.WARNING, logger="edge.bootstrap"):
        asyncio.run(build())
    assert "directory_file is ignored" in caplog.text
