"""The hub follows each device's sequence per stream epoch, and notices twin kiosks.

A kiosk's outbox starts a new epoch (sequences from 1 again) when its database is new,
lost or replaced; a second kiosk left on the same device id publishes its own epoch.
Every store scenario runs on SQLite and on a real PostgreSQL; the last one runs
`borne hub serve` against a real mosquitto.
"""

from __future__ import annotations

import json
import logging
import secrets
import signal
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from edge.events import EventDraft, EventSource
from edge.hub.store import (
    EventStore,
    Gap,
    GapState,
    MalformedEventError,
    PostgresEventStore,
    SqliteEventStore,
    parse_event,
)
from edge.ids import UUIDv7Generator
from tests.conftest import borne
from tests.mosquitto import Broker
from tests.postgres import PostgresServer
from tests.test_hub_service import hub_config, start_hub, status, wait_subscribed

STORE = "paris-01"
T0 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
EPOCH_EVENT = "io.borne.outbox.epoch"


def new_epoch() -> str:
    """A stream epoch as a kiosk's outbox makes one."""
    return secrets.token_hex(16)


@dataclass
class Stream:
    """One kiosk outbox's stream epoch: its events as the outbox would publish them."""

    device_id: str
    epoch: str = field(default_factory=new_epoch)
    ids: UUIDv7Generator = field(default_factory=UUIDv7Generator)
    published: dict[int, bytes] = field(default_factory=dict)

    def event(
        self,
        sequence: int,
        *,
        event_id: str | None = None,
        event_type: str = "io.borne.product.scanned",
        data: dict[str, Any] | None = None,
    ) -> bytes:
        """The event at `sequence` (the same bytes each time), under `event_id` if given."""
        if sequence not in self.published:
            draft = EventDraft(event_type, data or {"gtin": "03017620422003"})
            envelope = EventSource(STORE, self.device_id).envelope(
                draft,
                event_id=event_id or str(self.ids()),
                sequence=sequence,
                time=T0.timestamp(),
            )
            # The kiosk's envelope carries its epoch (contract: extension `streamepoch`).
            self.published[sequence] = with_epoch(envelope, self.epoch)
        return self.published[sequence]

    def events(self, *sequences: int) -> list[bytes]:
        """The events at these sequences, in this order."""
        return [self.event(sequence) for sequence in sequences]

    def epoch_event(self, previous: str | None, reason: str) -> bytes:
        """The epoch's first event, naming the epoch it replaced."""
        return self.event(
            1, event_type=EPOCH_EVENT, data={"previous_epoch": previous, "reason": reason}
        )

    def id_of(self, sequence: int) -> str:
        """The event id published at `sequence`."""
        return str(json.loads(self.published[sequence])["id"])


def with_epoch(envelope: bytes, epoch: str) -> bytes:
    """`envelope` with the `streamepoch` attribute (as edge.events writes it, once it does)."""
    event = json.loads(envelope)
    event["streamepoch"] = epoch
    return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass
class Clock:
    """The hub's wall clock, moved by the test."""

    now: float = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Location:
    """Where a store lives: a SQLite file or a PostgreSQL database."""

    backend: str
    where: str

    def open(self, clock: Callable[[], float] = time.time) -> EventStore:
        """A new store object on this location."""
        if self.backend == "sqlite":
            return SqliteEventStore(self.where, clock=clock)
        return PostgresEventStore(self.where, clock=clock)

    def run(self, *statements: str) -> None:
        """Run SQL behind the store's back (as an older hub left its database)."""
        if self.backend == "sqlite":
            with sqlite3.connect(self.where) as db:
                for statement in statements:
                    db.execute(statement)
            return
        with psycopg.connect(self.where, autocommit=True) as db:
            for statement in statements:
                db.execute(statement.replace("INTEGER", "BIGINT"))

    def stored(self, device_id: str) -> int:
        """How many event rows the device has, read behind the store."""
        query = "SELECT COUNT(*) FROM events WHERE device_id = {}"
        if self.backend == "sqlite":
            with sqlite3.connect(self.where) as db:
                ((count,),) = db.execute(query.format("?"), [device_id]).fetchall()
        else:
            with psycopg.connect(self.where) as db:
                ((count,),) = db.execute(query.format("%s"), [device_id]).fetchall()
        return int(count)


@pytest.fixture(scope="module")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL on loopback for this module, stopped by its pid."""
    server = PostgresServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> Location:
    """A fresh, empty place for a store, on each backend."""
    if request.param == "sqlite":
        return Location("sqlite", str(tmp_path / "hub.db"))
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return Location("postgres", server.new_database())


@pytest.fixture
def clock() -> Clock:
    """The hub's wall clock."""
    return Clock()


@pytest.fixture
def store(location: Location, clock: Clock) -> Iterator[EventStore]:
    """A store on a fresh location, on the test's clock."""
    opened = location.open(clock)
    yield opened
    opened.close()


def test_each_epoch_starts_at_one_and_its_gaps_are_its_own(store: EventStore) -> None:
    first, second = Stream("k1"), Stream("k1")
    store.ingest(first.events(1, 2, 3, 4, 5))

    store.ingest(second.events(1, 2, 3, 7))

    assert store.gaps("k1") == [Gap("k1", STORE, 4, 6, GapState.OPEN, second.epoch)]
    device = store.device_status("k1")
    assert (device.epoch, device.epochs) == (second.epoch, 2)
    assert (device.last_contiguous, device.highest) == (3, 7)
    assert device.events_stored == 9


def test_the_epoch_a_device_left_is_no_longer_asked_for(store: EventStore) -> None:
    old, new = Stream("k1"), Stream("k1")
    store.ingest(old.events(1, 2, 5))  # 3..4 missing
    store.set_device_state("k1", "online", 1, T0)
    assert store.open_gaps() == [Gap("k1", STORE, 3, 4, GapState.OPEN, old.epoch)]

    store.ingest([new.epoch_event(None, "new"), *new.events(2, 3)])

    assert store.open_gaps() == []
    assert store.gaps("k1") == [Gap("k1", STORE, 3, 4, GapState.SUPERSEDED, old.epoch)]
    store.claim_asks("hub-a", 0.0, ask_after=1.0, ask_every=1.0)
    assert store.claim_asks("hub-a", 10.0, ask_after=1.0, ask_every=1.0) == []
    device = store.device_status("k1")
    assert device.open.sequences == 0
    assert device.superseded.sequences == 2
    assert (device.last_contiguous, device.highest) == (3, 3)


def test_events_sent_again_in_a_new_epoch_are_stored_once_and_fill_it(
    store: EventStore, location: Location
) -> None:
    lost = Stream("k1")
    store.ingest(lost.events(1, 2, 3, 4, 5))
    # The kiosk lost its write-ahead log: rows 4 and 5 are pending again. They are
    # re-enveloped into a new epoch after its epoch event, keeping their ids.
    new = Stream("k1")
    resent = [
        new.epoch_event(lost.epoch, "wal_lost"),
        new.event(2, event_id=lost.id_of(4)),
        new.event(3, event_id=lost.id_of(5)),
    ]

    result = store.ingest(resent)

    assert (result.stored, result.duplicates) == (1, 2)
    assert location.stored("k1") == 6
    assert store.gaps("k1") == []
    device = store.device_status("k1")
    assert (device.epoch, device.last_contiguous, device.highest) == (new.epoch, 3, 3)


def test_late_events_of_a_replaced_epoch_do_not_take_the_device_back(
    store: EventStore,
) -> None:
    old, new = Stream("k1"), Stream("k1")
    store.set_device_state("k1", "online", 1, T0)
    store.ingest([new.epoch_event(old.epoch, "damaged"), *new.events(2, 3)])

    store.ingest(old.events(1, 3))  # heard only now: 2 missing from an epoch left behind

    device = store.device_status("k1")
    assert (device.epoch, device.epochs, device.highest) == (new.epoch, 2, 3)
    assert store.open_gaps() == []
    assert store.gaps("k1") == [Gap("k1", STORE, 2, 2, GapState.SUPERSEDED, old.epoch)]
    assert device.twin_epochs == ()


def test_a_gap_is_asked_for_and_expired_in_its_own_epoch(store: EventStore) -> None:
    old, new = Stream("k1"), Stream("k1")
    store.ingest(old.events(1, 2))
    store.ingest(new.events(1, 4))
    store.set_device_state("k1", "online", 1, T0)
    store.claim_asks("hub-a", 0.0, ask_after=1.0, ask_every=1.0)

    (ask,) = store.claim_asks("hub-a", 10.0, ask_after=1.0, ask_every=1.0)
    assert (ask.ranges, ask.epoch) == (((2, 3),), new.epoch)
    store.expire("k1", [(2, 3)], ask.epoch)
    store.expire("k1", [(1, 2)], old.epoch)  # nothing of the old epoch is open

    assert store.gaps("k1") == [Gap("k1", STORE, 2, 3, GapState.EXPIRED, new.epoch)]
    assert store.device_status("k1").last_contiguous == 4


def test_two_kiosks_on_one_identity_are_reported_once(
    store: EventStore, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    first, second = Stream("k1"), Stream("k1")
    store.ingest(first.events(1, 2, 3))
    clock.now += 1
    store.ingest(second.events(1, 2, 3))
    assert store.device_status("k1").twin_epochs == ()

    with caplog.at_level(logging.WARNING, logger="edge.hub.store"):
        for sequence in range(4, 10):  # both go on publishing
            clock.now += 3
            store.ingest([first.event(sequence), second.event(sequence)])

    device = store.device_status("k1")
    assert device.twin_epochs == (first.epoch, second.epoch)
    assert device.twins_seen_at == clock.now
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "'k1'" in warnings[0]
    assert first.epoch in warnings[0]
    assert second.epoch in warnings[0]
    # Neither kiosk's stream shows a gap: each epoch is followed on its own.
    assert store.gaps("k1") == []


def test_a_replaced_outbox_whose_last_events_arrive_late_is_no_twin(
    store: EventStore, clock: Clock
) -> None:
    old, new = Stream("k1"), Stream("k1")
    store.ingest(old.events(1, 2, 3))
    clock.now += 1
    store.ingest(new.events(1, 2))  # no epoch event heard yet: a new file, say
    clock.now += 1
    store.ingest(old.events(4))  # in flight when the kiosk restarted
    for sequence in range(3, 8):
        clock.now += 5
        store.ingest(new.events(sequence))

    assert store.device_status("k1").twin_epochs == ()


def test_sequences_the_kiosk_quarantined_are_explained_not_asked_for(store: EventStore) -> None:
    stream = Stream("k1")
    store.ingest(stream.events(1, 4))
    store.set_device_state("k1", "online", 1, T0)
    report = stream.event(
        5,
        event_type="io.borne.outbox.quarantined",
        data={"count": 2, "ranges": [[2, 3]], "reason": "checksum mismatch"},
    )

    store.ingest([report])

    assert store.gaps("k1") == [Gap("k1", STORE, 2, 3, GapState.SHED, stream.epoch)]
    assert store.open_gaps() == []
    assert store.device_status("k1").last_contiguous == 5


def test_events_of_kiosks_without_epochs_are_the_epoch_none(store: EventStore) -> None:
    source = EventSource(STORE, "k1")
    ids = UUIDv7Generator()
    draft = EventDraft("io.borne.product.scanned", {"gtin": "03017620422003"})
    store.ingest(
        [
            source.envelope(draft, event_id=str(ids()), sequence=n, time=T0.timestamp())
            for n in (1, 3)
        ]
    )

    assert store.gaps("k1") == [Gap("k1", STORE, 2, 2, GapState.OPEN, "")]
    assert store.device_status("k1").epoch == ""


# The tables as a hub made them before stream epochs, with a device's figures and gaps.
_BEFORE_EPOCHS = (
    "CREATE TABLE events (source TEXT NOT NULL, id TEXT NOT NULL, device_id TEXT NOT NULL,"
    " type TEXT NOT NULL, sequence INTEGER NOT NULL, time TEXT NOT NULL, event TEXT NOT NULL,"
    " PRIMARY KEY (source, id))",
    "CREATE TABLE devices (device_id TEXT PRIMARY KEY, store_id TEXT,"
    " highest INTEGER NOT NULL DEFAULT 0, last_contiguous INTEGER NOT NULL DEFAULT 0,"
    " events_stored INTEGER NOT NULL DEFAULT 0, duplicates_dropped INTEGER NOT NULL DEFAULT 0,"
    " state TEXT, boot INTEGER, state_at TEXT)",
    "CREATE TABLE gaps (device_id TEXT NOT NULL, first_sequence INTEGER NOT NULL,"
    " last_sequence INTEGER NOT NULL, state TEXT NOT NULL"
    " CHECK (state IN ('open', 'shed', 'recovered', 'expired')),"
    " PRIMARY KEY (device_id, first_sequence))",
    "CREATE TABLE shed_reported (device_id TEXT NOT NULL, first_sequence INTEGER NOT NULL,"
    " last_sequence INTEGER NOT NULL, PRIMARY KEY (device_id, first_sequence))",
    "INSERT INTO devices (device_id, store_id, highest, last_contiguous, events_stored)"
    " VALUES ('k1', 'paris-01', 9, 3, 7)",
    "INSERT INTO gaps VALUES ('k1', 4, 5, 'open')",
    "INSERT INTO shed_reported VALUES ('k1', 7, 8)",
)


def test_a_store_made_before_epochs_keeps_its_figures_in_the_epoch_none(
    location: Location, clock: Clock
) -> None:
    location.run(*_BEFORE_EPOCHS)
    store = location.open(clock)
    try:
        device = store.device_status("k1")
        assert (device.epoch, device.epochs) == ("", 1)
        assert (device.last_contiguous, device.highest) == (3, 9)
        assert store.gaps("k1") == [Gap("k1", STORE, 4, 5, GapState.OPEN, "")]

        new = Stream("k1")
        store.ingest([new.epoch_event(None, "new"), *new.events(2)])

        assert store.gaps("k1") == [Gap("k1", STORE, 4, 5, GapState.SUPERSEDED, "")]
        device = store.device_status("k1")
        assert (device.epoch, device.epochs, device.highest) == (new.epoch, 2, 2)
    finally:
        store.close()


def _event_with(**changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(Stream("k1").event(1))
    event.update(changes)
    return event


@given(
    st.one_of(
        st.text(max_size=40),
        st.text(alphabet="0123456789abcdefABCDEF", min_size=30, max_size=34),
        st.integers(),
        st.none(),
        st.lists(st.text(max_size=3), max_size=2),
    )
)
def test_a_stream_epoch_is_32_lowercase_hex_or_the_event_is_refused(value: object) -> None:
    valid = isinstance(value, str) and len(value) == 32 and set(value) <= set("0123456789abcdef")
    if valid:
        assert parse_event(_event_with(streamepoch=value)).epoch == value
        return
    with pytest.raises(MalformedEventError) as refused:
        parse_event(_event_with(streamepoch=value))
    assert refused.value.field == "streamepoch"


@given(
    st.dictionaries(
        st.sampled_from(["previous_epoch", "reason", "other"]),
        st.one_of(st.none(), st.sampled_from(["new", "wal_lost", "damaged", "x"]), st.text()),
    )
)
def test_an_epoch_event_names_its_reason_and_previous_epoch_or_is_refused(
    data: dict[str, Any],
) -> None:
    event = _event_with(type=EPOCH_EVENT, data=data)
    previous = data.get("previous_epoch")
    if data.get("reason") in {"new", "wal_lost", "damaged"} and previous is None:
        assert parse_event(event).previous_epoch is None
        return
    with pytest.raises(MalformedEventError) as refused:
        parse_event(event)
    assert refused.value.field in {"data.reason", "data.previous_epoch"}


@given(st.sampled_from(["new", "wal_lost", "damaged"]))
def test_an_epoch_event_may_name_the_epoch_it_replaced(reason: str) -> None:
    previous = new_epoch()
    event = _event_with(type=EPOCH_EVENT, data={"previous_epoch": previous, "reason": reason})
    assert parse_event(event).previous_epoch == previous


def _publisher(broker: Broker) -> mqtt.Client:
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id="twin-tester", protocol=MQTTProtocolVersion.MQTTv5
    )
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    return client


def _publish(client: mqtt.Client, payload: bytes) -> None:
    event = json.loads(payload)
    device = event["source"].split("/")[-1]
    short = event["type"].removeprefix("io.borne.")
    info = client.publish(f"borne/v1/devices/{device}/events/{short}", payload, qos=1)
    info.wait_for_publish(timeout=30)


@pytest.mark.mqtt
def test_two_epochs_of_one_device_through_the_hub_leave_no_gap_and_show_twins(
    tmp_path: Path, broker: Broker
) -> None:
    url = f"sqlite:///{tmp_path / 'hub' / 'events.sqlite'}"
    config = hub_config(tmp_path / "hub.toml", broker.port, url)
    hub = start_hub(config)
    client = _publisher(broker)
    first, second = Stream("kiosk-07"), Stream("kiosk-07")
    try:
        wait_subscribed(hub)
        for payload in [*first.events(1, 2, 3), *second.events(1, 2, 3)]:
            _publish(client, payload)
        # Both kiosks go on publishing, one event each at a time, until the hub says so.
        sequence = 3
        deadline = time.monotonic() + 60
        while not status(config).get("kiosk-07", {}).get("twin_epochs"):
            assert time.monotonic() < deadline, "the hub never saw two kiosks"
            sequence += 1
            _publish(client, first.event(sequence))
            _publish(client, second.event(sequence))
            time.sleep(0.5)
        device = status(config)["kiosk-07"]
        table = borne("hub", "status", "--config", str(config)).stdout
    finally:
        client.loop_stop()
        client.disconnect()
        hub.send_signal(signal.SIGTERM)
        out, log = hub.communicate(timeout=30)
    assert hub.returncode == 0, log
    counters = json.loads(out.strip().splitlines()[-1])
    assert log.count("two kiosks publish as device 'kiosk-07'") == 1
    assert device["twin_epochs"] == [first.epoch, second.epoch]
    assert (
        f"kiosk-07: two kiosks publish under this id "
        f"(stream epochs {first.epoch} and {second.epoch})"
    ) in table
    assert device["open"]["runs"] == 0
    assert device["superseded"]["runs"] == 0
    assert device["epochs"] == 2
    assert counters["duplicates"] == 0
