"""Events travel from the simulated devices to a real broker, and none is lost.

These run `borne simulate` as a separate process against a real mosquitto on
loopback and check what a platform-side subscriber receives.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest
from cloudevents.core.formats.json import JSONFormat

from tests.asyncapi import check_message
from tests.conftest import BORNE, Subscriber, borne, outbox_status, write_config
from tests.mosquitto import Broker

pytestmark = pytest.mark.mqtt


def sequences(subscriber: Subscriber) -> list[int]:
    """The sequence numbers received, in arrival order."""
    return [int(event["sequence"]) for event in subscriber.events()]


def assert_all_delivered(subscriber: Subscriber, last: int) -> None:
    """Every sequence 1..last arrived, and duplicates carry the same id."""
    by_sequence: dict[int, set[str]] = {}
    for event in subscriber.events():
        by_sequence.setdefault(int(event["sequence"]), set()).add(event["id"])
    assert sorted(by_sequence) == list(range(1, last + 1))
    assert all(len(ids) == 1 for ids in by_sequence.values()), "a resent event changed its id"


def test_journeys_deliver_cloudevents_in_sequence(
    tmp_path: Path, broker: Broker, subscriber: Subscriber
) -> None:
    config = write_config(tmp_path / "kiosk.toml", tmp_path / "data", broker.port)

    result = borne(
        "simulate", "--config", str(config), "--journeys", "12", "--seed", "3", "--wait-delivered"
    )

    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["first_sequence"] == 1
    last = summary["last_sequence"]
    # A journey is a start, a card tap, one to three scans and an end.
    assert 12 * 4 <= last <= 12 * 6
    subscriber.wait_for(lambda s: len(s.events()) >= last)
    assert_all_delivered(subscriber, last)
    assert outbox_status(config)["queued"] == 0

    topics = [topic for topic, _, _ in subscriber.messages if "/events/" in topic]
    raw = [payload for topic, payload, _ in subscriber.messages if "/events/" in topic]
    properties = [props for topic, _, props in subscriber.messages if "/events/" in topic]
    for topic, payload, props in zip(topics, raw, properties, strict=True):
        event = JSONFormat().read(None, payload)  # the official SDK validates every event
        assert event.get_specversion() == "1.0"
        assert event.get_source() == "/stores/paris-01/devices/kiosk-07"
        short_type = event.get_type().removeprefix("io.borne.")
        assert topic == f"borne/v1/devices/kiosk-07/events/{short_type}"
        time = event.get_time()
        assert time is not None
        assert time.utcoffset() == timedelta(0)
        assert props.ContentType == "application/cloudevents+json; charset=utf-8"
    types = {event["type"] for event in subscriber.events()}
    assert types == {
        "io.borne.session.started",
        "io.borne.card.tapped",
        "io.borne.product.scanned",
        "io.borne.session.ended",
    }
    for topic, payload, _ in subscriber.messages:
        check_message(topic, payload)  # events and state, as docs/asyncapi.yaml says
    ids = [event["id"] for event in subscriber.events()]
    assert all(event_id[14] == "7" for event_id in ids), "ids are UUIDv7"
    assert ids == sorted(ids), "UUIDv7 ids follow the sequence"


def test_card_numbers_never_leave_the_device(
    tmp_path: Path, broker: Broker, subscriber: Subscriber
) -> None:
    config = write_config(tmp_path / "kiosk.toml", tmp_path / "data", broker.port)

    result = borne("simulate", "--config", str(config), "--journeys", "6", "--wait-delivered")

    assert result.returncode == 0, result.stderr
    everything = b"".join(payload for _, payload, _ in subscriber.messages)
    for card in (b"9250000000017", b"9250000000024", b"9250000000031"):
        assert card not in everything
    taps = [e for e in subscriber.events() if e["type"] == "io.borne.card.tapped"]
    assert len(taps) == 6
    assert all(len(tap["data"]["loyalty_pseudonym"]) == 64 for tap in taps)
    assert all(tap["data"]["known"] for tap in taps)


def test_events_wait_in_the_outbox_without_a_broker(kiosk_config: Path) -> None:
    result = borne("simulate", "--config", str(kiosk_config), "--journeys", "3", "--seed", "1")

    assert result.returncode == 0, result.stderr
    status = outbox_status(kiosk_config)
    assert status["queued"] == status["last_sequence"] == json.loads(result.stdout)["events"]
    assert status["delivered_total"] == 0


def test_nothing_is_lost_across_kill_9_of_the_runtime(
    tmp_path: Path, broker: Broker, subscriber: Subscriber
) -> None:
    config = write_config(tmp_path / "kiosk.toml", tmp_path / "data", broker.port)
    for round_number in range(3):
        process = subprocess.Popen(
            [
                *BORNE,
                "simulate",
                "--config",
                str(config),
                "--journeys",
                "200",
                "--seed",
                str(round_number),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(2.5 + round_number)  # mid-run: journeys are under way
        os.kill(process.pid, signal.SIGKILL)
        process.wait()

    result = borne("simulate", "--config", str(config), "--journeys", "2", "--wait-delivered")

    assert result.returncode == 0, result.stderr
    last = json.loads(result.stdout)["last_sequence"]
    assert last > 30, "the killed runs had produced events"
    subscriber.wait_for(lambda s: max(sequences(s), default=0) >= last)
    assert_all_delivered(subscriber, last)


def test_nothing_is_lost_when_the_broker_restarts(
    tmp_path: Path, broker: Broker, subscriber: Subscriber
) -> None:
    config = write_config(tmp_path / "kiosk.toml", tmp_path / "data", broker.port)
    process = subprocess.Popen(
        [
            *BORNE,
            "simulate",
            "--config",
            str(config),
            "--journeys",
            "14",
            "--seed",
            "5",
            "--wait-delivered",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    subscriber.wait_for(lambda s: len(s.events()) >= 10)
    broker.kill(signal.SIGKILL)
    time.sleep(1.5)  # events pile up in the outbox meanwhile
    broker.start()

    stdout, stderr = process.communicate(timeout=240)

    assert process.returncode == 0, stderr
    last = json.loads(stdout)["last_sequence"]
    subscriber.wait_for(lambda s: max(sequences(s), default=0) >= last)
    assert_all_delivered(subscriber, last)


def test_device_state_is_retained_online_then_offline(
    tmp_path: Path, broker: Broker, subscriber: Subscriber
) -> None:
    config = write_config(tmp_path / "kiosk.toml", tmp_path / "data", broker.port)
    for _ in range(2):
        assert (
            borne(
                "simulate", "--config", str(config), "--journeys", "1", "--wait-delivered"
            ).returncode
            == 0
        )

    states = [json.loads(p) for t, p, _ in subscriber.messages if t.endswith("/state")]
    assert [s["state"] for s in states] == ["online", "offline", "online", "offline"]
    assert [s["boot"] for s in states if s["state"] == "online"] == [1, 2]
