"""Presence: shoppers who run the store app come near, stay, and leave; others are counted."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from devices.ble.frames import parse_advertisement
from devices.ble.sightings import sightings
from devices.readings import BeaconSighting
from edge.events import EventDraft
from edge.presence import PresenceEngine, PresenceSettings, distance_m

APP = "426c7565-4368-6172-6d42-6561636f6e73"
OTHER = "fda50693-a4e2-4fb1-afcf-c6eb07647825"


def engine() -> PresenceEngine:
    return PresenceEngine(APP, lambda beacon: "p-" + beacon, PresenceSettings(dwell_after=10))


def seen(rssi: float, at: float, uuid: str = APP, minor: int = 7) -> BeaconSighting:
    return BeaconSighting(f"{uuid}/1/{minor}", uuid, round(rssi), -59, "test", at)


def kinds(events: list[EventDraft]) -> list[tuple[str, str]]:
    return [(e.type.rsplit(".", 1)[1], e.data["zone"]) for e in events]


def test_a_shopper_walks_up_stays_and_leaves() -> None:
    presence = engine()
    events = []
    rssi_path = [-85] * 5 + [-72] * 10 + [-48] * 40  # far, then near, then at the screen
    for step, rssi in enumerate(rssi_path):
        events += presence.observe(seen(rssi, at=step * 0.5))
    events += presence.expire(now=27.5 + 9)

    assert kinds(events) == [
        ("entered", "far"),
        ("entered", "near"),
        ("entered", "immediate"),
        ("dwelled", "immediate"),
        ("exited", "immediate"),
    ]
    # Shoppers are named by the keyed pseudonym of their beacon's ids, nothing else.
    assert {e.data["shopper"] for e in events} == {f"p-{APP}/1/7"}


def test_noise_on_a_zone_boundary_does_not_flicker() -> None:
    presence = engine()
    rng = random.Random(4)
    boundary = -59 - 10 * 2.2 * 0.398  # the near/far boundary for this beacon, ~-67.8 dBm
    events = []
    for step in range(400):
        events += presence.observe(seen(boundary + rng.uniform(-2.5, 2.5), at=step * 0.2))
    assert len([e for e in events if e.type.endswith("entered")]) <= 2


def test_other_beacons_are_counted_never_reported() -> None:
    presence = engine()
    events = []
    for minor in range(5):
        events += presence.observe(seen(-60, at=0.0, uuid=OTHER, minor=minor))
    events += presence.observe(seen(-60, at=0.0))
    assert [e.type for e in events] == ["io.borne.presence.entered"]
    assert presence.counts() == {"far": 0, "near": 6, "immediate": 0}
    assert presence.expire(now=100.0)[0].type == "io.borne.presence.exited"
    assert presence.counts() == {"far": 0, "near": 0, "immediate": 0}


def test_a_real_ibeacon_advertisement_becomes_a_sighting() -> None:
    parsed = parse_advertisement(
        {76: bytes.fromhex("0215426c7565436861726d426561636f6e730efe1355c5")}, {}
    )
    (sighting,) = sightings(parsed.frames, rssi=-63, source="hci0", at=1.0)
    assert sighting.beacon_id == f"{APP}/3838/4949"
    assert sighting.tx_power == -59
    assert round(distance_m(-84, -59, 2.2)) == 14  # Home Assistant shows 14 m for this one


@given(
    st.lists(st.tuples(st.integers(-110, -20), st.integers(0, 3), st.floats(0, 3)), max_size=120)
)
def test_events_always_tell_a_coherent_story(samples: list[tuple[int, int, float]]) -> None:
    presence = engine()
    present: set[str] = set()
    now = 0.0
    for rssi, minor, gap in samples:
        now += gap
        events = presence.expire(now) + presence.observe(seen(rssi, now, minor=minor))
        for event in events:
            who = event.data["shopper"]
            kind = event.type.rsplit(".", 1)[1]
            if kind == "exited":
                assert who in present
                present.discard(who)
            elif kind == "dwelled":
                assert who in present
            else:
                present.add(who)
    for event in presence.expire(now + 1000):
        present.discard(event.data["shopper"])
    assert present == set()


def test_a_flood_of_fake_store_app_beacons_is_bounded() -> None:
    """Anyone can advertise the app's UUID with random ids: tracks and events stay capped."""
    presence = engine()
    rng = random.Random(8)
    seconds, per_second = 60, 1000
    events = []
    for step in range(seconds * per_second):  # a new minor value each time
        events += presence.observe(seen(rng.uniform(-90, -40), at=step / per_second, minor=step))

    stats = presence.stats()
    assert stats.tracked == PresenceEngine.MAX_TRACKS
    assert sum(presence.counts().values()) == PresenceEngine.MAX_TRACKS
    entered = [e for e in events if e.type == "io.borne.presence.entered"]
    assert len(entered) <= PresenceEngine.EVENT_BURST + PresenceEngine.EVENT_RATE * seconds
    assert stats.dropped["entered"] > 0
    assert stats.untracked_shoppers == seconds * per_second - stats.tracked
    # Every fake leaves; only the announced ones are told, once each.
    exited = presence.expire(now=seconds + 100.0)
    assert len(exited) <= len(entered)
    assert presence.stats().tracked == 0


def test_when_full_other_beacons_make_room_for_a_shopper_oldest_first() -> None:
    presence = engine()
    for minor in range(PresenceEngine.MAX_TRACKS):
        presence.observe(seen(-60, at=minor * 0.001, uuid=OTHER, minor=minor))
    presence.observe(seen(-60, at=1.0, uuid=OTHER, minor=0))  # heard again: now the newest

    events = presence.observe(seen(-60, at=1.1))

    assert [e.type for e in events] == ["io.borne.presence.entered"]
    stats = presence.stats()
    assert (stats.tracked, stats.shoppers, stats.evicted) == (PresenceEngine.MAX_TRACKS, 1, 1)
    presence.observe(seen(-60, at=1.2, uuid=OTHER, minor=0))  # still tracked: nothing evicted
    assert presence.stats().evicted == 1
    presence.observe(seen(-60, at=1.3, uuid=OTHER, minor=1))  # the one that made room
    assert presence.stats().evicted == 2


def test_a_shopper_held_back_by_the_rate_limit_is_announced_later() -> None:
    presence = TightEngine(APP, lambda beacon: "p-" + beacon)
    events = []
    for minor in range(TightEngine.MAX_TRACKS):  # a burst of arrivals, all at once
        events += presence.observe(seen(-60, at=0.0, minor=minor))
    assert len(events) == TightEngine.EVENT_BURST
    assert presence.stats().dropped["entered"] == TightEngine.MAX_TRACKS - TightEngine.EVENT_BURST

    later = []
    for step in range(1, 20):  # everyone stays in view; the bucket refills
        for minor in range(TightEngine.MAX_TRACKS):
            later += presence.observe(seen(-60, at=step * 1.0, minor=minor))

    announced = {e.data["shopper"] for e in events + later if e.type.endswith("entered")}
    assert announced == {f"p-{APP}/1/{minor}" for minor in range(TightEngine.MAX_TRACKS)}


class TightEngine(PresenceEngine):
    """Small bounds, so that a few sightings reach them."""

    MAX_TRACKS = 6
    EVENT_RATE = 0.5
    EVENT_BURST = 3


@given(
    st.lists(
        st.tuples(st.integers(-110, -20), st.integers(0, 29), st.booleans(), st.floats(0, 0.5)),
        min_size=30,
        max_size=200,
    )
)
def test_the_story_stays_coherent_when_the_bounds_bite(
    samples: list[tuple[int, int, bool, float]],
) -> None:
    presence = TightEngine(APP, lambda beacon: "p-" + beacon, PresenceSettings(dwell_after=3))
    present: set[str] = set()
    entered = 0
    now = 0.0
    for rssi, minor, app, gap in samples:
        now += gap
        sighting = seen(rssi, now, uuid=APP if app else OTHER, minor=minor)
        for event in presence.expire(now) + presence.observe(sighting):
            who = event.data["shopper"]
            kind = event.type.rsplit(".", 1)[1]
            if kind == "entered":
                entered += 1
                present.add(who)
            else:
                assert who in present
                if kind == "exited":
                    present.discard(who)
        assert presence.stats().tracked <= TightEngine.MAX_TRACKS
    assert entered <= TightEngine.EVENT_BURST + TightEngine.EVENT_RATE * now
    for event in presence.expire(now + 1000):
        present.discard(event.data["shopper"])
    assert present == set()
