"""The outbox: durable before accepted, gapless sequences, bounded by shedding low value."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from devices.readings import CardTap
from edge.bootstrap import build_runtime
from edge.config import load_config
from edge.errors import OutboxError, OutboxFullError
from edge.events import EventDraft, EventSource, Priority
from edge.outbox import LinkRecord, OutboxStore, describe_status, read_status
from edge.outbox_queue import Outbox
from edge.session import Screen
from tests.conftest import write_config

SOURCE = EventSource("paris-01", "kiosk-07")


TYPES = {
    Priority.SAMPLE: "io.borne.presence.dwelled",
    Priority.NORMAL: "io.borne.screen.shown",
    Priority.CRITICAL: "io.borne.product.scanned",
}


def draft(priority: Priority = Priority.CRITICAL, size: int = 10) -> EventDraft:
    """An event of a type the contract keeps with `priority`."""
    return EventDraft(TYPES[priority], {"pad": "x" * size})


def test_sequences_are_gapless_and_survive_a_restart(tmp_path: Path) -> None:
    store = OutboxStore(tmp_path / "outbox.sqlite", SOURCE)
    first = store.append([draft(), draft()])
    store.delete_delivered([1, 2])
    store.close()

    reopened = OutboxStore(tmp_path / "outbox.sqlite", SOURCE)
    later = reopened.append([draft()])

    assert [e.sequence for e in first + later] == [1, 2, 3]
    assert reopened.status().last_sequence == 3


def test_undelivered_events_are_there_after_a_restart_in_order(tmp_path: Path) -> None:
    store = OutboxStore(tmp_path / "outbox.sqlite", SOURCE)
    accepted = store.append([draft() for _ in range(5)])
    store.delete_delivered([2, 4])
    store.close()

    pending = OutboxStore(tmp_path / "outbox.sqlite", SOURCE).pending(0, 10)

    assert [e.sequence for e in pending] == [1, 3, 5]
    assert [e.payload for e in pending] == [accepted[i].payload for i in (0, 2, 4)]


def test_status_counts_queue_and_deliveries(tmp_path: Path) -> None:
    now = [1000.0]
    store = OutboxStore(tmp_path / "outbox.sqlite", SOURCE, clock=lambda: now[0])
    store.append([draft(), draft()])
    now[0] = 1005.0
    store.delete_delivered([1])

    status = store.status()

    assert (status.queued, status.delivered_total, status.last_sequence) == (1, 1, 2)
    assert status.oldest_created_at == 1000.0
    assert status.last_delivered_at == 1005.0
    assert status.queued_bytes == len(store.pending(0, 10)[0].payload)


def test_when_full_presence_samples_go_first_never_scans(tmp_path: Path) -> None:
    store = OutboxStore(tmp_path / "outbox.sqlite", SOURCE, max_bytes=20_000)
    store.append([draft(Priority.SAMPLE, 1000) for _ in range(8)])
    store.append([draft(Priority.CRITICAL, 1000) for _ in range(8)])

    store.append([draft(Priority.CRITICAL, 1000) for _ in range(6)])

    kept = store.pending(0, 100)
    scans = [e for e in kept if e.topic.endswith("/product.scanned")]
    assert len(scans) == 14
    assert store.status().shed_total >= 1
    assert store.status().queued_bytes <= 20_000


def test_what_was_shed_is_reported_in_the_stream_and_gone(tmp_path: Path) -> None:
    store = OutboxStore(tmp_path / "outbox.sqlite", SOURCE, max_bytes=20_000)
    store.append([draft(Priority.SAMPLE, 1000), draft(Priority.CRITICAL, 1000)] * 6)

    store.append([draft(Priority.CRITICAL, 1000) for _ in range(6)])

    kept = store.pending(0, 100)
    (report,) = [json.loads(e.payload) for e in kept if e.topic.endswith("/outbox.shed")]
    shed = {s for first, last in report["data"]["ranges"] for s in range(first, last + 1)}
    assert shed == {1, 3, 5, 7, 9, 11} - {e.sequence for e in kept}
    assert report["data"]["count"] == len(shed) == store.status().shed_total
    assert (report["data"]["first_sequence"], report["data"]["last_sequence"]) == (
        min(shed),
        max(shed),
    )
    assert int(report["sequence"]) == 19, "the report follows the events that needed room"
    assert {e.sequence for e in kept} | shed == set(range(1, 20)), "no other gap"
    assert store.status().queued_bytes <= 20_000


def test_session_start_and_end_are_protected_presence_is_shed_first(tmp_path: Path) -> None:
    store = OutboxStore(tmp_path / "outbox.sqlite", SOURCE, max_bytes=20_000)
    pad = {"pad": "x" * 1000}
    # Drafted as NORMAL by their callers; the contract decides how they are kept.
    started = EventDraft("io.borne.session.started", pad, Priority.NORMAL)
    presence = EventDraft("io.borne.presence.entered", pad, Priority.NORMAL)
    viewed = EventDraft("io.borne.screen.shown", pad, Priority.CRITICAL)
    store.append([presence, viewed, started] * 6)

    store.append([EventDraft("io.borne.session.ended", pad)] * 4)

    kept = [e.topic.rsplit("/", 1)[1] for e in store.pending(0, 100)]
    assert kept.count("session.started") == 6
    assert kept.count("session.ended") == 4
    assert kept.count("presence.entered") < 6
    assert kept.count("screen.shown") == 6 or kept.count("presence.entered") == 0


def test_an_outbox_full_of_critical_events_refuses_more_and_keeps_them(tmp_path: Path) -> None:
    store = OutboxStore(tmp_path / "outbox.sqlite", SOURCE, max_bytes=8_000)
    store.append([draft(Priority.CRITICAL, 1000) for _ in range(5)])

    with pytest.raises(OutboxFullError):
        store.append([draft(Priority.CRITICAL, 1000) for _ in range(5)])

    assert [e.sequence for e in store.pending(0, 100)] == [1, 2, 3, 4, 5]
    assert store.append([]) == []
    assert store.status().last_sequence == 5  # the refused events took no sequence
    assert store.status().refused_total == 5  # ... and are counted


def test_status_of_a_missing_outbox_creates_nothing_and_says_the_bound(tmp_path: Path) -> None:
    path = tmp_path / "data" / "outbox.sqlite"

    status = read_status(path, max_bytes=2_000_000)

    assert not (tmp_path / "data").exists()
    assert (status.queued, status.max_bytes, status.last_sequence) == (0, 2_000_000, 0)
    lines = describe_status(status, now=1000.0)
    assert "queued bytes:       0 of 2000000 (0% full)" in lines


def test_status_reads_an_outbox_without_changing_it(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    store = OutboxStore(path, SOURCE, max_bytes=20_000, clock=lambda: 1000.0)
    store.append([draft(Priority.SAMPLE, 1000) for _ in range(30)])
    store.record_link(LinkRecord("restarting after a failure", "disk is full", 990.0, 2))
    store.close()
    before = path.read_bytes()

    status = read_status(path, max_bytes=20_000)

    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["outbox.sqlite"], "nothing created beside it"
    assert status.queued_bytes <= 20_000
    assert status.shed_total > 0
    lines = describe_status(status, now=1001.0)
    assert "uplink:             restarting after a failure" in lines
    assert "uplink problem:     disk is full (the last one, kept once over)" in lines
    assert "uplink restarts:    2 (tasks restarted after a failure)" in lines
    assert f"shed when full:     {status.shed_total} (reported to the platform)" in lines


async def fill_with_protected_events(outbox: Outbox) -> None:
    """Append events that are never shed until not even a small one fits."""
    for pad in (100_000, 1_000, 10):
        while True:
            try:
                await outbox.append(
                    EventDraft(
                        "io.borne.kiosk.exit_attempted", {"pad": "x" * pad}, Priority.CRITICAL
                    )
                )
            except OutboxFullError:
                break


def test_a_full_outbox_never_freezes_the_screen(tmp_path: Path) -> None:
    config = load_config(
        write_config(tmp_path / "kiosk.toml", tmp_path / "data"),
        {
            "BORNE_STORAGE__OUTBOX_MAX_BYTES": str(1024 * 1024),
            "BORNE_DEVICES__CAMERA": "",
            "BORNE_DEVICES__NFC": "",
        },
    )

    async def scenario() -> None:
        runtime, _ = await build_runtime(config)
        await runtime.start()
        try:
            await fill_with_protected_events(runtime.outbox)
            refused_before = runtime.outbox.not_stored
            seen: list[Screen] = []
            runtime.subscribe(lambda view: seen.append(view.screen))

            await runtime.handle(CardTap("9250000000017", "01", "Type3Tag", "test", time.time()))

            assert seen == [Screen.WELCOME], "the shopper is greeted all the same"
            # The session start and the tap could not be stored: counted, and reported.
            assert runtime.outbox.not_stored == refused_before + 2
            assert (await runtime.outbox.status()).refused_total == refused_before + 2
        finally:
            await runtime.close()

    asyncio.run(scenario())


def test_status_of_a_file_that_is_not_an_outbox_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    path.write_bytes(b"not a database, an installer's mistake\n" * 100)

    with pytest.raises(OutboxError, match="outbox status"):
        read_status(path, max_bytes=2_000_000)


def test_delivered_events_are_kept_for_re_asks_and_never_pending_again(tmp_path: Path) -> None:
    now = [1000.0]
    store = OutboxStore(
        tmp_path / "outbox.sqlite", SOURCE, keep_delivered=60.0, clock=lambda: now[0]
    )
    accepted = store.append([draft() for _ in range(3)])
    store.delete_delivered([1, 2])

    kept, waiting = store.kept([1, 2, 3, 4])

    assert [e.sequence for e in store.pending(0, 10)] == [3], "delivered ones are not resent"
    assert [e.payload for e in kept] == [accepted[0].payload, accepted[1].payload]
    assert waiting == [3]
    status = store.status()
    assert (status.queued, status.kept_delivered, status.delivered_total) == (1, 2, 2)
    assert status.kept_bytes == len(accepted[0].payload) + len(accepted[1].payload)
    assert any("kept delivered:     2" in line for line in describe_status(status, now=now[0]))


def test_kept_events_are_forgotten_after_keep_delivered(tmp_path: Path) -> None:
    now = [1000.0]
    path = tmp_path / "outbox.sqlite"
    store = OutboxStore(path, SOURCE, keep_delivered=60.0, clock=lambda: now[0])
    store.append([draft() for _ in range(3)])
    store.delete_delivered([1])
    now[0] = 1030.0
    store.delete_delivered([2])
    now[0] = 1070.0

    store.forget_kept()

    assert [e.sequence for e in store.kept([1, 2, 3])[0]] == [2], "1 was delivered 70 s ago"
    now[0] = 1095.0
    store.delete_delivered([3])  # each delivery also forgets what is too old
    assert [e.sequence for e in store.kept([1, 2, 3])[0]] == [3]
    store.close()
    assert read_status(path, max_bytes=1 << 20).kept_delivered == 1


def test_with_keep_delivered_zero_an_acknowledged_event_is_gone_at_once(tmp_path: Path) -> None:
    store = OutboxStore(tmp_path / "outbox.sqlite", SOURCE, keep_delivered=0)
    store.append([draft(), draft()])

    store.delete_delivered([1])

    assert store.kept([1, 2]) == ([], [2])
    assert store.status().kept_delivered == 0


def test_when_room_is_needed_delivered_events_go_before_any_pending_one(tmp_path: Path) -> None:
    store = OutboxStore(tmp_path / "outbox.sqlite", SOURCE, max_bytes=20_000, keep_delivered=3600)
    store.append([draft(Priority.CRITICAL, 1000) for _ in range(6)])
    store.append([draft(Priority.SAMPLE, 1000) for _ in range(6)])
    store.delete_delivered([1, 2, 3, 4, 5, 6])

    store.append([draft(Priority.CRITICAL, 1000) for _ in range(8)])

    status = store.status()
    assert status.shed_total == 0, "no pending presence sample was shed"
    assert [e.sequence for e in store.pending(0, 100)] == list(range(7, 21))
    assert status.kept_delivered < 6
    assert status.queued_bytes + status.kept_bytes <= 20_000


def test_an_outbox_from_before_keep_delivered_opens_with_its_events(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "outbox.sqlite"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE events (sequence INTEGER PRIMARY KEY, id TEXT NOT NULL, topic TEXT NOT "
        "NULL, payload BLOB NOT NULL, priority INTEGER NOT NULL, created_at REAL NOT NULL);"
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value);"
        "INSERT INTO events VALUES (1, 'x', 't', X'7B7D', 2, 1.0);"
        "INSERT INTO meta VALUES ('last_sequence', 1);"
    )
    old.commit()
    old.close()

    store = OutboxStore(path, SOURCE, keep_delivered=60)

    assert [e.sequence for e in store.pending(0, 10)] == [1]
    assert store.append([draft()])[0].sequence == 2
