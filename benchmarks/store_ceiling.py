"""The hub's own costs without MQTT: parsing events, and the event store taking batches.

A diagnostic beside `benchmarks.hub_ingest`, in the same run: if the hub ingests far
below what its store takes alone at the batch size it reaches, the time is lost in the
service between the broker and the store, not in the database.
"""

from __future__ import annotations

import time
from pathlib import Path

from benchmarks.kiosk_fleet import STORE_ID, device_name, kiosk_outbox
from edge.events import EventSource
from edge.hub.config import load_hub_config
from edge.hub.service import HubService
from edge.hub.store import IncomingEvent, parse_event


def kiosk_events(kiosks: int, events: int) -> list[bytes]:
    """The payloads the simulated fleet sends, made the same way (without connecting)."""
    return [
        payload
        for number in range(kiosks)
        for _, payload in kiosk_outbox(EventSource(STORE_ID, device_name(number)), events)
    ]


def parse_rate(payloads: list[bytes]) -> tuple[float, list[IncomingEvent]]:
    """Events parsed per second by the hub's `parse_event`, and the parsed events."""
    started = time.perf_counter()
    parsed = [parse_event(payload) for payload in payloads]
    return len(parsed) / (time.perf_counter() - started), parsed


def store_rate(config: Path, events: list[IncomingEvent]) -> float:
    """Events stored per second by the configured store, in the hub's largest batches."""
    store = load_hub_config(config, environ={}).store.open()
    try:
        started = time.perf_counter()
        for first in range(0, len(events), HubService.BATCH_SIZE):
            store.ingest(events[first : first + HubService.BATCH_SIZE])
        return len(events) / (time.perf_counter() - started)
    finally:
        store.close()
