"""The platform link's benchmarks measure what they claim: real kiosk events, every one
delivered, and one benchmark run alone on request."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections import defaultdict

import pytest

from benchmarks.__main__ import benchmark_names
from benchmarks.kiosk_fleet import Fleet, session_drafts
from edge.events import EventSource
from edge.hub.store import parse_event
from tests.conftest import Subscriber
from tests.mosquitto import Broker


def test_the_simulated_kiosks_events_are_events_the_hub_stores() -> None:
    source = EventSource("bench-store", "bench-kiosk-0001")
    for sequence, draft in enumerate(session_drafts(7), start=1):
        wire = source.envelope(
            draft,
            event_id=f"0190a000-0000-7000-8000-{sequence:012d}",
            sequence=sequence,
            time=1_700_000_000.0,
        )
        event = parse_event(wire)
        assert (event.device_id, event.sequence, event.type) == (
            "bench-kiosk-0001",
            sequence,
            draft.type,
        )


def test_every_simulated_kiosk_delivers_all_its_events_in_sequence(broker: Broker) -> None:
    platform = Subscriber(broker.port, topic="borne/v1/devices/+/events/#")
    platform.start()
    try:
        fleet = Fleet(broker.port, kiosks=3, events=15)  # more than one visit each
        fleet.wait_connected()
        fleet.publish_all()
        fleet.close()
        platform.wait_for(lambda sub: len(sub.events()) >= 45)
        events = platform.events()
    finally:
        platform.stop()
    sequences: dict[str, list[int]] = defaultdict(list)
    for event in events:
        sequences[event["source"]].append(int(event["sequence"]))
    assert {source: sorted(found) for source, found in sequences.items()} == {
        f"/stores/bench-store/devices/bench-kiosk-{number:04d}": list(range(1, 16))
        for number in range(3)
    }
    assert all(len(times) == 15 for times in fleet.publish_times().values())


def test_only_names_the_benchmarks_to_run() -> None:
    assert benchmark_names("hub_ingest, downlink") == ["hub_ingest", "downlink"]


def test_only_refuses_an_unknown_benchmark_and_lists_the_known_ones() -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=r"'hub_ingets'.*hub_ingest"):
        benchmark_names("hub_ingets")
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--only", "nope"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "unknown benchmark 'nope'" in result.stderr
