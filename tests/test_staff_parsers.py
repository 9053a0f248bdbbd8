"""What the kiosk reads from outside in staff mode is read strictly: the hub's answers,
the store's advisor calls, the staff directory, a badge's NDEF record and an order's
QR code. Anything malformed is a typed error, never a half-read value."""

from __future__ import annotations

import contextlib
import json
import os
import string
from typing import Any

import ndef
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devices.errors import InputError
from devices.nfc.card_formats import (
    STAFF_RECORD_TYPE,
    card_number_from_records,
    parse_ndef,
    staff_badge_records,
)
from edge.errors import ConfigError
from edge.lockdown import (
    MAX_ITERATIONS,
    check_pin_hash,
    hash_pin,
    is_pin_hash,
    pin_matches,
    read_pin_hash,
)
from edge.staff.answers import (
    MAX_ANSWER_BYTES,
    StaffAnswerError,
    parse_customer_answer,
    parse_handover_answer,
    parse_order_answer,
)
from edge.staff.assist import AssistQueue, parse_assist_queue, read_queue
from edge.staff.directory import StaffError, staff_entry_from_value
from edge.staff.order_codes import ORDER_NUMBER, order_number
from edge.staff.view import CHANNELS, ORDER_STATUSES

FUZZ = settings(
    max_examples=int(os.environ.get("BORNE_FUZZ_EXAMPLES", "150")),
    suppress_health_check=[HealthCheck.too_slow],
    deadline=None,
)
# Whole customer files are big examples: fewer of them by default, as many when hunting.
FILES = settings(FUZZ, max_examples=int(os.environ.get("BORNE_FUZZ_EXAMPLES", "50")))

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=False),
    st.text(max_size=12),
)
json_values: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
numbers = st.from_regex(r"[A-Z0-9][A-Z0-9-]{3,31}", fullmatch=True)
amounts = st.decimals(min_value=0, max_value=99999, places=2).map(str)
gtins = st.from_regex(r"[0-9]{13}", fullmatch=True)
lines = st.fixed_dictionaries(
    {
        "gtin": st.one_of(st.none(), gtins),
        "title": st.text(max_size=40),
        "quantity": st.integers(min_value=1, max_value=20),
        "amount": amounts,
    }
)
orders = st.fixed_dictionaries(
    {
        "order": numbers,
        "channel": st.sampled_from(CHANNELS),
        "placed": st.sampled_from(["2026-10-02", "2026-10-02T14:31:00+02:00"]),
        "where": st.text(max_size=30),
        "status": st.sampled_from(ORDER_STATUSES),
        "total": amounts,
        "currency": st.just("EUR"),
        "lines": st.lists(lines, max_size=3),
        "returned": st.lists(lines, max_size=2),
        "pickup_store": st.one_of(st.none(), st.just("paris-01")),
    }
)
customers = st.fixed_dictionaries(
    {
        "first_name": st.text(alphabet=string.ascii_letters, min_size=3, max_size=20),
        "last_name": st.text(max_size=20),
        "tier": st.sampled_from(["Argent", "Or", ""]),
        "points": st.integers(min_value=0, max_value=10**6),
        "email": st.just("c•••@example.fr"),
        "phone": st.just("•• •• •• •• 78"),
        "contact_masked": st.booleans(),
        "preferences": st.lists(st.text(max_size=20), max_size=3),
        "sizes": st.dictionaries(st.text(max_size=10), st.text(max_size=4), max_size=3),
        "orders": st.lists(orders, max_size=2),
        "wishlist": st.lists(gtins, max_size=3),
    }
)


def _spoiled(document: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
    """`document` with one of its fields, at any depth, replaced by any JSON value."""
    paths: list[list[Any]] = []

    def walk(value: Any, path: list[Any]) -> None:
        paths.append(path)
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(inner, [*path, key])
        elif isinstance(value, list):
            for index, inner in enumerate(value):
                walk(inner, [*path, index])

    walk(document, [])
    path = data.draw(st.sampled_from(paths[1:]))
    spoiled = json.loads(json.dumps(document))
    target = spoiled
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = data.draw(json_values)
    return dict(spoiled)


@FILES
@given(customers)
def test_a_customers_file_is_read_whole(customer: dict[str, Any]) -> None:
    answer = parse_customer_answer(json.dumps({"status": "ok", "customer": customer}).encode())
    file = answer.customer
    assert file is not None
    assert (file.first_name, file.points, file.wishlist) == (
        customer["first_name"],
        customer["points"],
        tuple(customer["wishlist"]),
    )
    assert [order.number for order in file.orders] == [o["order"] for o in customer["orders"]]
    assert [len(order.lines) for order in file.orders] == [
        len(o["lines"]) for o in customer["orders"]
    ]
    assert dict(file.sizes) == customer["sizes"]
    assert customer["first_name"] not in repr(file)


@FILES
@given(customers, st.data())
def test_a_spoiled_customer_answer_is_read_or_refused(
    customer: dict[str, Any], data: st.DataObject
) -> None:
    document = _spoiled({"status": "ok", "customer": customer}, data)
    try:
        answer = parse_customer_answer(json.dumps(document).encode())
    except StaffAnswerError:
        return  # typed: what the desk catches
    assert answer.status != "ok" or answer.customer is not None


@FUZZ
@given(orders, st.data())
def test_a_spoiled_order_answer_is_read_or_refused(
    order: dict[str, Any], data: st.DataObject
) -> None:
    document = _spoiled({"status": "ok", "order": order, "first_name": "Camille"}, data)
    payload = json.dumps(document).encode()
    for parse in (parse_order_answer, parse_handover_answer):
        try:
            answer = parse(payload)
        except StaffAnswerError:
            continue
        assert answer.status in ("ok", "not_ready", "unknown", "refused")
        assert (answer.order is None) == (answer.status in ("unknown", "refused"))


@FUZZ
@given(json_values)
def test_any_json_answer_is_read_or_refused(document: Any) -> None:
    payload = json.dumps(document).encode()
    for parse in (parse_customer_answer, parse_order_answer, parse_handover_answer):
        try:
            answer = parse(payload)
        except StaffAnswerError:
            continue
        assert answer.status in ("ok", "declined", "unknown", "refused", "not_ready")


@FUZZ
@given(st.binary(max_size=64))
def test_any_bytes_are_an_answer_or_refused(payload: bytes) -> None:
    with contextlib.suppress(StaffAnswerError):
        parse_customer_answer(payload)


def test_a_declined_answer_carries_nothing_and_a_huge_one_is_refused() -> None:
    declined = parse_customer_answer(b'{"status": "declined", "customer": {"first_name": "X"}}')
    assert declined.customer is None
    huge = json.dumps({"status": "unknown", "pad": "x" * MAX_ANSWER_BYTES}).encode()
    with pytest.raises(StaffAnswerError, match="larger"):
        parse_customer_answer(huge)


@FUZZ
@given(
    st.lists(st.tuples(numbers, st.sampled_from(["kiosk-01", "kiosk-02"])), max_size=4), st.data()
)
def test_the_stores_advisor_calls_are_read_or_refused(
    calls: list[tuple[str, str]], data: st.DataObject
) -> None:
    queue = {
        "store": "paris-01",
        "at": "2026-12-01T10:00:00Z",
        "calls": [
            {
                "call": call,
                "device": device,
                "since": "2026-12-01T09:58:00+00:00",
                "gtin": None,
                "title": "Casque",
                "taken_by": None,
            }
            for call, device in calls
        ],
    }
    read = parse_assist_queue(json.dumps(queue).encode(), "paris-01")
    assert [(c.call_id, c.device) for c in read] == calls
    with pytest.raises(StaffAnswerError):
        parse_assist_queue(json.dumps(queue).encode(), "lyon-01")  # another store's
    if calls:
        with contextlib.suppress(StaffAnswerError):
            parse_assist_queue(json.dumps(_spoiled(queue, data)).encode(), "paris-01")


@FUZZ
@given(json_values)
def test_any_staff_item_is_an_entry_or_refused(value: Any) -> None:
    if not isinstance(value, dict):
        return
    try:
        entry = staff_entry_from_value(value)
    except StaffError:
        return
    assert entry.role in ("associate", "manager")


def test_a_staff_item_needs_a_real_pin_hash() -> None:
    good = {"name": "Léa D.", "role": "associate", "pin_hash": hash_pin("2468", iterations=1000)}
    assert staff_entry_from_value(good).name == "Léa D."
    assert good["pin_hash"] not in repr(staff_entry_from_value(good))
    with pytest.raises(StaffError, match="pin_hash"):
        staff_entry_from_value({**good, "pin_hash": "2468"})
    with pytest.raises(StaffError, match="role"):
        staff_entry_from_value({**good, "role": "admin"})


@FUZZ
@given(st.from_regex(r"[A-Za-z0-9_-]{4,32}", fullmatch=True))
def test_a_staff_badge_reads_as_its_id(badge_id: str) -> None:
    octets = b"".join(ndef.message_encoder(staff_badge_records(badge_id)))
    assert card_number_from_records(parse_ndef(octets), b"\x04\x01") == f"staff:{badge_id}"


@FUZZ
@given(st.binary(max_size=40))
def test_any_staff_record_payload_is_a_badge_or_refused(payload: bytes) -> None:
    octets = b"".join(ndef.message_encoder([ndef.Record(STAFF_RECORD_TYPE, "", payload)]))
    try:
        number = card_number_from_records(parse_ndef(octets), b"\x04\x01")
    except InputError:
        return
    assert number == "staff:" + payload.decode("ascii")


@FUZZ
@given(numbers)
def test_an_order_number_is_found_in_its_qr_codes(number: str) -> None:
    assert order_number(number) == number
    assert order_number(f"https://borne-demo.fr/commandes/{number}") == number
    assert order_number(f"https://borne-demo.fr/suivi?order={number}&lang=fr") == number
    assert order_number(f"https://borne-demo.fr/commandes/{number}/") == number


@FUZZ
@given(st.text(alphabet=string.printable + "éà€", max_size=80))
def test_any_code_text_is_an_order_number_or_none(text: str) -> None:
    number = order_number(text)
    assert number is None or ORDER_NUMBER.fullmatch(number)


def test_codes_that_hold_no_order_number_find_none() -> None:
    assert order_number("cc-2026-104233") is None  # lower case: not an order number
    assert order_number("ftp://borne-demo.fr/CC-2026-104233") is None
    assert order_number("https://borne-demo.fr/") is None
    assert order_number("javascript:alert(1)") is None


def test_json_nested_deeper_than_python_reads_is_refused_typed() -> None:
    deep = b"[" * 100_000
    for parse in (parse_customer_answer, parse_order_answer, parse_handover_answer):
        with pytest.raises(StaffAnswerError, match="deeply"):
            parse(deep)
    with pytest.raises(StaffAnswerError, match="deeply"):
        parse_assist_queue(deep, "paris-01")
    queue = AssistQueue("paris-01")
    queue.received("borne/v1/stores/paris-01/assist", deep, None)  # logged, nothing raised
    assert queue.calls == ()


def _queue(at: str, *calls: dict[str, Any]) -> bytes:
    return json.dumps({"store": "paris-01", "at": at, "calls": list(calls)}).encode()


def _call(call_id: str, **fields: Any) -> dict[str, Any]:
    call = {"call": call_id, "device": "kiosk-02", "since": "2026-12-01T09:58:00Z"}
    return call | {"gtin": None, "title": None, "taken_by": None} | fields


def test_a_call_that_cannot_be_read_is_left_out_and_the_others_shown() -> None:
    payload = _queue(
        "2026-12-01T10:00:00.000Z",
        _call("call-1", gtin="3" * 200),
        _call("call-2", gtin="03760123450010"),
        _call("call-3", gtin="not-a-gtin"),
        _call("call-4", since="yesterday"),
    )
    message = read_queue(payload, "paris-01")
    assert [call.call_id for call in message.calls] == ["call-2"]
    assert message.skipped == 3


def test_a_queue_older_than_the_one_shown_is_ignored() -> None:
    shown: list[tuple[str, ...]] = []
    queue = AssistQueue("paris-01")
    queue.listen(lambda calls: shown.append(tuple(call.call_id for call in calls)))
    topic = "borne/v1/stores/paris-01/assist"
    queue.received(topic, _queue("2026-12-01T10:00:02.000Z", _call("call-2")), None)
    # Another hub process's queue, made before, written to the broker after.
    queue.received(topic, _queue("2026-12-01T10:00:01.500Z", _call("call-1")), None)
    queue.received(topic, _queue("2026-12-01T10:00:03.000Z"), None)
    assert shown == [("call-2",), ()]
    assert queue.stale == 1
    with pytest.raises(StaffAnswerError, match="at"):
        read_queue(_queue("not a time"), "paris-01")


def test_a_pin_hash_no_pin_can_be_checked_against_is_refused() -> None:
    good = hash_pin("2468", iterations=1000)
    algorithm, _, salt, digest = good.split("$")
    odd_salt = "$".join((algorithm, "1000", salt[:-1], digest))
    slow = "$".join((algorithm, "1000001", salt, digest))
    item = {"name": "Léa D.", "role": "associate"}
    for refused in (odd_salt, slow):
        assert not is_pin_hash(refused)
        with pytest.raises(StaffError, match="pin_hash"):
            staff_entry_from_value({**item, "pin_hash": refused})
        with pytest.raises(ValueError, match="hash_pin"):
            pin_matches(refused, "2468")
        with pytest.raises(ConfigError, match="pin-hash"):
            check_pin_hash(refused, "kiosk.exit_pin_hash")
    assert pin_matches(good, "2468")
    assert is_pin_hash(hash_pin("2468", iterations=MAX_ITERATIONS))


# Near misses of the format too: rounds, salt and digest of a length off by one or more.
PIN_HASH_LIKE = r"pbkdf2-sha256\$[0-9]{3,8}\$[0-9a-f]{14,66}\$[0-9a-f]{63,65}"


@FUZZ
@given(st.from_regex(PIN_HASH_LIKE, fullmatch=True))
def test_any_pin_hash_text_is_read_whole_or_refused(text: str) -> None:
    read = read_pin_hash(text)
    _, rounds, salt, digest = text.split("$")
    usable = (
        1000 <= int(rounds) <= MAX_ITERATIONS
        and len(salt) % 2 == 0
        and 16 <= len(salt) <= 64
        and len(digest) == 64
    )
    assert (read is not None) == usable
    if read is not None:
        assert (read.iterations, read.salt.hex(), read.digest.hex()) == (int(rounds), salt, digest)
        assert salt not in repr(read)


@FUZZ
@given(st.lists(numbers, min_size=1, max_size=4, unique=True), st.data())
def test_one_spoiled_call_never_hides_the_others(calls: list[str], data: st.DataObject) -> None:
    good = [_call(call_id) for call_id in calls]
    spoiled = _spoiled({"call": _call("SPOILED")}, data)["call"]
    message = read_queue(_queue("2026-12-01T10:00:00Z", *good, spoiled), "paris-01")
    read = [call.call_id for call in message.calls]
    assert all(call_id in read for call_id in calls)
    assert message.skipped + len(message.calls) == len(calls) + 1
