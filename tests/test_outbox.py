"""The outbox: durable before accepted, gapless sequences, bounded by shedding low value."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge.errors import OutboxFullError
from edge.events import EventDraft, EventSource, Priority
from edge.outbox import LinkRecord, OutboxStore, describe_status, read_status

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
    assert status.queued_bytes <= 20_000
    assert status.shed_total > 0
    lines = describe_status(status, now=1001.0)
    assert "uplink:             restarting after a failure: disk is full" in lines
    assert "uplink restarts:    2" in lines
    assert f"shed when full:     {status.shed_total} (reported to the platform)" in lines
