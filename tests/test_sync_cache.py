"""The kiosk's copy of the streams: applied whole and in order, persisted, and aged."""

from __future__ import annotations

import json
import random
import sqlite3
import tempfile
import threading
from collections import deque
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.sync.cache import SNAPSHOT_PATIENCE, Handled, StreamCache, SyncError
from edge.sync.cursor import Apply, Position, Resync, Skip, SnapshotAssembly
from edge.sync.messages import Change, ChangeSet, Problem, SnapshotPage, Stream
from edge.sync.status import (
    DownlinkCounters,
    DownlinkState,
    SyncStatusError,
    read_sync_status,
)

STORE = "paris-01"
EPOCH = "2026-11-30.1"


def stock(version: int, *changes: Change, epoch: str = EPOCH) -> ChangeSet:
    return ChangeSet(Stream.STOCK, epoch, version, changes)


def put(key: str, here: int) -> Change:
    return Change(key, {"here": here})


def page(version: int, number: int, pages: int, *items: Change) -> SnapshotPage:
    return SnapshotPage(Stream.STOCK, EPOCH, version, number, pages, items)


def payload(message: ChangeSet | SnapshotPage, store: str = STORE) -> bytes:
    """The message as the hub would publish it."""

    def listed(changes: tuple[Change, ...]) -> list[dict[str, Any]]:
        return [
            {"key": c.key} if c.value is None else {"key": c.key, "value": c.value} for c in changes
        ]

    document: dict[str, Any] = {
        "store": store,
        "stream": message.stream.value,
        "epoch": message.epoch,
        "version": message.version,
    }
    if isinstance(message, ChangeSet):
        document["changes"] = listed(message.changes)
    else:
        document |= {"page": message.page, "pages": message.pages}
        document["items"] = listed(message.items)
    return json.dumps(document).encode()


def fresh(tmp_path: Path) -> Path:
    """A path of its own for each example of a hypothesis test (they share tmp_path)."""
    return Path(tempfile.mkdtemp(dir=tmp_path)) / "streams.db"


def started(path: Path, version: int = 1, **items: int) -> StreamCache:
    """A cache holding a snapshot of the stock stream at `version`."""
    cache = StreamCache(path)
    changes = tuple(put(key, here) for key, here in items.items())
    assert cache.handle(payload(page(version, 1, 1, *changes)), STORE, 100.0).handled == (
        Handled.APPLIED
    )
    return cache


def test_changes_in_order_are_applied_and_survive_reopening(tmp_path: Path) -> None:
    cache = started(tmp_path / "streams.db", a=1, b=2)
    assert isinstance(cache.apply(stock(2, put("a", 5), Change("b", None)), 110.0), Apply)
    assert isinstance(cache.apply(stock(3, put("c", 9)), 120.0), Apply)
    cache.close()

    reopened = StreamCache(tmp_path / "streams.db")
    assert reopened.position(Stream.STOCK) == Position(Stream.STOCK, EPOCH, 3)
    assert reopened.items(Stream.STOCK) == {"a": {"here": 5}, "c": {"here": 9}}
    assert reopened.item(Stream.STOCK, "c") == {"here": 9}
    assert reopened.item(Stream.STOCK, "b") is None
    assert reopened.item(Stream.CATALOG, "a") is None  # streams do not share keys
    assert reopened.age(Stream.STOCK, now=150.0) == 30.0


def test_a_redelivered_change_set_is_skipped(tmp_path: Path) -> None:
    cache = started(tmp_path / "streams.db", a=1)
    assert cache.handle(payload(stock(2, put("a", 2))), STORE, 101.0).handled == Handled.APPLIED
    again = cache.handle(payload(stock(2, put("a", 99))), STORE, 102.0)
    assert again.handled == Handled.SKIPPED
    assert isinstance(cache.apply(stock(1, put("a", 98)), 103.0), Skip)
    assert cache.item(Stream.STOCK, "a") == {"here": 2}
    assert cache.age(Stream.STOCK, now=111.0) == 10.0  # a redelivery brings nothing new
    assert (cache.counters.applied, cache.counters.skipped) == (2, 1)


def test_a_gap_asks_a_resync_from_the_position_held_and_changes_nothing(
    tmp_path: Path,
) -> None:
    cache = started(tmp_path / "streams.db", a=1)
    outcome = cache.handle(payload(stock(4, put("a", 4))), STORE, 101.0)
    assert outcome.handled == Handled.RESYNC
    assert outcome.resync is not None
    assert outcome.resync.since == Position(Stream.STOCK, EPOCH, 1)
    assert "2..3" in outcome.resync.reason
    assert cache.items(Stream.STOCK) == {"a": {"here": 1}}
    assert cache.position(Stream.STOCK).version == 1
    assert cache.counters.resyncs_asked == 1


def test_a_renumbering_or_an_empty_cache_asks_a_snapshot(tmp_path: Path) -> None:
    cache = StreamCache(tmp_path / "streams.db")
    empty = cache.handle(payload(stock(1, put("a", 1))), STORE, 100.0)
    assert empty.resync == Resync(Position(Stream.STOCK), "nothing held yet")
    cache.close()
    cache = started(tmp_path / "streams.db", a=1)
    renumbered = cache.handle(payload(stock(2, put("a", 2), epoch="2026-12-01.1")), STORE, 101.0)
    assert renumbered.resync is not None
    assert "renumbered" in renumbered.resync.reason
    assert cache.item(Stream.STOCK, "a") == {"here": 1}


def test_a_failure_mid_way_through_a_change_set_changes_nothing(tmp_path: Path) -> None:
    cache = started(tmp_path / "streams.db", a=1, b=2)
    # The second change fails inside SQLite, after the first has been written.
    saboteur = sqlite3.connect(tmp_path / "streams.db")
    saboteur.execute(
        "CREATE TRIGGER disk_trouble BEFORE INSERT ON items WHEN NEW.key = 'boom'"
        " BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END"
    )
    saboteur.commit()
    saboteur.close()

    with pytest.raises(SyncError, match="disk I/O error"):
        cache.apply(stock(2, put("a", 7), Change("b", None), put("boom", 1)), 110.0)
    assert cache.items(Stream.STOCK) == {"a": {"here": 1}, "b": {"here": 2}}
    assert cache.position(Stream.STOCK).version == 1
    assert cache.age(Stream.STOCK, now=110.0) == 10.0
    assert isinstance(cache.apply(stock(2, put("a", 7)), 111.0), Apply)  # nothing stuck


def test_a_snapshot_in_pages_out_of_order_replaces_the_stream_then_held_changes_follow(
    tmp_path: Path,
) -> None:
    cache = started(tmp_path / "streams.db", old=1)
    pages: list[ChangeSet | SnapshotPage] = [
        page(10, 3, 3, put("e", 5)),
        page(10, 1, 3, put("a", 1), put("b", 2)),
        stock(11, put("a", 11)),  # during the snapshot: held
        stock(14, put("z", 14)),  # does not follow on (13 never came): dropped
        stock(12, Change("b", None)),
        stock(9, put("a", 9)),  # older than the snapshot: dropped
        page(10, 2, 3, put("c", 3)),
    ]
    outcomes = [cache.handle(payload(message), STORE, 200.0) for message in pages]
    assert [outcome.handled for outcome in outcomes] == [Handled.HELD] * 6 + [Handled.RESYNC]
    assert outcomes[-1].resync == Resync(  # 13 is asked for, 14 with it
        Position(Stream.STOCK, EPOCH, 12), "change sets after the snapshot are missing"
    )
    assert cache.items(Stream.STOCK) == {"a": {"here": 11}, "c": {"here": 3}, "e": {"here": 5}}
    assert cache.position(Stream.STOCK) == Position(Stream.STOCK, EPOCH, 12)
    assert cache.age(Stream.STOCK, now=201.0) == 1.0
    late = cache.handle(payload(page(10, 2, 3, put("c", 3))), STORE, 202.0)
    assert late.handled == Handled.SKIPPED  # a snapshot already applied is not reopened


def test_a_snapshot_cut_short_by_a_restart_shows_nothing_of_it_and_can_come_again(
    tmp_path: Path,
) -> None:
    path = tmp_path / "streams.db"
    cache = started(path, version=3, a=1)
    assert cache.handle(payload(page(9, 1, 2, put("b", 2))), STORE, 200.0).handled == (Handled.HELD)
    assert cache.items(Stream.STOCK) == {"a": {"here": 1}}  # staged, not shown
    cache.close()

    cache = StreamCache(path)  # the kiosk restarted: the snapshot must be asked again
    assert cache.items(Stream.STOCK) == {"a": {"here": 1}}
    assert cache.handle(payload(page(9, 2, 2, put("c", 3))), STORE, 300.0).handled == (Handled.HELD)
    again = [page(9, 2, 2, put("c", 3)), page(9, 1, 2, put("b", 2))]
    outcomes = [cache.handle(payload(message), STORE, 301.0).handled for message in again]
    assert outcomes == [Handled.HELD, Handled.APPLIED]  # page 2 again, then page 1: whole
    assert cache.items(Stream.STOCK) == {"b": {"here": 2}, "c": {"here": 3}}
    assert cache.position(Stream.STOCK) == Position(Stream.STOCK, EPOCH, 9)


def test_replace_refuses_an_incomplete_snapshot(tmp_path: Path) -> None:
    cache = StreamCache(tmp_path / "streams.db")
    assembly = SnapshotAssembly(Stream.STOCK)
    assembly.add_page(page(3, 1, 2, put("a", 1)))
    with pytest.raises(ValueError, match="not complete"):
        cache.replace(assembly, 1.0)
    assembly.add_page(page(3, 2, 2, put("b", 2)))
    assembly.hold(stock(4, put("b", 4)))
    decisions = cache.replace(assembly, 2.0)
    assert [type(decision) for decision in decisions] == [Apply]
    assert cache.items(Stream.STOCK) == {"a": {"here": 1}, "b": {"here": 4}}


def test_a_snapshot_whose_pages_stop_coming_is_asked_again(tmp_path: Path) -> None:
    cache = StreamCache(tmp_path / "streams.db")
    assert cache.handle(payload(page(5, 1, 2)), STORE, 100.0).handled == Handled.HELD
    soon = cache.handle(payload(stock(6)), STORE, 100.0 + SNAPSHOT_PATIENCE)
    assert soon.handled == Handled.HELD
    late = cache.handle(payload(stock(7)), STORE, 101.0 + SNAPSHOT_PATIENCE)
    assert late.resync == Resync(Position(Stream.STOCK), "a snapshot's pages stopped coming")
    assert cache.handle(payload(page(5, 2, 2)), STORE, 102.0 + SNAPSHOT_PATIENCE).handled == (
        Handled.HELD  # the page starts a new assembly: page 1 is asked again with it
    )


def test_the_patience_for_a_snapshot_counts_from_its_latest_page(tmp_path: Path) -> None:
    cache = StreamCache(tmp_path / "streams.db")
    cache.handle(payload(page(5, 1, 3)), STORE, 100.0)
    cache.handle(payload(page(5, 2, 3)), STORE, 100.0 + SNAPSHOT_PATIENCE)
    still = cache.handle(payload(stock(6)), STORE, 101.0 + SNAPSHOT_PATIENCE)
    assert still.handled == Handled.HELD
    assert cache.handle(payload(page(5, 3, 3)), STORE, 102.0 + SNAPSHOT_PATIENCE).handled == (
        Handled.APPLIED
    )
    assert cache.position(Stream.STOCK).version == 6


def test_threads_share_one_cache(tmp_path: Path) -> None:
    cache = started(tmp_path / "streams.db", a=0)
    messages = [payload(stock(version, put("a", version))) for version in range(2, 202)]
    seen: list[dict[str, Any] | None] = []

    def read() -> None:
        for _ in range(200):
            seen.append(cache.item(Stream.STOCK, "a"))

    reader = threading.Thread(target=read)
    reader.start()
    outcomes = [cache.handle(message, STORE, 101.0) for message in messages]
    reader.join()
    assert {outcome.handled for outcome in outcomes} == {Handled.APPLIED}
    assert cache.item(Stream.STOCK, "a") == {"here": 201}
    values = [item["here"] for item in seen if item is not None]
    assert len(values) == 200
    assert values == sorted(values)  # each read sees some whole version, never going back


def test_too_many_changes_during_a_snapshot_ask_a_resync_after_it(tmp_path: Path) -> None:
    cache = StreamCache(tmp_path / "streams.db")
    cache.handle(payload(page(1, 1, 2)), STORE, 1.0)
    for version in range(2, SnapshotAssembly.MAX_HELD + 3):
        cache.handle(payload(stock(version, put("a", version))), STORE, 1.0)
    outcome = cache.handle(payload(page(1, 2, 2)), STORE, 2.0)
    assert outcome.handled == Handled.RESYNC
    assert outcome.resync is not None
    assert outcome.resync.since == Position(Stream.STOCK, EPOCH, SnapshotAssembly.MAX_HELD + 1)


def test_ages_and_status_per_stream(tmp_path: Path) -> None:
    cache = started(tmp_path / "streams.db", version=41, a=1, b=2)
    assert cache.age(Stream.STOCK, now=100.0) == 0.0
    assert cache.age(Stream.STOCK, now=730.0) == 630.0
    assert cache.age(Stream.REVIEWS, now=730.0) is None  # never synced: no age to show
    cache.apply(stock(42, put("c", 3)), 700.0)
    assert cache.age(Stream.STOCK, now=730.0) == 30.0
    status = {entry.stream: entry for entry in cache.status()}
    assert set(status) == set(Stream)
    assert (status[Stream.STOCK].epoch, status[Stream.STOCK].version) == (EPOCH, 42)
    assert (status[Stream.STOCK].count, status[Stream.STOCK].synced_at) == (3, 700.0)
    assert (status[Stream.CATALOG].version, status[Stream.CATALOG].count) == (0, 0)
    assert status[Stream.CATALOG].synced_at is None


def test_a_confirmation_restarts_the_age_of_what_is_held_and_never_turns_it_back(
    tmp_path: Path,
) -> None:
    cache = started(tmp_path / "streams.db", a=1)
    assert cache.confirm(Stream.STOCK, 500.0)
    assert cache.age(Stream.STOCK, now=530.0) == 30.0
    assert cache.confirm(Stream.STOCK, 200.0)  # a late confirmation does not age it back
    assert cache.age(Stream.STOCK, now=530.0) == 30.0
    assert not cache.confirm(Stream.REVIEWS, 500.0)  # nothing held: nothing to confirm
    assert cache.age(Stream.REVIEWS, now=530.0) is None


def test_the_platform_answering_the_version_held_confirms_it_a_redelivery_does_not(
    tmp_path: Path,
) -> None:
    cache = started(tmp_path / "streams.db", version=5, a=1)
    live = cache.handle(payload(stock(5, put("a", 1))), STORE, 300.0)
    assert (live.handled, live.current, live.changed) == (Handled.SKIPPED, True, False)
    assert cache.age(Stream.STOCK, now=400.0) == 300.0  # a broker's redelivery says nothing

    answer = cache.handle(payload(stock(5, put("a", 1))), STORE, 350.0, answer=True)
    assert (answer.handled, answer.current, answer.changed) == (Handled.SKIPPED, True, False)
    assert cache.age(Stream.STOCK, now=400.0) == 50.0

    applied = cache.handle(payload(stock(6, put("a", 2))), STORE, 390.0)
    assert (applied.handled, applied.stream, applied.changed) == (
        Handled.APPLIED,
        Stream.STOCK,
        True,
    )


def test_a_stream_not_followed_or_on_another_stream_s_topic_is_refused_whole(
    tmp_path: Path,
) -> None:
    cache = started(tmp_path / "streams.db", version=5, a=1)
    message = payload(stock(6, put("a", 2)))
    unfollowed = cache.handle(message, STORE, 300.0, follows=(Stream.CATALOG,))
    misplaced = cache.handle(message, STORE, 300.0, topic_stream=Stream.REVIEWS)
    assert (unfollowed.handled, unfollowed.refusal) == (Handled.REFUSED, Problem.UNKNOWN_STREAM)
    assert (misplaced.handled, misplaced.refusal) == (Handled.REFUSED, Problem.WRONG_TOPIC)
    assert cache.item(Stream.STOCK, "a") == {"here": 1}
    assert cache.position(Stream.STOCK).version == 5


def test_another_process_reads_the_streams_and_the_link_read_only(tmp_path: Path) -> None:
    path = tmp_path / "streams.db"
    cache = started(path, version=3, a=1, b=2)
    never_run = read_sync_status(path)
    assert never_run.link == DownlinkState()  # no downlink has written its state yet
    stock_status = never_run.streams[list(Stream).index(Stream.STOCK)]
    assert (stock_status.version, stock_status.count, stock_status.age(130.0)) == (3, 2, 30.0)

    counters = DownlinkCounters(received=7, applied=2, refused=1)
    state = DownlinkState(True, 90.0, (Stream.STOCK,), counters, "refused a message: malformed")
    cache.record_downlink(state, 120.0)
    # The kiosk is in the middle of a write while the status is read: it does not wait.
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        read = read_sync_status(path)
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert read.link == DownlinkState(
        True, 90.0, (Stream.STOCK,), counters, "refused a message: malformed", 120.0
    )
    cache.close()
    before = path.read_bytes()
    read_sync_status(path)
    assert path.read_bytes() == before


def test_a_status_of_no_cache_or_of_a_damaged_state_is_a_sync_status_error(
    tmp_path: Path,
) -> None:
    with pytest.raises(SyncStatusError, match="no stream cache"):
        read_sync_status(tmp_path / "missing.db")
    assert not (tmp_path / "missing.db").exists()
    cache = started(tmp_path / "streams.db", a=1)
    cache.record_downlink(DownlinkState(), 1.0)
    cache.close()
    damaged = sqlite3.connect(tmp_path / "streams.db")
    damaged.execute("UPDATE downlink_state SET pending = 'not json'")
    damaged.commit()
    damaged.close()
    with pytest.raises(SyncStatusError, match="unreadable"):
        read_sync_status(tmp_path / "streams.db")


def test_a_file_that_is_not_a_cache_is_a_sync_error(tmp_path: Path) -> None:
    path = tmp_path / "streams.db"
    path.write_bytes(b"this is not a database, " * 100)
    with pytest.raises(SyncError, match="open failed"):
        StreamCache(path)


def test_a_damaged_item_is_a_sync_error(tmp_path: Path) -> None:
    cache = started(tmp_path / "streams.db", a=1)
    damage = sqlite3.connect(tmp_path / "streams.db")
    damage.execute("UPDATE items SET value = '{not json'")
    damage.commit()
    damage.close()
    with pytest.raises(SyncError, match="damaged"):
        cache.item(Stream.STOCK, "a")


HOSTILE = [
    b"",
    b"\x00\xff",
    b"null",
    b'{"store": "paris-01"}',
    json.dumps({"store": "lyon-02", "stream": "stock", "epoch": EPOCH, "version": 2}).encode(),
    payload(stock(2, put("a", 2)), store="lyon-02"),
    payload(stock(2, put("a", 2))).replace(b'"here"', b'"here" 2'),
    b"[" * 100_000,
    payload(stock(2, put("a", 2))).replace(
        b'{"here": 2}', b'{"x": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    ),
]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_a_hostile_payload_is_only_counted_as_refused(tmp_path: Path, hostile: bytes) -> None:
    cache = started(tmp_path / "streams.db", a=1)
    outcome = cache.handle(hostile, STORE, 101.0)
    assert (outcome.handled, outcome.resync) == (Handled.REFUSED, None)
    assert outcome.problem
    assert cache.counters.refused == 1
    assert cache.items(Stream.STOCK) == {"a": {"here": 1}}


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=400) | st.text(max_size=200).map(str.encode))
def test_any_bytes_leave_the_cache_as_it_was(tmp_path: Path, hostile: bytes) -> None:
    cache = started(fresh(tmp_path), a=1)
    try:
        outcome = cache.handle(hostile, STORE, 101.0)
        assert outcome.handled == Handled.REFUSED
        assert cache.items(Stream.STOCK) == {"a": {"here": 1}}
        assert cache.position(Stream.STOCK) == Position(Stream.STOCK, EPOCH, 1)
    finally:
        cache.close()


KEYS = ("a", "b", "c", "d")
change_sets = st.lists(
    st.lists(
        st.tuples(st.sampled_from(KEYS), st.none() | st.integers(0, 9)), min_size=1, max_size=3
    ),
    min_size=1,
    max_size=12,
)


class Platform:
    """The hub's side for the property test: every change set 1..N, published once, and
    answers to resyncs (changes since a version, or a snapshot when nothing is held)."""

    def __init__(self, sets: list[list[tuple[str, int | None]]]) -> None:
        self.published = [
            stock(
                version,
                *(Change(key, None if here is None else {"here": here}) for key, here in changes),
            )
            for version, changes in enumerate(sets, start=1)
        ]

    def state(self, version: int) -> dict[str, dict[str, Any]]:
        items: dict[str, dict[str, Any]] = {}
        for changes in self.published[:version]:
            for change in changes.changes:
                if change.value is None:
                    items.pop(change.key, None)
                else:
                    items[change.key] = change.value
        return items

    def answer(self, resync: Resync, latest: int) -> list[bytes]:
        """What the platform sends back, `latest` being its newest version then."""
        if resync.since.epoch:
            missing = self.published[resync.since.version : latest]
            return [payload(changes) for changes in missing]
        items = sorted(self.state(latest).items())
        pages = 1 + latest % 3  # the hub cuts a version's snapshot the same way each time
        cut = [items[number::pages] for number in range(pages)]
        return [
            payload(page(latest, number, pages, *(Change(k, v) for k, v in cut[number - 1])))
            for number in range(1, pages + 1)
        ]


@settings(max_examples=120, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    sets=change_sets,
    order=st.data(),
    mixer=st.randoms(use_true_random=False),
)
def test_any_delivery_order_ends_as_applying_every_change_in_order(
    tmp_path: Path,
    sets: list[list[tuple[str, int | None]]],
    order: st.DataObject,
    mixer: random.Random,
) -> None:
    platform = Platform(sets)
    last = len(platform.published)
    # The broker's deliveries: any versions, shuffled, duplicated, some never; the last
    # one eventually comes (the next change would reveal the gap otherwise).
    versions = [*order.draw(st.lists(st.integers(1, last), max_size=3 * last)), last]
    queue = deque((version, payload(platform.published[version - 1])) for version in versions)
    cache = StreamCache(fresh(tmp_path))
    try:
        now, newest = 0.0, 0  # newest: the platform's newest version, as far as seen
        while queue:
            version, message = queue.popleft()
            newest = max(newest, version)
            now += 0.1
            outcome = cache.handle(message, STORE, now)
            assert outcome.handled != Handled.REFUSED
            if outcome.resync is not None:
                # The answer comes later, mixed in with what the broker still delivers.
                for answer in platform.answer(outcome.resync, newest):
                    queue.insert(mixer.randint(0, len(queue)), (newest, answer))
        assert cache.position(Stream.STOCK) == Position(Stream.STOCK, EPOCH, last)
        assert cache.items(Stream.STOCK) == platform.state(last)
    finally:
        cache.close()
