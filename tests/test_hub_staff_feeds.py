"""Borne's staff and orders feeds, and the loyalty feed's profile fields.

A staff feed's badges become the pseudonyms the kiosks make of the same badge and are
never kept; without the retailer's key such a file is refused whole. An order's card
number likewise. A bad line is reported with its line and field, the rest is read.
Profile fields are kept for staff answers and never reach the customers stream.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.demo import DEMO_SECRET
from edge.hub.feeds import (
    CardPseudonym,
    Customer,
    CustomerProfile,
    FeedError,
    FeedKind,
    FeedResult,
    OrderRecord,
    StaffRecord,
    detect_feed,
    read_feed,
)
from edge.hub.streams import StreamStore
from edge.lockdown import hash_pin
from edge.pseudonym import Pseudonyms, load_secret
from edge.sync.messages import Stream

DEMO_FEEDS = Path(__file__).resolve().parent.parent / "assets" / "demo-store" / "feeds"
CAMILLE = "a6797857962f0e1180da0ac74df5c76f703e1480f58ca2ee9bf9e15e9b3bbc52"
PIN_HASH = hash_pin("2468", salt=b"0123456789abcdef", iterations=1000)
FUZZ = settings(
    max_examples=int(os.environ.get("BORNE_FUZZ_EXAMPLES", "100")),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    deadline=None,
)


@pytest.fixture(scope="module")
def demo_key() -> CardPseudonym:
    return Pseudonyms.from_secret(load_secret(str(DEMO_SECRET))).card


@contextmanager
def jsonl(*lines: Any) -> Iterator[Path]:
    """A JSON Lines file: objects written as JSON, strings as they are."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "feed.jsonl"
        written = [line if isinstance(line, str) else json.dumps(line) for line in lines]
        path.write_text("\n".join(written) + "\n", encoding="utf-8")
        yield path


def staff_line(**changes: Any) -> dict[str, Any]:
    line: dict[str, Any] = {
        "badge": "LEA-0042",
        "name": "Léa D.",
        "role": "associate",
        "stores": ["paris-01"],
        "pin_hash": PIN_HASH,
    }
    line.update(changes)
    return {key: value for key, value in line.items() if value is not None}


def order_line(**changes: Any) -> dict[str, Any]:
    line: dict[str, Any] = {
        "order": "CC-2026-104233",
        "card": "9250000000017",
        "channel": "web",
        "placed": "2026-10-02T14:31:00+02:00",
        "where": "borne-demo.fr",
        "status": "ready_for_pickup",
        "currency": "EUR",
        "total": "99.99",
        "lines": [{"gtin": "3760123450010", "title": "Casque", "quantity": 1, "amount": "99.99"}],
        "pickup_store": "paris-01",
    }
    line.update(changes)
    return {key: value for key, value in line.items() if value is not None}


def test_a_staff_badge_becomes_the_pseudonym_a_kiosk_makes_of_the_same_badge(
    demo_key: CardPseudonym,
) -> None:
    with jsonl(staff_line(), staff_line(badge=None, uid="04A1B2C3", stores=[])) as path:
        assert detect_feed(path) is FeedKind.STAFF
        result = read_feed(path, card_pseudonym=demo_key)
    assert result.rejected == ()
    lea, by_uid = result.records
    assert isinstance(lea, StaffRecord)
    assert isinstance(by_uid, StaffRecord)
    # The kiosk's NFC reader makes "staff:LEA-0042" of the badge, "uid:04a1b2c3" of a UID.
    assert lea.pseudonym == demo_key("staff:LEA-0042")
    assert by_uid.pseudonym == demo_key("uid:04a1b2c3")
    assert (lea.role, lea.stores, lea.pin_hash) == ("associate", ("paris-01",), PIN_HASH)
    assert by_uid.works_in("lille-01")
    assert not lea.works_in("lille-01")
    assert "LEA" not in repr(lea)
    assert "Léa" not in repr(lea)
    assert "pbkdf2" not in repr(lea)


def test_a_staff_feed_without_the_retailers_key_is_refused_whole() -> None:
    with jsonl(staff_line()) as path, pytest.raises(FeedError) as refused:
        read_feed(path)
    assert "pseudonym_key_file" in str(refused.value)


def test_a_bad_staff_line_is_reported_by_line_and_field_and_the_rest_is_read(
    demo_key: CardPseudonym,
) -> None:
    lines = (
        staff_line(),
        staff_line(badge="MARC-0007", role="director"),
        staff_line(badge="X"),
        staff_line(badge="INES-0013", pin_hash="2468"),  # a clear PIN is never taken
        staff_line(badge="BOB-0001", stores="paris-01"),
        "{not json",
        staff_line(badge="ANA-0002", uid="04a1b2c3"),
        # A salt of an odd number of hex digits is no salt: every kiosk would fail on it.
        staff_line(badge="ODD-0003", pin_hash="pbkdf2-sha256$200000$" + "a" * 17 + "$" + "b" * 64),
    )
    with jsonl(*lines) as path:
        result = read_feed(path, card_pseudonym=demo_key)
    assert len(result.records) == 1
    assert [(bad.line, bad.field) for bad in result.rejected] == [
        (2, "role"),
        (3, "badge"),
        (4, "pin_hash"),
        (5, "stores"),
        (6, "(line)"),
        (7, "badge"),
        (8, "pin_hash"),
    ]
    assert all("2468" not in str(bad) for bad in result.rejected)


def test_orders_are_read_with_their_lines_and_the_card_number_is_not_kept(
    demo_key: CardPseudonym,
) -> None:
    returned = [{"gtin": "3760123450010", "title": "Casque", "quantity": 1, "amount": "99.9"}]
    with jsonl(order_line(), order_line(order="W-2026-0042", returned=returned)) as path:
        assert detect_feed(path) is FeedKind.ORDERS
        result = read_feed(path, card_pseudonym=demo_key)
    assert result.rejected == ()
    pickup, web = result.records
    assert isinstance(pickup, OrderRecord)
    assert isinstance(web, OrderRecord)
    assert pickup.customer == CAMILLE == demo_key("9250000000017")
    assert (pickup.number, pickup.status, pickup.pickup_store) == (
        "CC-2026-104233",
        "ready_for_pickup",
        "paris-01",
    )
    assert pickup.lines[0].gtin == "03760123450010"
    assert web.returned[0].amount == "99.90"
    assert "9250000000017" not in repr(result)
    with jsonl(order_line()) as path, pytest.raises(FeedError):
        read_feed(path)  # card numbers and no key: refused whole


def test_a_bad_order_line_is_reported_by_line_and_field(demo_key: CardPseudonym) -> None:
    lines = (
        order_line(),
        order_line(order="cc 42"),
        order_line(status="lost"),
        order_line(total=99.99),  # a JSON number would round cents
        order_line(placed="2026-10-02T14:31:00"),  # an instant without its offset
        order_line(lines=[]),
        order_line(lines=[{"gtin": "3760123450011", "title": "x", "quantity": 1, "amount": "1"}]),
        order_line(channel="phone"),
        order_line(placed="2026-10-02"),  # a date alone is fine
    )
    with jsonl(*lines) as path:
        result = read_feed(path, card_pseudonym=demo_key)
    assert len(result.records) == 2
    assert [(bad.line, bad.field) for bad in result.rejected] == [
        (2, "order"),
        (3, "status"),
        (4, "total"),
        (5, "placed"),
        (6, "lines"),
        (7, "lines[0].gtin"),
        (8, "channel"),
    ]


def test_profile_fields_are_kept_for_staff_and_never_reach_the_customers_stream(
    tmp_path: Path,
) -> None:
    line = {
        "pseudonym": CAMILLE,
        "first_name": "Camille",
        "points": 1250,
        "last_name": "Martin",
        "tier": "Or",
        "email": "camille.martin@example.fr",
        "phone": "06 12 34 56 78",
        "preferences": ["Cuisine"],
        "sizes": {"Chaussures": "39"},
        "wishlist": ["3760123450263"],
    }
    with jsonl(line, {**line, "pseudonym": "f" * 64, "email": "nobody"}) as path:
        result = read_feed(path)
    (camille,) = result.records
    assert [(bad.line, bad.field) for bad in result.rejected] == [(2, "email")]
    assert isinstance(camille, Customer)
    assert camille.profile == CustomerProfile(
        last_name="Martin",
        tier="Or",
        email="camille.martin@example.fr",
        phone="06 12 34 56 78",
        preferences=("Cuisine",),
        sizes=(("Chaussures", "39"),),
        wishlist=("03760123450263",),
    )
    assert "Martin" not in repr(camille)
    assert "example.fr" not in repr(camille.profile)
    streams = StreamStore(tmp_path / "streams.sqlite")
    try:
        streams.add_store("paris-01")
        streams.import_feed(result)
        published = json.dumps(streams.snapshot("paris-01", Stream.CUSTOMERS))
    finally:
        streams.close()
    assert "Camille" in published
    for private in ("Martin", "example.fr", "56 78", "Chaussures", "Cuisine", "3760123450263"):
        assert private not in published


def test_the_demo_staff_feed_reads_with_the_demo_key(demo_key: CardPseudonym) -> None:
    staff = read_feed(DEMO_FEEDS / "staff.jsonl", card_pseudonym=demo_key)
    orders = read_feed(DEMO_FEEDS / "orders.jsonl")
    assert (staff.rejected, orders.rejected) == ((), ())
    members = {
        record.pseudonym: record for record in staff.records if isinstance(record, StaffRecord)
    }
    assert isinstance(lea := members[demo_key("staff:LEA-0042")], StaffRecord)
    assert isinstance(marc := members[demo_key("staff:MARC-0007")], StaffRecord)
    assert (lea.role, marc.role) == ("associate", "manager")
    pickups = [
        order
        for order in orders.records
        if isinstance(order, OrderRecord)
        and order.status == "ready_for_pickup"
        and order.pickup_store == "paris-01"
    ]
    assert "CC-2026-104233" in {order.number for order in pickups}
    assert len(pickups) >= 2


def read_or_refuse(data: bytes, key: CardPseudonym) -> FeedResult | None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "feed.jsonl"
        path.write_bytes(data)
        refused_file: str | None = None
        try:
            result = read_feed(path, card_pseudonym=key)
        except FeedError as refused:
            refused_file = refused.file
        if refused_file is not None:
            assert refused_file == str(path)
            return None
    for bad in result.rejected:
        assert bad.line >= 1
        assert bad.field
    return result


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)


@FUZZ
@given(
    base=st.sampled_from(["staff", "order"]),
    field=st.sampled_from(
        [
            "badge",
            "uid",
            "name",
            "role",
            "stores",
            "pin_hash",
            "order",
            "card",
            "pseudonym",
            "channel",
            "placed",
            "where",
            "status",
            "currency",
            "total",
            "lines",
            "returned",
            "pickup_store",
        ]
    ),
    value=json_values,
)
def test_any_value_of_any_field_gives_a_record_or_a_rejection_naming_a_field(
    demo_key: CardPseudonym, base: str, field: str, value: Any
) -> None:
    line = staff_line() if base == "staff" else order_line()
    line[field] = value
    data = (json.dumps(line) + "\n").encode()
    result = read_or_refuse(data, demo_key)
    if result is not None:
        assert len(result.records) + len(result.rejected) == 1


@FUZZ
@given(st.binary(max_size=600))
def test_arbitrary_bytes_after_a_staff_line_give_records_or_a_feed_error(
    demo_key: CardPseudonym, tail: bytes
) -> None:
    read_or_refuse(json.dumps(staff_line()).encode() + b"\n" + tail, demo_key)
    read_or_refuse(json.dumps(order_line()).encode() + b"\n" + tail, demo_key)


def test_the_hub_knows_the_roles_channels_and_statuses_the_kiosk_knows() -> None:
    from edge.hub.feeds import orders, staff
    from edge.staff import view

    assert staff.ROLES == view.ROLES
    assert (orders.CHANNELS, orders.ORDER_STATUSES) == (view.CHANNELS, view.ORDER_STATUSES)
