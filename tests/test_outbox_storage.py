"""The outbox on a store's worst day for its disk: a small filesystem, a full one, a
lock held by another process, a write-ahead log lost after a crash, twin kiosks.

Real SQLite on a real 2 MiB tmpfs (the tests run as root), real `kill -9`.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.errors import OutboxBusyError, OutboxDiskFullError, OutboxError
from edge.events import EventDraft, EventSource, Priority
from edge.outbox import OutboxStore, StoredEvent
from tests.asyncapi import check_message
from tests.conftest import ROOT

SOURCE = EventSource("paris-01", "kiosk-07")
KIB = 1024


def presence(index: int) -> EventDraft:
    return EventDraft(
        "io.borne.presence.dwelled",
        {"shopper": f"{index:064x}", "zone": "near", "distance_m": 1.5, "pad": "p" * 200},
    )


def card_tap(index: int) -> EventDraft:
    data = {
        "session_id": "6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f",
        "loyalty_pseudonym": f"{index:064x}",
        "known": True,
        "pad": "c" * 200,
    }
    return EventDraft("io.borne.card.tapped", data)


def envelope(event: StoredEvent) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(event.payload)
    return document


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 2 MiB filesystem (tmpfs), unmounted afterwards."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount_point)], check=True)
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=True)


def fill(folder: Path) -> Path:
    """Take every byte left on the filesystem of `folder` with one file."""
    filler = folder / "filler"
    descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        for chunk in (64 * KIB, 4 * KIB, 1):
            try:
                while True:
                    os.write(descriptor, b"\0" * chunk)
            except OSError:
                continue
    finally:
        os.close(descriptor)
    return filler


# --- the row: data_dir on a 2 MiB filesystem, broker down -----------------------------------


def test_on_a_2_mib_disk_samples_are_shed_before_any_tap_is_refused_and_the_wal_stays_small(
    small_disk: Path,
) -> None:
    path = small_disk / "outbox.sqlite"
    wal = small_disk / "outbox.sqlite-wal"
    store = OutboxStore(
        path, SOURCE, wal_max_bytes=128 * KIB, disk_margin_bytes=512 * KIB, synchronous="normal"
    )
    taps: list[int] = []
    refusal: OutboxError | None = None
    largest_wal = 0
    try:
        for index in range(20_000):  # the broker is down: nothing leaves
            try:
                store.append([presence(index) for _ in range(4)])
                taps += [event.sequence for event in store.append([card_tap(index)])]
            except OutboxError as error:
                refusal = error
                break
            largest_wal = max(largest_wal, wal.stat().st_size)
        status = store.status()
        pending = store.pending(0, 100_000)
    finally:
        store.close()

    assert isinstance(refusal, OutboxDiskFullError), refusal  # typed, for the retrying queue
    assert largest_wal <= 128 * KIB + 64 * KIB, "the write-ahead log stays near its cap"
    assert status.shed_total > 0, "presence samples went first"
    kept = {event.sequence for event in pending}
    assert set(taps) <= kept, "no accepted card tap was shed"
    assert len(taps) > 109
    shed_reports = [e for e in pending if envelope(e)["type"] == "io.borne.outbox.shed"]
    assert len(shed_reports) == 1, "what was shed is reported, one report waiting"


def test_an_outbox_on_a_full_disk_opens_and_its_queued_events_can_be_read(
    small_disk: Path,
) -> None:
    path = small_disk / "outbox.sqlite"
    store = OutboxStore(path, SOURCE, synchronous="normal", disk_margin_bytes=0)
    queued = store.append([card_tap(index) for index in range(40)])
    store.close()
    filler = fill(small_disk)
    assert os.statvfs(small_disk).f_bavail == 0

    reopened = OutboxStore(path, SOURCE, synchronous="normal", disk_margin_bytes=0)
    try:
        waiting = reopened.pending(0, 100)
        with pytest.raises(OutboxDiskFullError):  # typed: the uplink tries the delete again
            reopened.delete_delivered([queued[0].sequence])
        filler.unlink()
        reopened.delete_delivered([queued[0].sequence])
        left = reopened.pending(0, 100)
    finally:
        reopened.close()

    assert [e.event_id for e in waiting] == [e.event_id for e in queued]
    assert [e.event_id for e in left] == [e.event_id for e in queued[1:]]


def test_under_the_disk_margin_a_tap_is_stored_by_shedding_a_sample(tmp_path: Path) -> None:
    free = [10 * 1024 * KIB]
    store = OutboxStore(
        tmp_path / "outbox.sqlite",
        SOURCE,
        disk_margin_bytes=1024 * KIB,
        free_space=lambda folder: free[0],
    )
    try:
        samples = store.append([presence(index) for index in range(6)])
        free[0] = 100 * KIB  # something else filled the disk
        stored = store.append([card_tap(1)])
        pending = store.pending(0, 100)
        status = store.status()
    finally:
        store.close()

    assert status.shed_total >= 1
    assert stored[0].sequence in {e.sequence for e in pending}
    assert samples[0].sequence not in {e.sequence for e in pending}, "the oldest sample went"
    assert envelope(pending[-1])["type"] == "io.borne.outbox.shed"


def test_under_the_disk_margin_what_is_never_shed_is_still_stored(tmp_path: Path) -> None:
    # The margin sheds what may be shed; a tap, a scan or a call is not refused while
    # the disk still has room (it would wait in memory and, in the end, be lost).
    store = OutboxStore(
        tmp_path / "outbox.sqlite",
        SOURCE,
        disk_margin_bytes=1024 * KIB,
        free_space=lambda folder: 100 * KIB,
    )
    try:
        stored = store.append([card_tap(index) for index in range(50)])
        status = store.status()
    finally:
        store.close()

    assert [event.sequence for event in stored] == list(range(1, 51))
    assert status.queued == 50
    assert status.refused_total == 0


# --- the row: another process holds the outbox's write lock ---------------------------------


def test_a_write_lock_held_elsewhere_is_a_busy_error_for_appends_and_deletes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "outbox.sqlite"
    store = OutboxStore(path, SOURCE)
    stored = store.append([card_tap(1)])
    other = sqlite3.connect(path, isolation_level=None, timeout=0)
    other.execute("BEGIN IMMEDIATE")  # another process writing for a long time
    try:
        with pytest.raises(OutboxBusyError):
            store.append([card_tap(2)])
        with pytest.raises(OutboxBusyError):
            store.delete_delivered([stored[0].sequence])
    finally:
        other.execute("ROLLBACK")
        other.close()
    try:
        store.delete_delivered([stored[0].sequence])
        later = store.append([card_tap(3)])
        pending = store.pending(0, 10)
    finally:
        store.close()

    assert [e.sequence for e in pending] == [later[0].sequence] == [2]


# --- the row: kill -9, then the -wal file deleted ------------------------------------------

_APPENDER = """
import json, sys
from pathlib import Path
from edge.events import EventDraft, EventSource
from edge.outbox import OutboxStore

store = OutboxStore(Path(sys.argv[1]), EventSource("paris-01", "kiosk-07"), synchronous="normal")
for index in range(1_000_000):
    for event in store.append([EventDraft("io.borne.card.tapped", {"card": f"{index:064x}"})]):
        document = json.loads(event.payload)
        print(json.dumps([document.get("streamepoch"), event.sequence, event.event_id]), flush=True)
"""


def handed_out(events: list[StoredEvent]) -> list[tuple[Any, int, str]]:
    return [(envelope(e).get("streamepoch"), e.sequence, e.event_id) for e in events]


def test_after_kill_9_and_a_lost_wal_no_epoch_and_sequence_has_two_ids(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    seen: list[tuple[Any, int, str]] = []
    for run in range(2):
        appender = subprocess.Popen(
            [sys.executable, "-c", _APPENDER, str(path)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert appender.stdout is not None
        for _ in range(150 + 50 * run):  # committed and handed out
            epoch, sequence, event_id = json.loads(appender.stdout.readline())
            seen.append((epoch, sequence, event_id))
        appender.send_signal(signal.SIGKILL)
        appender.wait()
        appender.stdout.close()
        (tmp_path / "outbox.sqlite-wal").unlink()  # the log is lost with the crash

    store = OutboxStore(path, SOURCE, synchronous="normal")
    try:
        waiting = store.pending(0, 10_000)
        seen += handed_out(waiting)
        seen += handed_out(store.append([card_tap(index) for index in range(30)]))
        status = store.status()
    finally:
        store.close()

    ids_of: dict[tuple[Any, int], set[str]] = {}
    for epoch, sequence, event_id in seen:
        ids_of.setdefault((epoch, sequence), set()).add(event_id)
    assert all(len(ids) == 1 for ids in ids_of.values()), "a sequence with two ids"
    first = envelope(waiting[0])
    assert first["type"] == "io.borne.outbox.epoch"
    assert first["data"]["reason"] == "wal_lost"
    assert first["data"]["previous_epoch"] == seen[200][0], "names the epoch it follows"
    assert [e.sequence for e in waiting] == list(range(1, len(waiting) + 1))
    assert status.stream_epoch == first["streamepoch"] != seen[0][0]
    check_message(waiting[0].topic, waiting[0].payload)


def test_a_clean_stop_then_a_missing_wal_keeps_the_epoch(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    store = OutboxStore(path, SOURCE)
    first = store.append([card_tap(1)])
    store.close()
    assert not (tmp_path / "outbox.sqlite-wal").exists()  # closed cleanly: nothing lost

    store = OutboxStore(path, SOURCE)
    try:
        later = store.append([card_tap(2)])
        waiting = store.pending(0, 10)
    finally:
        store.close()

    assert envelope(later[0])["streamepoch"] == envelope(first[0])["streamepoch"]
    assert [e.sequence for e in waiting] == [1, 2]


def test_a_second_process_opening_and_closing_the_outbox_does_not_hide_a_lost_wal(
    tmp_path: Path,
) -> None:
    # borne doctor opens the outbox while the kiosk runs; its clean close must not mark
    # the file closed under the kiosk's feet.
    path = tmp_path / "outbox.sqlite"
    kiosk = OutboxStore(path, SOURCE, synchronous="normal")
    doctor = OutboxStore(path, SOURCE, synchronous="normal")
    doctor.append([EventDraft("io.borne.device.checked", {"outcome": "pass"})])
    doctor.close()
    epoch = kiosk.status().stream_epoch
    kiosk.append([card_tap(1)])
    # The kiosk is killed: its connection is dropped without a clean close.
    snapshot = path.read_bytes()
    kiosk.close()
    path.write_bytes(snapshot)

    store = OutboxStore(path, SOURCE)
    try:
        waiting = store.pending(0, 10)
    finally:
        store.close()

    assert envelope(waiting[0])["type"] == "io.borne.outbox.epoch"
    assert envelope(waiting[0])["data"] == {"previous_epoch": epoch, "reason": "wal_lost"}


# --- the row: two kiosks on the same device id ---------------------------------------------


def test_twin_kiosks_on_the_same_device_id_have_different_epochs(tmp_path: Path) -> None:
    one = OutboxStore(tmp_path / "a" / "outbox.sqlite", SOURCE)
    two = OutboxStore(tmp_path / "b" / "outbox.sqlite", SOURCE)
    try:
        first = one.append([card_tap(1), presence(1)])
        second = two.append([card_tap(2)])
    finally:
        one.close()
        two.close()

    epochs = {envelope(e)["streamepoch"] for e in first} | {
        envelope(e)["streamepoch"] for e in second
    }
    assert len(epochs) == 2, "the same (device, sequence 1) is told apart by its epoch"
    for event in first + second:
        check_message(event.topic, event.payload)
        assert len(envelope(event)["streamepoch"]) == 32


def test_every_stored_event_carries_the_outbox_epoch_across_restarts(tmp_path: Path) -> None:
    epochs = iter(["a" * 32, "b" * 32])
    path = tmp_path / "outbox.sqlite"
    store = OutboxStore(path, SOURCE, new_epoch=lambda: next(epochs))
    stored = store.append([card_tap(1)])
    store.close()
    store = OutboxStore(path, SOURCE, new_epoch=lambda: next(epochs))
    try:
        stored += store.append(
            [card_tap(2), EventDraft("io.borne.screen.shown", {}, Priority.NORMAL)]
        )
    finally:
        store.close()

    assert {envelope(e)["streamepoch"] for e in stored} == {"a" * 32}
    assert [e.sequence for e in stored] == [1, 2, 3]


def test_the_shed_report_carries_the_epoch_and_fits_the_bound(tmp_path: Path) -> None:
    store = OutboxStore(tmp_path / "outbox.sqlite", SOURCE, max_bytes=8_000)
    try:
        store.append([presence(index) for index in range(10)])
        store.append([card_tap(index) for index in range(10)])
        pending = store.pending(0, 100)
        status = store.status()
    finally:
        store.close()

    assert status.queued_bytes <= 8_000
    report = envelope(pending[-1])
    assert report["type"] == "io.borne.outbox.shed"
    assert report["streamepoch"] == status.stream_epoch
