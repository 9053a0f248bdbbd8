"""Each store's advisor call queue, as a real hub publishes it from its event store.

Two kiosks call; an associate takes one; a shopper walks away; the store's kiosks read
the queue, retained, on `borne/v1/stores/{store}/assist`. Another hub process, started
on the same event store, publishes the same calls: the queue lives in the events.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from edge.hub.assist_queue import AssistQueues, open_calls, queue_document
from edge.hub.store import SqliteEventStore, StoredEvent
from edge.hub.streams import SqliteStreamDatabase
from edge.hub.streams.lookups import StaffLookups
from tests.asyncapi import check_message
from tests.conftest import borne
from tests.hub_staff_fixtures import (
    DEMO_FEEDS,
    LEA,
    STAFF_FEEDS,
    Client,
    event_topic,
    hub_config,
    kiosk_event,
    start_hub,
    stop_hub,
    wait_until_serving,
)
from tests.mosquitto import Broker

QUEUE = "borne/v1/stores/paris-01/assist"
NOMADE = "3760123450010"
SESSION_A, SESSION_B, SESSION_Z = (
    str(uuid.uuid4()) for _ in range(3)
)  # "Casque sans fil Nomade ANC" in the demo catalog


def queues(client: Client) -> list[dict[str, Any]]:
    """The queue documents received, oldest first, each checked against the contract."""
    found = []
    for topic, payload, _, _ in client.received:
        if topic == QUEUE:
            check_message(topic, payload)
            found.append(json.loads(payload))
    return found


def latest(client: Client, holds: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """Wait for a queue document that `holds`; the first such."""
    client.wait_for(lambda _: any(holds(queue) for queue in queues(client)))
    return next(queue for queue in queues(client) if holds(queue))


@pytest.mark.mqtt
def test_two_kiosks_calls_are_queued_taken_and_gone_when_the_shopper_leaves(
    tmp_path: Path, broker: Broker
) -> None:
    config = hub_config(tmp_path, broker.port, "hub-one")
    files = [str(DEMO_FEEDS / name) for name in STAFF_FEEDS]
    assert borne("hub", "import", "--config", str(config), *files).returncode == 0
    hub = start_hub(config)
    kiosks = Client(broker.port, "kiosks").start("borne/v1/devices/+/res/#", QUEUE)
    try:
        wait_until_serving(kiosks)
        call_a = kiosk_event(
            "io.borne.assist.requested", "kiosk-a", 1, {"session_id": SESSION_A, "gtin": NOMADE}
        )
        call_b = kiosk_event(
            "io.borne.assist.requested", "kiosk-b", 1, {"session_id": SESSION_B, "gtin": None}
        )
        for event in (call_a, call_b):
            check_message(event_topic("kiosk-a", event), json.dumps(event).encode())
        kiosks.publish_events([call_a, call_b])
        both = latest(kiosks, lambda queue: len(queue["calls"]) == 2)
        assert both["store"] == "paris-01"
        by_device = {call["device"]: call for call in both["calls"]}
        assert by_device["kiosk-a"]["call"] == call_a["id"]
        assert by_device["kiosk-a"]["title"] == "Casque sans fil Nomade ANC"
        assert by_device["kiosk-b"]["gtin"] is None
        assert all(call["taken_by"] is None for call in both["calls"])

        taken = kiosk_event(
            "io.borne.assist.taken",
            "kiosk-staff",
            1,
            {"call": call_a["id"], "device": "kiosk-a", "staff": LEA},
        )
        check_message(event_topic("kiosk-staff", taken), json.dumps(taken).encode())
        kiosks.publish_events([taken])
        latest(
            kiosks,
            lambda queue: any(call["taken_by"] == "Léa D." for call in queue["calls"]),
        )

        kiosks.publish_events(
            [kiosk_event("io.borne.session.ended", "kiosk-a", 2, {"session_id": SESSION_A})]
        )
        left = latest(
            kiosks, lambda queue: [call["device"] for call in queue["calls"]] == ["kiosk-b"]
        )
        # A kiosk that starts now reads the store's queue at once: it is retained.
        newcomer = Client(broker.port, "newcomer").start(QUEUE)
        try:
            newcomer.wait_for(lambda received: bool(received))
            _, payload, _, retained = newcomer.received[0]
            assert retained
            assert json.loads(payload)["calls"] == left["calls"]
        finally:
            newcomer.stop()
    finally:
        counters, _ = stop_hub(hub)
    assert counters["assist_published"] >= 3

    # Another hub process on the same event store publishes the same calls.
    other = start_hub(hub_config(tmp_path, broker.port, "hub-two"))
    try:
        wait_until_serving(kiosks)
        before = len(queues(kiosks))
        # The first hub's session still shares the subscription at the broker, which may
        # hand it an event: shoppers leave other kiosks until the new hub has one.
        for sequence in range(1, 11):
            ended = {"session_id": str(uuid.uuid4())}
            kiosks.publish_events(
                [kiosk_event("io.borne.session.ended", f"kiosk-z{sequence}", 1, ended)]
            )
            try:
                kiosks.wait_for(lambda _: len(queues(kiosks)) > before, timeout=2.0)
            except AssertionError:
                continue
            break
        assert len(queues(kiosks)) > before, "the second hub published no queue"
        assert queues(kiosks)[-1]["calls"] == left["calls"]
    finally:
        kiosks.stop()
        stop_hub(other)


def stored(kind: str, device: str, at: datetime, **data: Any) -> StoredEvent:
    return StoredEvent(device, f"{kind}-{device}-{at.timestamp()}", kind, at, data)


def test_a_call_is_forgotten_after_30_minutes_and_a_taken_one_after_10() -> None:
    now = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
    old = stored("io.borne.assist.requested", "kiosk-old", now - timedelta(minutes=31))
    fresh = stored("io.borne.assist.requested", "kiosk-a", now - timedelta(minutes=12))
    recent = stored("io.borne.assist.requested", "kiosk-b", now - timedelta(minutes=5))
    taken_long_ago = stored(
        "io.borne.assist.taken", "staff", now - timedelta(minutes=11), call=fresh.id, staff=LEA
    )
    taken_now = stored(
        "io.borne.assist.taken", "staff", now - timedelta(minutes=1), call=recent.id, staff=LEA
    )
    calls = open_calls([taken_now, recent, taken_long_ago, fresh, old], now)
    assert [(call.device, call.taken_by) for call in calls] == [("kiosk-b", LEA)]
    # A call made after the shopper's session ended is a new shopper's: it stays.
    ended = stored("io.borne.session.ended", "kiosk-b", now - timedelta(minutes=6))
    assert [call.device for call in open_calls([ended, recent], now)] == ["kiosk-b"]
    assert open_calls([recent, stored("io.borne.session.ended", "kiosk-b", now)], now) == []


def test_a_queue_with_calls_is_published_again_as_they_age_out(tmp_path: Path) -> None:
    events = SqliteEventStore(tmp_path / "events.sqlite")
    streams = SqliteStreamDatabase(tmp_path / "streams.sqlite")
    call = kiosk_event("io.borne.assist.requested", "kiosk-a", 1, {"gtin": None})
    events.ingest([json.dumps(call).encode()])
    clock = [datetime.now(UTC)]
    queues = AssistQueues(
        events, StaffLookups(streams), now=lambda: clock[0], every=0.0, refresh=0.05
    )
    published: list[dict[str, Any]] = []

    async def scenario() -> None:
        arrived = asyncio.Event()

        def publish(topic: str, payload: bytes) -> bool:
            assert topic == QUEUE
            published.append(json.loads(payload))
            arrived.set()
            return True

        async def next_queue() -> dict[str, Any]:
            await arrived.wait()
            arrived.clear()
            return published[-1]

        task = asyncio.create_task(queues.run(publish))
        try:
            queues.notice(["paris-01"])
            assert len((await next_queue())["calls"]) == 1
            clock[0] += timedelta(minutes=31)  # no event comes: the refresh says it
            while (await next_queue())["calls"]:
                pass
        finally:
            task.cancel()

    try:
        asyncio.run(asyncio.wait_for(scenario(), 30))
    finally:
        events.close()
        streams.close()
    assert published[-1]["calls"] == []


def test_a_call_naming_a_malformed_gtin_is_listed_without_a_product() -> None:
    now = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
    minute = now - timedelta(minutes=1)
    calls = open_calls(
        [
            stored("io.borne.assist.requested", "kiosk-a", minute, gtin="7" * 200),
            stored("io.borne.assist.requested", "kiosk-b", minute, gtin="376012345001x"),
            stored("io.borne.assist.requested", "kiosk-c", minute, gtin=NOMADE),
        ],
        now,
    )
    assert [(call.device, call.gtin) for call in calls] == [
        ("kiosk-a", None),
        ("kiosk-b", None),
        ("kiosk-c", NOMADE),
    ]
    for call in calls:
        call.call = str(uuid.uuid4())  # as a kiosk's event ids are
    document = queue_document("paris-01", calls, now, {}, {})
    check_message(QUEUE, json.dumps(document).encode())


def run_queues(
    queues: AssistQueues,
    publish: Callable[[str, bytes], bool],
    until: Callable[[], bool],
    *,
    busy_store: str | None = None,
) -> None:
    """Run the queues until `until()`; `busy_store` noticed every 10 ms meanwhile."""

    async def scenario() -> None:
        task = asyncio.create_task(queues.run(publish))
        try:
            while not until():
                if busy_store is not None:
                    queues.notice([busy_store])
                await asyncio.sleep(0.01)
        finally:
            task.cancel()

    asyncio.run(asyncio.wait_for(scenario(), 20))


def test_a_quiet_store_s_calls_age_out_while_other_stores_are_busy(tmp_path: Path) -> None:
    events = SqliteEventStore(tmp_path / "events.sqlite")
    streams = SqliteStreamDatabase(tmp_path / "streams.sqlite")
    call = kiosk_event("io.borne.assist.requested", "kiosk-a", 1, {"gtin": None})
    events.ingest([json.dumps(call).encode()])
    clock = [datetime.now(UTC)]
    queues = AssistQueues(
        events, StaffLookups(streams), now=lambda: clock[0], every=0.0, refresh=0.05
    )
    paris: list[dict[str, Any]] = []

    def publish(topic: str, payload: bytes) -> bool:
        if topic == QUEUE:
            paris.append(json.loads(payload))
            if paris[0]["calls"]:  # shown once: then no event comes, time passes
                clock[0] = datetime.now(UTC) + timedelta(minutes=31)
        return True

    queues.notice(["paris-01"])
    try:
        # Lyon's kiosks are busy all along: Paris's call must still age out.
        run_queues(
            queues, publish, lambda: bool(paris) and not paris[-1]["calls"], busy_store="lyon-01"
        )
    finally:
        events.close()
        streams.close()
    assert len(paris[0]["calls"]) == 1


def test_a_queue_the_broker_did_not_take_is_published_again(tmp_path: Path) -> None:
    events = SqliteEventStore(tmp_path / "events.sqlite")
    streams = SqliteStreamDatabase(tmp_path / "streams.sqlite")
    queues = AssistQueues(events, StaffLookups(streams), every=0.0, refresh=0.05)
    attempts: list[bool] = []

    def publish(topic: str, payload: bytes) -> bool:
        attempts.append(len(attempts) > 0)  # the link is down at the first attempt only
        return attempts[-1]

    queues.notice(["paris-01"])  # the last call went: an empty queue to say so
    try:
        run_queues(queues, publish, lambda: any(attempts))
    finally:
        events.close()
        streams.close()
    assert attempts[:2] == [False, True]
