"""The hub answers a staff request only for a badge logged in at the asking kiosk, of a
kiosk it knows to be in the store: a badge's pseudonym is no secret, its login is."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from edge.hub.resync import device_store_lookup
from edge.hub.staff_requests import HubStaffRequest, answer, is_logged_in, session_check
from edge.hub.store import SqliteEventStore, StoredEvent
from edge.hub.streams import StreamStore
from edge.hub.streams.lookups import StaffLookups
from tests.hub_staff_fixtures import CAMILLE, LEA, MARC, demo_staff_feeds, staff_event

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


def session(kind: str, staff: str, before: timedelta) -> StoredEvent:
    at = NOW - before
    return StoredEvent(
        "kiosk-a", f"{kind}-{staff}-{at}", f"io.borne.staff.{kind}", at, {"staff": staff}
    )


def test_a_badge_is_logged_in_from_its_login_until_its_logout_a_lockout_or_12_hours() -> None:
    login = session("logged_in", LEA, timedelta(minutes=5))
    assert is_logged_in([login], LEA, NOW)
    assert not is_logged_in([login], MARC, NOW)  # another badge's login opens nothing
    assert not is_logged_in([], LEA, NOW)
    for end in ("logged_out", "locked_out"):
        assert not is_logged_in([login, session(end, LEA, timedelta(minutes=1))], LEA, NOW)
    # Marc's logout ends Marc's session, not Léa's; a new login after a logout counts.
    assert is_logged_in([login, session("logged_out", MARC, timedelta(minutes=1))], LEA, NOW)
    logout = session("logged_out", LEA, timedelta(minutes=9))
    assert is_logged_in([logout, login], LEA, NOW)
    # A login does not open a kiosk for days: 12 hours at most.
    assert is_logged_in([session("logged_in", LEA, timedelta(hours=11, minutes=59))], LEA, NOW)
    assert not is_logged_in([session("logged_in", LEA, timedelta(hours=12, seconds=1))], LEA, NOW)


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[tuple[SqliteEventStore, StaffLookups]]:
    events = SqliteEventStore(tmp_path / "events.sqlite")
    streams = StreamStore(tmp_path / "streams.sqlite")
    streams.add_store("paris-01")
    streams.import_feeds(demo_staff_feeds())
    try:
        yield events, StaffLookups(streams.database)
    finally:
        events.close()
        streams.close()


def request(device: str, staff: str) -> HubStaffRequest:
    response = f"borne/v1/devices/{device}/res/staff"
    return HubStaffRequest("customer", device, "paris-01", staff, CAMILLE, response, b"id")


def test_a_kiosk_the_hub_does_not_know_asks_for_no_store(
    hub: tuple[SqliteEventStore, StaffLookups],
) -> None:
    events, lookups = hub
    store_of, logged_in = device_store_lookup(events), session_check(events)
    # Neither in the hub's [devices] nor heard from: its store is not known, so no store's.
    assert answer(lookups, request("kiosk-x", LEA), store_of, logged_in) == {"status": "refused"}
    # Once its events say where it is and that Léa logged in there, it is answered.
    login = staff_event("logged_in", "kiosk-x", 1, LEA, role="associate")
    assert events.ingest([json.dumps(login).encode()]).stored == 1
    found: dict[str, Any] = answer(lookups, request("kiosk-x", LEA), store_of, logged_in)
    assert found["status"] == "ok"
    assert found["customer"]["contact_masked"] is True
