"""A damaged outbox is contained: moved aside, salvaged into a new epoch, reported; a
stored event whose bytes changed is quarantined, never sent.

Real SQLite files damaged the way disks damage them: whole pages overwritten while
the kiosk is stopped, bytes changed inside one stored event.
"""

from __future__ import annotations

import json
import logging
import random
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.events import EventDraft, EventSource
from edge.outbox import OutboxStore, StoredEvent, describe_status, read_status
from edge.outbox_integrity import event_checksum
from edge.outbox_pages import scan_pages
from tests.asyncapi import check_message

SOURCE = EventSource("paris-01", "kiosk-07")
PAGE = 4096


def scan(index: int) -> EventDraft:
    data = {
        "session_id": "6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f",
        "gtin": "4006381333931",
        "symbology": "ean13",
        "source": "camera",
        "note": f"scan {index:05d} " + "s" * 200,
    }
    return EventDraft("io.borne.product.scanned", data)


def envelope(event: StoredEvent) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(event.payload)
    return document


def write_events(path: Path, count: int) -> tuple[list[StoredEvent], Any]:
    """`count` events committed, the outbox stopped cleanly; the events and their epoch."""
    store = OutboxStore(path, SOURCE, synchronous="normal")
    stored: list[StoredEvent] = []
    for start in range(0, count, 10):
        stored += store.append([scan(index) for index in range(start, start + 10)])
    store.close()
    return stored, envelope(stored[0]).get("streamepoch")


def overwrite_pages(path: Path, pages: int, seed: int) -> list[int]:
    """Overwrite `pages` random pages (never page 1, the header) with random bytes."""
    chance = random.Random(seed)
    count = path.stat().st_size // PAGE
    chosen = sorted(chance.sample(range(2, count + 1), pages))
    with path.open("r+b") as file:
        for page in chosen:
            file.seek((page - 1) * PAGE)
            file.write(chance.randbytes(PAGE))
    return chosen


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_a_damaged_outbox_is_moved_aside_and_its_readable_events_go_on_in_a_new_epoch(
    tmp_path: Path, seed: int, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "outbox.sqlite"
    written, old_epoch = write_events(path, 300)
    overwrite_pages(path, 3, seed)

    # Before the runtime starts: borne outbox status says what it is and what will happen.
    before = read_status(path, max_bytes=64 * 1024 * 1024)
    assert before.damaged == str(path)
    assert "DAMAGED" in describe_status(before, now=0.0)[0]

    with caplog.at_level(logging.ERROR, logger="edge.outbox"):
        store = OutboxStore(path, SOURCE, clock=lambda: 1_760_000_000.0)
    try:
        waiting = store.pending(0, 1000)
        later = store.append([scan(999)])
        status = store.status()
    finally:
        store.close()

    damaged = tmp_path / "outbox.sqlite.damaged-20251009T085320Z"
    assert damaged.exists(), sorted(p.name for p in tmp_path.iterdir())
    first = envelope(waiting[0])
    assert first["type"] == "io.borne.outbox.epoch"
    assert first["data"]["reason"] == "damaged"
    assert first["data"]["previous_epoch"] in (old_epoch, None)
    carried = waiting[1:]
    written_ids = [event.event_id for event in written]
    carried_ids = [event.event_id for event in carried]
    assert 200 <= len(carried) < 300, "what could be read is carried; a page's rows are not"
    assert carried_ids == [i for i in written_ids if i in set(carried_ids)], "same ids, in order"
    for event in carried:
        original = written[written_ids.index(event.event_id)]
        assert envelope(event)["data"] == envelope(original)["data"]
    epochs = {envelope(event)["streamepoch"] for event in [*waiting, *later]}
    assert epochs == {status.stream_epoch}
    assert old_epoch not in epochs
    assert [e.sequence for e in [*waiting, *later]] == list(range(1, len(waiting) + 2))
    assert status.last_damage_path == str(damaged)
    assert status.last_damage_salvaged == len(carried)
    assert status.last_damage_lost == 300 - len(carried)
    assert any(str(damaged) in record.getMessage() for record in caplog.records)
    assert any(str(damaged) in line for line in describe_status(status, now=1_760_000_100.0))
    check_message(waiting[0].topic, waiting[0].payload)


def test_a_salvage_cut_short_is_done_again_or_put_in_place_at_the_next_start(
    tmp_path: Path,
) -> None:
    path = tmp_path / "outbox.sqlite"
    written, _ = write_events(path, 300)
    overwrite_pages(path, 3, 2)
    building = tmp_path / "outbox.sqlite.salvaging"
    building.write_bytes(b"half a file")  # the power went while it was being built

    first = OutboxStore(path, SOURCE)  # the damaged file is still there: salvaged again
    try:
        carried = [event.event_id for event in first.pending(0, 1000)[1:]]
    finally:
        first.close()
    assert 200 <= len(carried) < 300
    assert not building.exists()

    # Cut short after the damaged file was moved aside: the salvaged file is put in place.
    path.rename(building)
    second = OutboxStore(path, SOURCE)
    try:
        again = [event.event_id for event in second.pending(0, 1000)[1:]]
    finally:
        second.close()
    assert again == carried
    assert set(carried) <= {event.event_id for event in written}


def test_events_under_a_damaged_interior_page_are_found_by_reading_the_pages(
    tmp_path: Path,
) -> None:
    path = tmp_path / "outbox.sqlite"
    written, old_epoch = write_events(path, 300)
    db = sqlite3.connect(path)
    (root,) = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'events'").fetchone()
    db.close()
    with path.open("r+b") as file:  # the page that leads to every event row
        file.seek((root - 1) * PAGE)
        file.write(random.Random(9).randbytes(PAGE))

    store = OutboxStore(path, SOURCE)
    try:
        waiting = store.pending(0, 1000)
        status = store.status()
    finally:
        store.close()

    assert envelope(waiting[0])["data"] == {"previous_epoch": old_epoch, "reason": "damaged"}
    assert [e.event_id for e in waiting[1:]] == [e.event_id for e in written]
    assert (status.last_damage_salvaged, status.last_damage_lost) == (300, 0)


def test_status_of_a_damaged_outbox_is_read_without_changing_it(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    write_events(path, 300)
    overwrite_pages(path, 3, 5)
    before = path.read_bytes()

    status = read_status(path, max_bytes=1024 * 1024)

    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["outbox.sqlite"]
    assert status.damaged == str(path)


def corrupt_one_payload(path: Path, sequence: int, seed: int) -> None:
    """40 random bytes written inside one stored event, its length kept (as a disk does)."""
    chance = random.Random(seed)
    db = sqlite3.connect(path)
    (payload,) = db.execute("SELECT payload FROM events WHERE sequence = ?", (sequence,)).fetchone()
    at = chance.randrange(20, len(payload) - 40)
    damaged = payload[:at] + chance.randbytes(40) + payload[at + 40 :]
    db.execute("UPDATE events SET payload = ? WHERE sequence = ?", (damaged, sequence))
    db.commit()
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",), "SQLite sees nothing"
    db.close()


def test_an_event_whose_bytes_changed_is_quarantined_and_reported_never_sent(
    tmp_path: Path,
) -> None:
    path = tmp_path / "outbox.sqlite"
    written, _ = write_events(path, 30)
    corrupt_one_payload(path, 17, seed=7)

    store = OutboxStore(path, SOURCE)
    try:
        first_read = store.pending(0, 20)
        rest = store.pending(first_read[-1].sequence, 100)
        asked_again = store.get([16, 17, 18])
        status = store.status()
    finally:
        store.close()

    handed_out = first_read + rest
    assert 17 not in [event.sequence for event in handed_out + asked_again]
    assert [e.sequence for e in handed_out[:29]] == [s for s in range(1, 31) if s != 17]
    assert [e.payload for e in handed_out[:29]] == [e.payload for e in written if e.sequence != 17]
    report = envelope(handed_out[-1])
    assert report["type"] == "io.borne.outbox.quarantined"
    assert report["data"] == {"count": 1, "ranges": [[17, 17]], "reason": "checksum mismatch"}
    assert handed_out[-1].sequence == 31
    check_message(handed_out[-1].topic, handed_out[-1].payload)
    assert status.quarantined == 1
    db = sqlite3.connect(path)
    (kept_aside,) = db.execute("SELECT id FROM quarantine WHERE sequence = 17").fetchone()
    db.close()
    assert kept_aside == written[16].event_id


def test_a_delivered_event_kept_for_re_asks_is_quarantined_when_its_bytes_changed(
    tmp_path: Path,
) -> None:
    path = tmp_path / "outbox.sqlite"
    store = OutboxStore(path, SOURCE, keep_delivered=3600)
    store.append([scan(index) for index in range(5)])
    store.delete_delivered([1, 2, 3])
    store.close()
    corrupt_one_payload(path, 2, seed=3)

    store = OutboxStore(path, SOURCE, keep_delivered=3600)
    try:
        kept, waiting = store.kept([1, 2, 3, 4])
        pending = store.pending(0, 10)
    finally:
        store.close()

    assert [e.sequence for e in kept] == [1, 3]
    assert waiting == [4]
    assert envelope(pending[-1])["data"]["ranges"] == [[2, 2]]


def test_an_outbox_from_before_checksums_gains_them_on_open(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    write_events(path, 10)
    db = sqlite3.connect(path)  # as it was before checksums
    db.execute("ALTER TABLE events DROP COLUMN checksum")
    db.commit()
    db.close()

    store = OutboxStore(path, SOURCE)
    store.close()
    corrupt_one_payload(path, 4, seed=11)
    store = OutboxStore(path, SOURCE)
    try:
        pending = store.pending(0, 100)
    finally:
        store.close()

    assert [e.sequence for e in pending] == [1, 2, 3, 5, 6, 7, 8, 9, 10, 11]
    assert envelope(pending[-1])["type"] == "io.borne.outbox.quarantined"


def test_a_mismatching_event_is_left_out_even_when_it_cannot_be_quarantined_yet(
    tmp_path: Path,
) -> None:
    path = tmp_path / "outbox.sqlite"
    write_events(path, 10)
    corrupt_one_payload(path, 4, seed=13)
    store = OutboxStore(path, SOURCE)
    other = sqlite3.connect(path, isolation_level=None, timeout=0)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        while_locked = store.pending(0, 100)
    finally:
        other.execute("ROLLBACK")
        other.close()
    try:
        afterwards = store.pending(0, 100)
    finally:
        store.close()

    assert [e.sequence for e in while_locked] == [1, 2, 3, 5, 6, 7, 8, 9, 10]
    assert [e.sequence for e in afterwards] == [1, 2, 3, 5, 6, 7, 8, 9, 10, 11]
    assert envelope(afterwards[-1])["data"]["ranges"] == [[4, 4]]


@pytest.fixture(scope="module")
def intact_outbox(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, list[StoredEvent]]:
    """The bytes of a stopped outbox holding 60 events, and the events."""
    path = tmp_path_factory.mktemp("intact") / "outbox.sqlite"
    written, _ = write_events(path, 60)
    return path.read_bytes(), written


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    damage=st.lists(
        st.tuples(
            st.integers(min_value=100, max_value=40_000), st.binary(min_size=1, max_size=600)
        ),
        min_size=1,
        max_size=8,
    )
)
def test_reading_the_pages_of_any_damaged_file_finds_only_events_that_were_written(
    intact_outbox: tuple[bytes, list[StoredEvent]],
    tmp_path_factory: pytest.TempPathFactory,
    damage: list[tuple[int, bytes]],
) -> None:
    original, written = intact_outbox
    data = bytearray(original)
    for offset, garbage in damage:
        data[offset : offset + len(garbage)] = garbage[: max(0, len(data) - offset)]
    path = tmp_path_factory.mktemp("damaged") / "outbox.sqlite"
    path.write_bytes(bytes(data))

    found = scan_pages(path)

    by_id = {event.event_id: event for event in written}
    for row in found.events:
        if row.event_id in by_id and row.payload == by_id[row.event_id].payload:
            continue
        # Anything else is damage that kept the events table's shape: its checksum
        # (or its sequence) gives it away before it could be sent.
        event = by_id.get(row.event_id)
        assert (
            event is None
            or row.checksum != event_checksum(row.topic, row.payload)
            or (row.sequence != event.sequence)
        )
