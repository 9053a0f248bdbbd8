"""The outbox: durable before accepted, gapless sequences, bounded by shedding low value."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.errors import OutboxFullError
from edge.events import EventDraft, EventSource, Priority
from edge.outbox import OutboxStore

SOURCE = EventSource("paris-01", "kiosk-07")


def draft(priority: Priority = Priority.CRITICAL, size: int = 10) -> EventDraft:
    return EventDraft("io.borne.product.scanned", {"pad": "x" * size}, priority)


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
    assert all(e.priority is Priority.CRITICAL for e in kept[-14:])
    assert sum(e.priority is Priority.CRITICAL for e in kept) == 14
    assert store.status().shed_total >= 1
    assert store.status().queued_bytes <= 20_000


def test_an_outbox_full_of_critical_events_refuses_more_and_keeps_them(tmp_path: Path) -> None:
    store = OutboxStore(tmp_path / "outbox.sqlite", SOURCE, max_bytes=8_000)
    store.append([draft(Priority.CRITICAL, 1000) for _ in range(5)])

    with pytest.raises(OutboxFullError):
        store.append([draft(Priority.CRITICAL, 1000) for _ in range(5)])

    assert [e.sequence for e in store.pending(0, 100)] == [1, 2, 3, 4, 5]
    assert store.append([]) == []
    assert store.status().last_sequence == 5  # the refused events took no sequence
