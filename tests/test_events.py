"""The event contract: CloudEvents envelopes, UUIDv7 ids, the sequence extension."""

from __future__ import annotations

import json
import uuid

import pytest
from cloudevents.core.formats.json import JSONFormat
from hypothesis import given
from hypothesis import strategies as st

from edge.events import EventDraft, EventSource, Priority, format_sequence, rfc3339
from edge.ids import UUIDv7Generator

SOURCE = EventSource("paris-01", "kiosk-07")


def test_envelope_is_a_valid_cloudevent() -> None:
    draft = EventDraft("io.borne.product.scanned", {"gtin": "03760123450010"}, Priority.CRITICAL)

    payload = SOURCE.envelope(draft, event_id=str(UUIDv7Generator()()), sequence=42, time=0.5)

    event = JSONFormat().read(None, payload)
    assert event.get_type() == "io.borne.product.scanned"
    assert event.get_source() == "/stores/paris-01/devices/kiosk-07"
    assert event.get_extension("sequence") == "00000000000000000042"
    assert event.get_data() == {"gtin": "03760123450010"}
    assert json.loads(payload)["time"] == "1970-01-01T00:00:00.500Z"
    assert SOURCE.topic(draft) == "borne/v1/devices/kiosk-07/events/product.scanned"


def test_event_types_stay_under_the_borne_namespace() -> None:
    with pytest.raises(ValueError, match="reverse-DNS"):
        EventDraft("product.scanned")
    with pytest.raises(ValueError, match="reverse-DNS"):
        EventDraft("io.borne.a/b")


@given(st.integers(min_value=1, max_value=10**19), st.integers(min_value=1, max_value=10**19))
def test_sequence_strings_sort_like_numbers(a: int, b: int) -> None:
    assert (format_sequence(a) < format_sequence(b)) == (a < b)


def test_uuid7_layout_and_order_within_one_millisecond() -> None:
    generate = UUIDv7Generator(clock_ms=lambda: 1_700_000_000_000)

    ids = [generate() for _ in range(5000)]  # more than the 4096 a counter holds

    assert all(i.version == 7 and i.variant == uuid.RFC_4122 for i in ids)
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert ids[0].int >> 80 == 1_700_000_000_000


@given(st.lists(st.integers(min_value=0, max_value=2**48 - 1), min_size=2, max_size=50))
def test_uuid7_never_goes_backwards_even_if_the_clock_does(times: list[int]) -> None:
    clock = iter(times)
    generate = UUIDv7Generator(clock_ms=lambda: next(clock))
    ids = [generate() for _ in times]
    assert ids == sorted(ids)


def test_rfc3339_is_utc_with_z() -> None:
    assert rfc3339(1_790_000_000.25) == "2026-09-21T14:13:20.250Z"
