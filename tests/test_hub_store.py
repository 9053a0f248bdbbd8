"""The hub's event store: every event once, each device's sequence followed.

Every scenario runs against both backends: SQLite in a temporary file, and a real
PostgreSQL started from Debian's packages (as `nobody` when the tests run as root).
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
import random
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.events import EventDraft, EventSource
from edge.hub.store import (
    SHED_REPORT_TYPE,
    EventStore,
    Gap,
    GapCount,
    GapState,
    HubStoreError,
    IncomingEvent,
    MalformedEventError,
    MalformedStateError,
    PostgresEventStore,
    RawEvent,
    SqliteEventStore,
    UnknownDeviceError,
    parse_event,
)
from edge.hub.store.ranges import Run, merged, repaint
from edge.ids import UUIDv7Generator
from tests.mosquitto import free_port
from tests.postgres import PostgresServer

BACKENDS = ["sqlite", "postgres"]
STORE = "paris-01"
T0 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


@dataclass
class Kiosk:
    """A device's events as its outbox would publish them: one id per sequence."""

    device_id: str
    store_id: str = STORE
    ids: UUIDv7Generator = field(default_factory=UUIDv7Generator)
    published: dict[int, bytes] = field(default_factory=dict)

    def event(self, sequence: int, event_type: str = "io.borne.product.scanned") -> bytes:
        """The event at `sequence` (the same bytes every time it is asked for)."""
        if sequence not in self.published:
            source = EventSource(self.store_id, self.device_id)
            draft = EventDraft(event_type, {"gtin": "03017620422003"})
            self.published[sequence] = source.envelope(
                draft, event_id=str(self.ids()), sequence=sequence, time=T0.timestamp()
            )
        return self.published[sequence]

    def events(self, *sequences: int) -> list[bytes]:
        """The events at these sequences, in this order."""
        return [self.event(sequence) for sequence in sequences]

    def shed_report(self, sequence: int, *ranges: tuple[int, int]) -> bytes:
        """An outbox.shed report at `sequence` naming `ranges`."""
        source = EventSource(self.store_id, self.device_id)
        named = sum(last - first + 1 for first, last in ranges)
        draft = EventDraft(
            SHED_REPORT_TYPE,
            {
                "count": named,
                "first_sequence": ranges[0][0],
                "last_sequence": ranges[-1][1],
                "ranges": [list(run) for run in ranges],
            },
        )
        self.published[sequence] = source.envelope(
            draft, event_id=str(self.ids()), sequence=sequence, time=T0.timestamp()
        )
        return self.published[sequence]


@dataclass
class Location:
    """Where a store lives: a SQLite file or a PostgreSQL database."""

    backend: str
    where: str

    def open(self) -> EventStore:
        """A new store object on this location (as a restarted hub would open it)."""
        if self.backend == "sqlite":
            return SqliteEventStore(self.where)
        return PostgresEventStore(self.where)

    def stored(self, device_id: str) -> list[int]:
        """The sequences stored for a device, one per stored row, read behind the store."""
        query = "SELECT sequence FROM events WHERE device_id = {} ORDER BY sequence"
        if self.backend == "sqlite":
            with sqlite3.connect(self.where) as db:
                rows = db.execute(query.format("?"), [device_id]).fetchall()
        else:
            with psycopg.connect(self.where) as db:
                rows = db.execute(query.format("%s"), [device_id]).fetchall()
        return [sequence for (sequence,) in rows]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL on loopback for the whole session, stopped by its pid."""
    server = PostgresServer()
    server.start()
    yield server
    server.stop()


def _location(backend: str, folder: Path, server: Callable[[], PostgresServer]) -> Location:
    if backend == "sqlite":
        return Location(backend, str(folder / "hub.db"))
    return Location(backend, server().new_database())


@pytest.fixture(params=BACKENDS)
def location(request: pytest.FixtureRequest, tmp_path: Path) -> Location:
    """A fresh, empty place for a store, on each backend."""
    return _location(request.param, tmp_path, lambda: request.getfixturevalue("postgres_server"))


@pytest.fixture
def store(location: Location) -> Iterator[EventStore]:
    """A store opened on a fresh location."""
    opened = location.open()
    yield opened
    opened.close()


@pytest.fixture(scope="module", params=BACKENDS)
def shared(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Location, EventStore]]:
    """One store per backend for the property tests (each example uses its own device)."""
    location = _location(
        request.param,
        tmp_path_factory.mktemp("hub"),
        lambda: request.getfixturevalue("postgres_server"),
    )
    opened = location.open()
    yield location, opened
    opened.close()


def test_in_order_events_leave_no_gap(store: EventStore, location: Location) -> None:
    kiosk = Kiosk("k1")
    result = store.ingest(kiosk.events(1, 2, 3))
    assert (result.stored, result.duplicates, result.refused) == (3, 0, ())
    store.ingest(kiosk.events(4, 5))
    status = store.device_status("k1")
    assert (status.store_id, status.last_contiguous, status.highest) == (STORE, 5, 5)
    assert (status.events_stored, status.duplicates_dropped) == (5, 0)
    assert status.open == status.shed == status.recovered == GapCount()
    assert store.gaps("k1") == []
    assert location.stored("k1") == [1, 2, 3, 4, 5]


def test_a_duplicate_is_counted_not_stored_twice(store: EventStore, location: Location) -> None:
    kiosk = Kiosk("k1")
    assert store.ingest(kiosk.events(1, 2, 2)).duplicates == 1  # twice in one batch
    result = store.ingest(kiosk.events(1, 2, 3))  # a redelivery after a reconnect
    assert (result.stored, result.duplicates) == (1, 2)
    status = store.device_status("k1")
    assert (status.events_stored, status.duplicates_dropped, status.last_contiguous) == (3, 3, 3)
    assert location.stored("k1") == [1, 2, 3]


def test_out_of_order_events_open_then_recover_a_gap(store: EventStore) -> None:
    kiosk = Kiosk("k1")
    store.ingest(kiosk.events(1, 4))
    assert store.open_gaps() == [Gap("k1", STORE, 2, 3, GapState.OPEN)]
    assert store.device_status("k1").last_contiguous == 1
    store.ingest(kiosk.events(3))
    assert store.gaps("k1") == [
        Gap("k1", STORE, 2, 2, GapState.OPEN),
        Gap("k1", STORE, 3, 3, GapState.RECOVERED),
    ]
    store.ingest(kiosk.events(2))
    assert store.gaps("k1") == [Gap("k1", STORE, 2, 3, GapState.RECOVERED)]
    status = store.device_status("k1")
    assert (status.last_contiguous, status.highest) == (4, 4)
    assert (status.open, status.recovered) == (GapCount(), GapCount(1, 2))
    assert store.open_gaps() == []


def test_one_batch_out_of_order_opens_no_gap(store: EventStore) -> None:
    store.ingest(Kiosk("k1").events(3, 1, 2))
    assert store.gaps("k1") == []
    assert store.device_status("k1").last_contiguous == 3


def test_a_gap_nobody_fills_stays_open(store: EventStore, location: Location) -> None:
    kiosk = Kiosk("k1")
    store.ingest(kiosk.events(1, 2, 6))
    store.ingest(kiosk.events(7, 8))
    assert store.open_gaps() == [Gap("k1", STORE, 3, 5, GapState.OPEN)]
    status = store.device_status("k1")
    assert (status.last_contiguous, status.highest, status.events_stored) == (2, 8, 5)
    assert status.open == GapCount(runs=1, sequences=3)
    store.close()
    reopened = location.open()
    try:
        assert reopened.open_gaps() == [Gap("k1", STORE, 3, 5, GapState.OPEN)]
    finally:
        reopened.close()


def test_a_device_first_heard_mid_stream_misses_the_start(store: EventStore) -> None:
    store.ingest(Kiosk("k1").events(4, 5))
    assert store.open_gaps() == [Gap("k1", STORE, 1, 3, GapState.OPEN)]


def test_a_shed_report_after_the_gap_marks_it_shed(store: EventStore) -> None:
    kiosk = Kiosk("k1")
    store.ingest(kiosk.events(1, 2, 6))  # 3..5 shed, report at 7
    assert store.open_gaps() == [Gap("k1", STORE, 3, 5, GapState.OPEN)]
    store.ingest([kiosk.shed_report(7, (3, 5))])
    assert store.open_gaps() == []
    assert store.gaps("k1") == [Gap("k1", STORE, 3, 5, GapState.SHED)]
    status = store.device_status("k1")
    assert (status.last_contiguous, status.shed) == (7, GapCount(1, 3))


def test_a_shed_report_before_the_gap_is_seen_marks_it_shed(store: EventStore) -> None:
    kiosk = Kiosk("k1")
    store.ingest(kiosk.events(1))
    # The report (at 6, naming 3..4) overtakes events 2 and 5 (another hub process,
    # a broker's redelivery): the gap it reveals is shed where it says, open elsewhere.
    store.ingest([kiosk.shed_report(6, (3, 4))])
    assert store.gaps("k1") == [
        Gap("k1", STORE, 2, 2, GapState.OPEN),
        Gap("k1", STORE, 3, 4, GapState.SHED),
        Gap("k1", STORE, 5, 5, GapState.OPEN),
    ]
    store.ingest(kiosk.events(5, 2))
    assert store.open_gaps() == []
    status = store.device_status("k1")
    assert (status.last_contiguous, status.shed, status.recovered) == (
        6,
        GapCount(1, 2),
        GapCount(2, 2),
    )


def test_a_report_naming_what_arrived_changes_nothing_of_it(store: EventStore) -> None:
    kiosk = Kiosk("k1")
    store.ingest(kiosk.events(1, 2, 3, 5))
    # The replacement report names earlier runs and a report that did go out (3).
    store.ingest([kiosk.shed_report(6, (2, 4))])
    assert store.gaps("k1") == [Gap("k1", STORE, 4, 4, GapState.SHED)]
    store.ingest(kiosk.events(4))  # a shed event that was on the wire after all
    assert store.gaps("k1") == [Gap("k1", STORE, 4, 4, GapState.RECOVERED)]
    assert store.device_status("k1").last_contiguous == 6


def test_a_shed_report_names_shed_runs_in_one_batch(store: EventStore) -> None:
    kiosk = Kiosk("k1")
    batch = [*kiosk.events(1, 3, 6), kiosk.shed_report(7, (2, 2), (4, 5))]
    assert store.ingest(batch).stored == 4
    assert store.gaps("k1") == [
        Gap("k1", STORE, 2, 2, GapState.SHED),
        Gap("k1", STORE, 4, 5, GapState.SHED),
    ]
    assert store.device_status("k1").last_contiguous == 7


def test_two_devices_are_followed_apart(store: EventStore) -> None:
    first, second = Kiosk("k1"), Kiosk("k2", store_id="lyon-02")
    store.ingest([*first.events(1, 2), *second.events(1, 3), *first.events(2)])
    assert [device.device_id for device in store.devices()] == ["k1", "k2"]
    one, two = store.devices()
    assert (one.store_id, one.last_contiguous, one.events_stored, one.duplicates_dropped) == (
        STORE,
        2,
        2,
        1,
    )
    assert (two.store_id, two.last_contiguous, two.highest) == ("lyon-02", 1, 3)
    assert store.open_gaps() == [Gap("k2", "lyon-02", 2, 2, GapState.OPEN)]


def test_figures_survive_a_restart(store: EventStore, location: Location) -> None:
    kiosk = Kiosk("k1")
    store.ingest(kiosk.events(1, 2, 5))
    store.set_device_state("k1", "online", 4, T0)
    before = store.device_status("k1")
    store.close()
    reopened = location.open()
    try:
        assert reopened.device_status("k1") == before
        result = reopened.ingest(kiosk.events(5, 3, 4, 6))
        assert (result.stored, result.duplicates) == (3, 1)
        status = reopened.device_status("k1")
        assert (status.last_contiguous, status.events_stored, status.state, status.boot) == (
            6,
            6,
            "online",
            4,
        )
    finally:
        reopened.close()
    assert location.stored("k1") == [1, 2, 3, 4, 5, 6]


def test_a_malformed_event_is_refused_and_the_rest_stored(
    store: EventStore, location: Location
) -> None:
    kiosk = Kiosk("k1")
    good = json.loads(kiosk.event(1))
    bad_id = {**json.loads(kiosk.event(2)), "id": "not-a-uuid"}
    v4_id = {**json.loads(kiosk.event(3)), "id": "2b1e9b52-3c3f-4d6a-9c5e-1f2a3b4c5d6e"}
    bad_sequence = {**json.loads(kiosk.event(4)), "sequence": "4"}
    result = store.ingest([good, bad_id, v4_id, bad_sequence, b"{", kiosk.event(5)])
    assert result.stored == 2
    assert [(refusal.index, refusal.error.field) for refusal in result.refused] == [
        (1, "id"),
        (2, "id"),
        (3, "sequence"),
        (4, "event"),
    ]
    assert "not a UUIDv7" in str(result.refused[1].error)
    assert location.stored("k1") == [1, 5]


def test_a_batch_of_only_malformed_events_stores_nothing(store: EventStore) -> None:
    result = store.ingest([b"[]", b"\xff"])
    assert result.stored == 0
    assert len(result.refused) == 2
    assert store.devices() == []


def test_the_latest_retained_state_stands(store: EventStore) -> None:
    store.set_device_state("k9", "online", 2, T0)
    store.set_device_state("k9", "offline", None, T0 + timedelta(seconds=5))
    # A hub process that lagged behind delivers the older `online` last.
    store.set_device_state("k9", "online", 2, T0)
    status = store.device_status("k9")
    # `offline` carries no boot: the device keeps the boot that state ended.
    assert (status.state, status.boot, status.state_at) == (
        "offline",
        2,
        T0 + timedelta(seconds=5),
    )
    assert (status.store_id, status.events_stored, status.highest) == (None, 0, 0)


def test_an_unknown_device_is_a_typed_error(store: EventStore) -> None:
    with pytest.raises(UnknownDeviceError, match="k404"):
        store.device_status("k404")


def test_database_failures_are_hub_store_errors(tmp_path: Path) -> None:
    with pytest.raises(HubStoreError, match="opening the event store"):
        SqliteEventStore(tmp_path / "missing" / "hub.db")
    with pytest.raises(HubStoreError, match="PostgreSQL"):
        PostgresEventStore(f"host=127.0.0.1 port={free_port()} user=borne connect_timeout=2")


def test_a_closed_store_says_so_with_its_own_error(location: Location) -> None:
    opened = location.open()
    opened.close()
    with pytest.raises(HubStoreError):
        opened.ingest(Kiosk("k1").events(1))


def test_a_device_state_that_breaks_the_contract_is_refused(store: EventStore) -> None:
    with pytest.raises(MalformedStateError, match="state"):
        store.set_device_state("k1", "sleeping", 1, T0)
    with pytest.raises(MalformedStateError, match="boot"):
        store.set_device_state("k1", "online", 0, T0)
    with pytest.raises(MalformedStateError, match="time zone"):
        store.set_device_state("k1", "online", 1, T0.replace(tzinfo=None))
    with pytest.raises(MalformedStateError, match="device"):
        store.set_device_state("k1/#", "online", 1, T0)
    assert store.devices() == []


def test_threads_may_share_one_store(store: EventStore, location: Location) -> None:
    kiosk = Kiosk("k1")
    halves = [kiosk.events(*range(1, 41)), kiosk.events(*range(30, 71))]
    start = threading.Barrier(2)

    def ingest(half: list[bytes]) -> None:
        start.wait()
        for index in range(0, len(half), 3):
            store.ingest(half[index : index + 3])

    threads = [threading.Thread(target=ingest, args=(half,)) for half in halves]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert location.stored("k1") == list(range(1, 71))
    assert store.device_status("k1").duplicates_dropped == 11


def test_postgres_reconnects_after_the_server_drops_it(postgres_server: PostgresServer) -> None:
    dsn = postgres_server.new_database()
    store = PostgresEventStore(dsn)
    kiosk = Kiosk("k1")
    try:
        store.ingest(kiosk.events(1))
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        with pytest.raises(HubStoreError) as dropped:
            store.ingest(kiosk.events(2))
        assert dropped.value.retryable
        assert store.ingest(kiosk.events(2, 3)).stored == 2  # the retry
        assert store.device_status("k1").last_contiguous == 3
    finally:
        store.close()
    assert Location("postgres", dsn).stored("k1") == [1, 2, 3]


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    count=st.integers(min_value=1, max_value=25),
    data=st.data(),
)
def test_any_delivery_order_ends_with_every_event_once_and_no_gap(
    shared: tuple[Location, EventStore], count: int, data: st.DataObject
) -> None:
    location, store = shared
    device = f"k-{uuid.uuid4().hex}"  # hypothesis seeds `random`: not unique
    kiosk = Kiosk(device)
    deliveries = data.draw(
        st.lists(st.integers(1, count), max_size=3 * count)
        .map(lambda extra: [*range(1, count + 1), *extra])
        .flatmap(st.permutations),
        label="deliveries",
    )
    cuts = sorted(data.draw(st.sets(st.integers(1, len(deliveries)), max_size=6), label="cuts"))
    for start, end in zip([0, *cuts], [*cuts, len(deliveries)], strict=True):
        if start < end:
            store.ingest(kiosk.events(*deliveries[start:end]))
    status = store.device_status(device)
    assert location.stored(device) == list(range(1, count + 1))
    assert (status.last_contiguous, status.highest, status.events_stored) == (count, count, count)
    assert status.duplicates_dropped == len(deliveries) - count
    assert status.open == GapCount()
    assert all(gap.state is GapState.RECOVERED for gap in store.gaps(device))


def _ingest_in_process(location: Location, payloads: list[bytes], start: Any) -> None:
    """A hub process: opens the store, waits for the other, ingests in small batches."""
    store = location.open()
    try:
        start.wait()
        for index in range(0, len(payloads), 4):
            store.ingest(payloads[index : index + 4])
    finally:
        store.close()


def test_two_processes_with_overlapping_halves_store_each_event_once(location: Location) -> None:
    kiosk = Kiosk("k1")
    shuffle = random.Random(9).shuffle
    first_half, second_half = kiosk.events(*range(1, 121)), kiosk.events(*range(80, 201))
    shuffle(first_half)
    shuffle(second_half)
    location.open().close()  # the schema exists before the race starts
    spawn = multiprocessing.get_context("spawn")
    start = spawn.Barrier(2)
    workers = [
        spawn.Process(target=_ingest_in_process, args=(location, half, start))
        for half in (first_half, second_half)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [worker.exitcode for worker in workers] == [0, 0]
    assert location.stored("k1") == list(range(1, 201))
    store = location.open()
    try:
        status = store.device_status("k1")
        assert (status.events_stored, status.duplicates_dropped) == (200, 41)
        assert (status.last_contiguous, status.highest, status.open) == (200, 200, GapCount())
    finally:
        store.close()


# The parser of outside input and the run arithmetic, on their own.

_VALID = json.loads(Kiosk("k1").event(7))


def _parsed(raw: RawEvent) -> IncomingEvent | MalformedEventError:
    """What the parser made of `raw`: an event, or the error it raised (any other escapes)."""
    try:
        return parse_event(raw)
    except MalformedEventError as error:
        return error


@given(st.binary(max_size=400))
def test_any_bytes_give_an_event_or_a_malformed_event_error(raw: bytes) -> None:
    outcome = _parsed(raw)
    assert isinstance(outcome, IncomingEvent) or outcome.field


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@given(st.sampled_from(sorted(_VALID)), _JSON)
def test_a_mutated_event_is_parsed_or_refused_by_field(name: str, value: Any) -> None:
    event = {**_VALID, name: value}
    outcome = _parsed(json.dumps(event).encode())
    if isinstance(outcome, MalformedEventError):
        assert outcome.field in {"specversion", "source", "type", "id", "sequence", "time", "event"}
    else:
        assert outcome.json.encode()
        assert outcome.sequence >= 1
        assert outcome.time.tzinfo is not None


@given(
    st.lists(
        st.one_of(st.tuples(st.integers(-3, 40), st.integers(-3, 40)).map(list), _JSON),
        max_size=4,
    )
)
def test_a_shed_report_names_runs_before_itself_or_is_refused(ranges: list[Any]) -> None:
    event = {**_VALID, "type": SHED_REPORT_TYPE, "data": {"ranges": ranges}}
    outcome = _parsed(event)
    if isinstance(outcome, MalformedEventError):
        assert outcome.field == "data.ranges"
    else:
        assert outcome.shed
        assert all(1 <= low <= high < 7 for low, high in outcome.shed)


def test_a_valid_event_is_parsed_whole() -> None:
    parsed = parse_event(Kiosk("k1", store_id="lille-03").event(7))
    assert (parsed.store_id, parsed.device_id, parsed.sequence) == ("lille-03", "k1", 7)
    assert parsed.source == "/stores/lille-03/devices/k1"
    assert parsed.time == T0
    assert json.loads(parsed.json)["data"] == {"gtin": "03017620422003"}


_STATES = st.sampled_from(list(GapState))


@given(
    st.lists(st.tuples(st.integers(1, 30), st.integers(0, 4), _STATES), max_size=6),
    st.integers(1, 30),
    st.integers(0, 6),
    _STATES,
    st.sets(_STATES, min_size=1),
)
def test_repaint_keeps_what_is_covered_and_merges_touching_runs(
    spans: list[tuple[int, int, GapState]],
    first: int,
    width: int,
    state: GapState,
    over: set[GapState],
) -> None:
    covered: dict[int, GapState] = {}
    for low, extra, run_state in spans:
        for sequence in range(low, low + extra + 1):
            covered.setdefault(sequence, run_state)
    runs = merged(Run(sequence, sequence, run_state) for sequence, run_state in covered.items())
    painted = repaint(runs, first, first + width, state, frozenset(over))
    expected = {
        sequence: state if first <= sequence <= first + width and old in over else old
        for sequence, old in covered.items()
    }
    assert {
        sequence: run.state for run in painted for sequence in range(run.first, run.last + 1)
    } == expected
    assert all(
        left.last + 1 < right.first or left.state != right.state
        for left, right in itertools.pairwise(painted)
    )


# Asking devices again for what never arrived: claims and expiry.


def _online(store: EventStore, device_id: str) -> None:
    store.set_device_state(device_id, "online", 1, T0)


def test_a_gap_the_device_no_longer_keeps_expires_and_stops_holding_the_stream(
    store: EventStore,
) -> None:
    kiosk = Kiosk("k1")
    store.ingest(kiosk.events(1, 2, 6, 7))

    store.expire("k1", [(3, 4)])

    assert store.gaps("k1") == [
        Gap("k1", STORE, 3, 4, GapState.EXPIRED),
        Gap("k1", STORE, 5, 5, GapState.OPEN),
    ]
    status = store.device_status("k1")
    assert (status.last_contiguous, status.expired, status.open) == (
        4,
        GapCount(1, 2),
        GapCount(1, 1),
    )
    store.expire("k1", [(5, 5)])
    assert store.device_status("k1").last_contiguous == 7
    store.ingest(kiosk.events(4))  # it came after all (a slow broker): recovered
    assert Gap("k1", STORE, 4, 4, GapState.RECOVERED) in store.gaps("k1")


def test_expiring_touches_only_what_is_still_open(store: EventStore) -> None:
    kiosk = Kiosk("k1")
    store.ingest(kiosk.events(1, 5))
    store.ingest(kiosk.events(3))

    store.expire("k1", [(1, 10)])

    assert store.gaps("k1") == [
        Gap("k1", STORE, 2, 2, GapState.EXPIRED),
        Gap("k1", STORE, 3, 3, GapState.RECOVERED),
        Gap("k1", STORE, 4, 4, GapState.EXPIRED),
    ]


def test_an_ask_is_due_after_ask_after_and_repeated_only_after_ask_every(
    store: EventStore,
) -> None:
    kiosk = Kiosk("k1")
    store.ingest(kiosk.events(1, 4, 8))
    _online(store, "k1")
    ask = {"ask_after": 30.0, "ask_every": 300.0}

    assert store.claim_asks("hub-a", 1000.0, **ask) == [], "just noticed: events may be late"
    assert store.claim_asks("hub-a", 1029.0, **ask) == []
    (claimed,) = store.claim_asks("hub-a", 1030.0, **ask)
    assert (claimed.device_id, claimed.store_id, claimed.ranges) == ("k1", STORE, ((2, 3), (5, 7)))
    assert store.claim_asks("hub-b", 1100.0, **ask) == [], "asked already: not twice at once"
    (again,) = store.claim_asks("hub-b", 1330.0, **ask)
    assert again.ranges == ((2, 3), (5, 7))


def test_only_online_devices_with_open_gaps_are_asked(store: EventStore) -> None:
    store.ingest(Kiosk("k1").events(1, 3))
    store.ingest(Kiosk("k2").events(1, 3))
    store.ingest(Kiosk("k3").events(1, 2))
    _online(store, "k1")
    _online(store, "k3")
    store.set_device_state("k2", "offline", None, T0)
    ask = {"ask_after": 1.0, "ask_every": 10.0}
    store.claim_asks("hub-a", 0.0, **ask)

    claimed = store.claim_asks("hub-a", 5.0, **ask)

    assert [c.device_id for c in claimed] == ["k1"]


def test_a_gap_filled_then_opened_again_waits_ask_after_afresh(store: EventStore) -> None:
    kiosk = Kiosk("k1")
    store.ingest(kiosk.events(1, 3))
    _online(store, "k1")
    ask = {"ask_after": 10.0, "ask_every": 100.0}
    store.claim_asks("hub-a", 0.0, **ask)
    store.ingest(kiosk.events(2))
    assert store.claim_asks("hub-a", 50.0, **ask) == []

    store.ingest(kiosk.events(5))

    assert store.claim_asks("hub-a", 55.0, **ask) == []
    assert [c.ranges for c in store.claim_asks("hub-a", 65.0, **ask)] == [((4, 4),)]


def test_one_ask_names_a_bounded_part_of_a_long_gap(store: EventStore) -> None:
    store.ingest(Kiosk("k1").events(5000))
    _online(store, "k1")
    store.claim_asks("hub-a", 0.0, ask_after=1.0, ask_every=1.0)

    (claimed,) = store.claim_asks("hub-a", 2.0, ask_after=1.0, ask_every=1.0)

    assert claimed.ranges == ((1, 1000),)


def test_hub_processes_racing_for_asks_claim_each_device_once(location: Location) -> None:
    stores = [location.open() for _ in range(4)]
    try:
        for device in ("k1", "k2", "k3"):
            stores[0].ingest(Kiosk(device).events(2))
            _online(stores[0], device)
        stores[0].claim_asks("hub-0", 0.0, ask_after=1.0, ask_every=60.0)
        claims: list[list[str]] = [[] for _ in stores]
        start = threading.Barrier(len(stores))

        def race(index: int) -> None:
            start.wait()
            found = stores[index].claim_asks(f"hub-{index}", 10.0, ask_after=1.0, ask_every=60.0)
            claims[index] = [claim.device_id for claim in found]

        threads = [threading.Thread(target=race, args=(i,)) for i in range(len(stores))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sorted(itertools.chain(*claims)) == ["k1", "k2", "k3"]
    finally:
        for opened in stores:
            opened.close()


def test_a_store_made_before_gaps_could_expire_accepts_them(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE gaps (device_id TEXT NOT NULL, first_sequence INTEGER NOT NULL,"
        " last_sequence INTEGER NOT NULL,"
        " state TEXT NOT NULL CHECK (state IN ('open', 'shed', 'recovered')),"
        " PRIMARY KEY (device_id, first_sequence))"
    )
    old.commit()
    old.close()
    store = SqliteEventStore(path)
    try:
        store.ingest(Kiosk("k1").events(1, 3))
        store.expire("k1", [(2, 2)])
        assert store.gaps("k1") == [Gap("k1", STORE, 2, 2, GapState.EXPIRED)]
    finally:
        store.close()
