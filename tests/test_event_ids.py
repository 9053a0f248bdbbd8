"""UUIDv7 ids never go backwards: not with the clock set back, not across a restart."""

from __future__ import annotations

import itertools
import uuid
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from edge.events import EventDraft, EventSource
from edge.ids import UUIDv7Generator
from edge.outbox import OutboxStore

SOURCE = EventSource("paris-01", "kiosk-07")
DAY_MS = 86_400_000
NOW_MS = 1_760_000_000_000


def scan() -> EventDraft:
    return EventDraft("io.borne.product.scanned", {"gtin": "4006381333931"})


def ids_of(store: OutboxStore, count: int) -> list[uuid.UUID]:
    return [uuid.UUID(event.event_id) for event in store.append([scan() for _ in range(count)])]


def test_ids_made_after_a_restart_with_the_clock_a_day_back_sort_after_the_earlier_ones(
    tmp_path: Path,
) -> None:
    path = tmp_path / "outbox.sqlite"
    clock = [NOW_MS]
    store = OutboxStore(path, SOURCE, new_id=UUIDv7Generator(lambda: clock[0]))
    before = ids_of(store, 3) + ids_of(store, 2)
    store.close()

    clock[0] = NOW_MS - DAY_MS  # the wall clock went 24 h back while the kiosk was off
    store = OutboxStore(path, SOURCE, new_id=UUIDv7Generator(lambda: clock[0]))
    after = ids_of(store, 3)
    clock[0] += 5  # and time goes on from there
    after += ids_of(store, 2)
    store.close()

    assert min(after) > max(before)
    assert after == sorted(after)


def test_the_last_id_of_a_run_that_reached_a_high_counter_is_still_passed(tmp_path: Path) -> None:
    # Many ids within one millisecond: the next run, in that same millisecond, does not
    # know the counter reached; it moves to the next millisecond.
    path = tmp_path / "outbox.sqlite"
    store = OutboxStore(path, SOURCE, new_id=UUIDv7Generator(lambda: NOW_MS))
    before = ids_of(store, 50)
    store.close()

    store = OutboxStore(path, SOURCE, new_id=UUIDv7Generator(lambda: NOW_MS))
    after = ids_of(store, 1)
    store.close()

    assert after[0] > max(before)


def test_a_generator_resumed_after_a_timestamp_makes_later_ids() -> None:
    generate = UUIDv7Generator(lambda: NOW_MS - DAY_MS, last_ms=NOW_MS)

    first, second = generate(), generate()

    assert first.int >> 80 == NOW_MS + 1  # the counter of NOW_MS is unknown: skip it
    assert second > first
    assert generate.last_ms == NOW_MS + 1


@given(
    st.integers(min_value=0, max_value=NOW_MS),
    st.lists(st.integers(min_value=-DAY_MS, max_value=DAY_MS), min_size=1, max_size=300),
    st.integers(min_value=0, max_value=299),
)
def test_ids_strictly_increase_whatever_the_clock_does_across_a_restart(
    start: int, steps: list[int], restart_at: int
) -> None:
    readings = []
    now = start + DAY_MS
    for step in steps:
        now = max(0, now + step)
        readings.append(now)
    clock = iter(readings)
    generate = UUIDv7Generator(lambda: next(clock))
    made = []
    for index in range(len(readings)):
        if index == restart_at:  # a new run, seeded with what the outbox kept
            generate = UUIDv7Generator(lambda: next(clock), last_ms=generate.last_ms)
        made.append(generate())

    assert all(a < b for a, b in itertools.pairwise(made))
