"""Delivery that cannot die silently: the uplink against a real mosquitto on loopback.

Each test reproduces a way delivery used to stop, leak or hammer the broker: a task
that raised, a broker that stayed away, events the broker refused, a link that
flapped, limits the broker announced in its CONNACK.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import signal
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from hypothesis import given
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from devices.backoff import Backoff
from edge.config import MqttConfig
from edge.errors import OutboxError
from edge.events import EventDraft, EventSource, Priority
from edge.outbox import OutboxStore
from edge.outbox_queue import Outbox
from edge.refusals import Refusals
from edge.uplink import Uplink
from edge.uplink_limits import MQTT_MAX_KEEPALIVE, BrokerLimits
from tests.asyncapi import check_message
from tests.conftest import Subscriber
from tests.mosquitto import Broker, free_port

pytestmark = pytest.mark.mqtt

SOURCE = EventSource("paris-01", "kiosk-07")
SESSION = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
SCAN = EventDraft(
    "io.borne.product.scanned",
    {
        "session_id": SESSION,
        "gtin": "03760123450010",
        "code_kind": "gtin",
        "symbology": "ean13",
        "found": True,
        "scanner": "camera",
    },
)
TAP = EventDraft(
    "io.borne.card.tapped", {"session_id": SESSION, "loyalty_pseudonym": "ab" * 32, "known": True}
)


def sample() -> EventDraft:
    """A presence sample (400 bytes of padding): the first kind of event the outbox sheds."""
    data = {"shopper": "cd" * 32, "zone": "near", "distance_m": 0.5, "pad": "x" * 400}
    return EventDraft("io.borne.presence.dwelled", data)


def open_outbox(path: Path, **options: Any) -> Outbox:
    return Outbox(lambda: OutboxStore(path, SOURCE, synchronous="normal", **options))


def mqtt_config(port: int, **options: Any) -> MqttConfig:
    settings: dict[str, Any] = {"reconnect_min": 0.05, "reconnect_max": 0.5}
    return MqttConfig(host="127.0.0.1", port=port, **(settings | options))


@asynccontextmanager
async def running(uplink: Uplink) -> AsyncIterator[Uplink]:
    task = asyncio.create_task(uplink.run())
    try:
        yield uplink
    finally:
        await uplink.close()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def until(predicate: Any, within: float = 20.0) -> None:
    """Wait until `predicate()` holds, as an operator watching would."""
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110 - watched from outside, as an operator
            await asyncio.sleep(0.02)


async def queue_holds(outbox: Outbox, count: int, within: float = 20.0) -> None:
    """Wait until the outbox holds `count` events."""
    async with asyncio.timeout(within):
        while (await outbox.status()).queued != count:  # noqa: ASYNC110 - watched from outside
            await asyncio.sleep(0.02)


async def queue_empties(outbox: Outbox, within: float = 20.0) -> None:
    """Wait until every event is delivered."""
    await queue_holds(outbox, 0, within)


def received(subscriber: Subscriber) -> list[int]:
    return sorted({int(event["sequence"]) for event in subscriber.events()})


class FailingOnceOutbox(Outbox):
    """An outbox whose first delete fails, as a disk that filled up for a moment."""

    failures = 1

    async def delete_delivered(self, sequences: Sequence[int]) -> None:
        if self.failures:
            self.failures -= 1
            raise OutboxError("outbox delete failed: database or disk is full")
        await super().delete_delivered(sequences)


def test_a_task_that_raises_is_logged_restarted_and_delivery_goes_on(
    tmp_path: Path, broker: Broker, subscriber: Subscriber, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        outbox = FailingOnceOutbox(lambda: OutboxStore(tmp_path / "o.sqlite", SOURCE))
        uplink = Uplink(mqtt_config(broker.port), SOURCE, outbox, boot_count=1)
        async with running(uplink):
            await outbox.append(*[SCAN] * 10)
            await queue_empties(outbox)
            await outbox.append(*[SCAN] * 10)
            await queue_empties(outbox)
            assert uplink.status().restarts == 1
            assert "disk is full" in (await outbox.status()).link_detail
            # Once restarted, the link says what it is doing now, not what it went through.
            await until(lambda: uplink.status().state == "connected")
        outbox.close()

    with caplog.at_level(logging.WARNING, logger="edge.uplink"):
        asyncio.run(scenario())
    failures = [r for r in caplog.records if "disk is full" in r.getMessage()]
    assert len(failures) == 1, "the failure is logged once"
    subscriber.wait_for(lambda s: received(s) == list(range(1, 21)))


def test_a_keepalive_beyond_what_mqtt_can_carry_still_connects(
    tmp_path: Path, broker: Broker, subscriber: Subscriber
) -> None:
    async def scenario() -> None:
        outbox = open_outbox(tmp_path / "o.sqlite")
        # Whatever a config object says (one built without validation, here), the uplink
        # must not die of it.
        config = MqttConfig.model_construct(
            host="127.0.0.1",
            port=broker.port,
            keepalive=70_000,
            inflight=20,
            reconnect_min=0.05,
            reconnect_max=0.5,
        )
        uplink = Uplink(config, SOURCE, outbox, boot_count=1)
        async with running(uplink):
            await outbox.append(SCAN)
            await queue_empties(outbox)
            assert uplink.status().keepalive == MQTT_MAX_KEEPALIVE
        outbox.close()

    asyncio.run(scenario())
    subscriber.wait_for(lambda s: received(s) == [1])


def test_memory_stays_bounded_while_the_broker_is_away_and_shed_means_gone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = tmp_path / "broker"
    directory.mkdir()
    broker = Broker(directory, free_port())  # not started yet: the store is offline

    async def scenario() -> tuple[list[int], Subscriber]:
        outbox = open_outbox(tmp_path / "o.sqlite", max_bytes=300_000)
        uplink = Uplink(mqtt_config(broker.port), SOURCE, outbox, boot_count=1)
        async with running(uplink):
            for _ in range(20):  # 2,000 events, each its own commit as in a busy store
                await asyncio.gather(*(outbox.append(sample()) for _ in range(90)))
                await asyncio.gather(*(outbox.append(SCAN) for _ in range(10)))
                assert uplink.status().held <= Uplink.READ_AHEAD
            status = await outbox.status()
            assert status.shed_total > 0
            kept = [event.sequence for event in await outbox.pending(0, 10_000)]
            broker.start()
            subscriber = Subscriber(broker.port)
            subscriber.start()
            await queue_empties(outbox, within=60)
        outbox.close()
        return kept, subscriber

    try:
        with caplog.at_level(logging.WARNING):
            kept, subscriber = asyncio.run(scenario())
        subscriber.wait_for(lambda s: set(received(s)) >= set(kept))
        subscriber.stop()
    finally:
        broker.kill(signal.SIGTERM)
    events = subscriber.events()
    published = {int(e["sequence"]) for e in events}
    reports = [e["data"] for e in events if e["type"] == "io.borne.outbox.shed"]
    shed = {s for r in reports for first, last in r["ranges"] for s in range(first, last + 1)}
    assert published == set(kept), "only what the outbox kept is published"
    assert not published & shed
    last = max(published)
    assert published | shed == set(range(1, last + 1)), "every gap is reported as shed"
    assert all(r["count"] == sum(b - a + 1 for a, b in r["ranges"]) for r in reports)
    assert all(
        (r["first_sequence"], r["last_sequence"]) == (r["ranges"][0][0], r["ranges"][-1][1])
        for r in reports
    )
    scans = {int(e["sequence"]) for e in events if e["type"] == "io.borne.product.scanned"}
    assert len(scans) == 200, "scans are never shed"
    for topic, payload, _ in subscriber.messages:
        check_message(topic, payload)
    shedding = [r for r in caplog.records if "shed" in r.getMessage()]
    assert len(shedding) < 10, "a repeated condition is logged once, with a count"


def refusing_broker(tmp_path: Path, **options: str) -> Broker:
    """A broker whose ACL refuses card taps from anonymous clients (PUBACK 0x87)."""
    directory = tmp_path / "broker"
    directory.mkdir()
    acl = directory / "acl"
    acl.write_text(
        "topic readwrite borne/v1/devices/+/state\n"
        "topic readwrite borne/v1/devices/+/events/product.scanned\n"
        "topic read borne/#\n"
    )
    broker = Broker(
        directory, free_port(), listener_options=f"allow_anonymous true\nacl_file {acl}"
    )
    broker.start()
    return broker


def test_refused_events_back_off_each_on_its_own_and_are_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broker = refusing_broker(tmp_path)

    async def scenario() -> Uplink:
        outbox = open_outbox(tmp_path / "o.sqlite")
        uplink = Uplink(mqtt_config(broker.port), SOURCE, outbox, boot_count=1)
        uplink.REFUSED_RETRY_MIN = 0.05
        async with running(uplink):
            await outbox.append(*[TAP] * 5)
            await outbox.append(*[SCAN] * 5)
            # Each refused tap is retried on its own, four times at least by now.
            await until(lambda: uplink.status().refusals >= 20)
            assert uplink.status().refused == 5
            assert uplink.status().connects == 1, "a refusal is not a reason to reconnect"
            status = await outbox.status()
            assert status.queued == 5, "refused events are kept, the others delivered"
            assert status.delivered_total == 5
        outbox.close()
        return uplink

    try:
        with caplog.at_level(logging.INFO, logger="edge.uplink"):
            asyncio.run(scenario())
    finally:
        broker.kill(signal.SIGTERM)
    refusals = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == 1, [r.getMessage() for r in refusals]
    assert "5 events" in refusals[0].getMessage()


class Kicker:
    """Another client with the kiosk's id: each connect takes the kiosk's session over."""

    def __init__(self, port: int) -> None:
        self.port = port

    def kick(self) -> None:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="kiosk-07", protocol=MQTTProtocolVersion.MQTTv5
        )
        client.connect("127.0.0.1", self.port)
        client.loop(timeout=1.0)
        client.disconnect()


def test_a_flapping_link_backs_off_instead_of_reconnecting_at_once(
    tmp_path: Path, broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    backoff = Backoff(base=0.01, cap=0.05, rng=random.Random(4))

    async def scenario() -> None:
        outbox = open_outbox(tmp_path / "o.sqlite")
        uplink = Uplink(mqtt_config(broker.port), SOURCE, outbox, boot_count=1, backoff=backoff)
        # The kicker reuses the kiosk's id, as a twin kiosk would: this test is about
        # drops, so the twin's long wait is taken out.
        uplink.TAKEN_OVER_MIN = uplink.TAKEN_OVER_MAX = 0.01
        kicker = Kicker(broker.port)
        async with running(uplink):
            for connects in range(1, 5):
                await until(lambda n=connects: uplink.status().connects == n)
                await until(lambda: uplink.status().connected)
                await asyncio.to_thread(kicker.kick)
            await until(lambda: uplink.status().connects == 5)
            # Up for less than STABLE_AFTER each time: the backoff was never reset.
            assert backoff.attempts >= 4
        outbox.close()

    with caplog.at_level(logging.INFO, logger="edge.uplink"):
        asyncio.run(scenario())
    lines = [r.getMessage() for r in caplog.records]
    assert len([line for line in lines if "dropped" in line]) == 1, lines
    assert len([line for line in lines if "connected to" in line]) == 1, lines


def limited_broker(tmp_path: Path) -> Broker:
    directory = tmp_path / "broker"
    directory.mkdir()
    broker = Broker(
        directory,
        free_port(),
        options="max_inflight_messages 3\nmax_packet_size 2048\nmax_keepalive 10\n"
        "max_topic_alias 4\n",
    )
    broker.start()
    return broker


def test_the_broker_s_connack_limits_are_honoured(tmp_path: Path) -> None:
    broker = limited_broker(tmp_path)
    subscriber = Subscriber(broker.port)
    subscriber.start()
    oversize = EventDraft("io.borne.product.scanned", {**SCAN.data, "pad": "x" * 4000})

    async def scenario() -> None:
        outbox = open_outbox(tmp_path / "o.sqlite")
        uplink = Uplink(mqtt_config(broker.port, keepalive=60), SOURCE, outbox, boot_count=1)
        async with running(uplink):
            await outbox.append(oversize)  # first: its topic's alias must not be taken
            await outbox.append(*[SCAN] * 40)
            await until(lambda: len(received(subscriber)) == 40)
            await until(lambda: (uplink.status().refused, uplink.status().in_flight) == (1, 0))
            status = uplink.status()
            assert (status.window, status.keepalive, status.max_packet) == (3, 10, 2048)
            assert status.topic_aliases == 4
            assert status.connects == 1, "the link never dropped"
            await queue_holds(outbox, 1)  # the oversize event is kept
        outbox.close()

    try:
        asyncio.run(scenario())
        assert 1 not in received(subscriber)
    finally:
        subscriber.stop()
        broker.kill(signal.SIGTERM)


def connack(**values: int) -> Properties:
    properties = Properties(PacketTypes.CONNACK)  # type: ignore[no-untyped-call]
    for name, value in values.items():
        setattr(properties, name, value)
    return properties


@given(
    inflight=st.integers(1, 1000),
    keepalive=st.integers(0, 10**6),
    receive_maximum=st.one_of(st.none(), st.integers(1, 65535)),
    server_keepalive=st.one_of(st.none(), st.integers(0, 65535)),
    max_packet=st.one_of(st.none(), st.integers(1, 268_435_455)),
    aliases=st.one_of(st.none(), st.integers(0, 65535)),
)
def test_connack_limits_are_read_into_a_safe_window(
    inflight: int,
    keepalive: int,
    receive_maximum: int | None,
    server_keepalive: int | None,
    max_packet: int | None,
    aliases: int | None,
) -> None:
    values = {
        "ReceiveMaximum": receive_maximum,
        "ServerKeepAlive": server_keepalive,
        "MaximumPacketSize": max_packet,
        "TopicAliasMaximum": aliases,
    }
    properties = connack(**{k: v for k, v in values.items() if v is not None})

    limits = BrokerLimits.from_connack(properties, inflight=inflight, keepalive=keepalive)

    assert 1 <= limits.window <= inflight
    assert limits.window <= (receive_maximum or 65535)
    assert 0 <= limits.keepalive <= MQTT_MAX_KEEPALIVE
    if server_keepalive is not None:
        assert limits.keepalive == server_keepalive
    assert limits.max_packet == max_packet
    assert limits.topic_aliases == (aliases or 0)


def test_limits_without_connack_properties_are_the_configured_ones() -> None:
    limits = BrokerLimits.from_connack(None, inflight=20, keepalive=30)
    assert (limits.window, limits.keepalive, limits.max_packet, limits.topic_aliases) == (
        20,
        30,
        None,
        0,
    )


def test_the_shed_report_is_in_the_contract() -> None:
    report = json.loads(
        SOURCE.envelope(
            EventDraft(
                "io.borne.outbox.shed",
                {"count": 3, "first_sequence": 2, "last_sequence": 6, "ranges": [[2, 3], [6, 6]]},
                Priority.CRITICAL,
            ),
            event_id="0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
            sequence=7,
            time=0.0,
        )
    )
    check_message("borne/v1/devices/kiosk-07/events/outbox.shed", json.dumps(report).encode())


def test_a_link_that_stayed_up_reconnects_from_the_smallest_delay(
    tmp_path: Path, broker: Broker
) -> None:
    backoff = Backoff(base=0.01, cap=0.05, rng=random.Random(4))

    async def scenario() -> None:
        outbox = open_outbox(tmp_path / "o.sqlite")
        uplink = Uplink(mqtt_config(broker.port), SOURCE, outbox, boot_count=1, backoff=backoff)
        uplink.STABLE_AFTER = 0.2
        async with running(uplink):
            await until(lambda: uplink.status().connected)
            await asyncio.sleep(0.4)  # a link that lasts
            await asyncio.to_thread(Kicker(broker.port).kick)
            await until(lambda: uplink.status().connects == 2)
            assert backoff.attempts == 1, "one delay counted since the reset"
        outbox.close()

    asyncio.run(scenario())


class Ceiling(random.Random):
    """Jitter that always draws the longest delay allowed: the backoff's ceiling shows."""

    def uniform(self, a: float, b: float) -> float:
        return b


class RecordingLoop:
    """Just enough of an event loop to see the delays a refusal asks for."""

    def __init__(self) -> None:
        self.delays: dict[int, list[float]] = {}
        self.loop = asyncio.new_event_loop()

    def call_later(self, delay: float, callback: Any, *args: Any) -> asyncio.TimerHandle:
        if args:
            self.delays.setdefault(args[0], []).append(delay)
        return self.loop.call_later(3600, lambda: None)


def test_each_refused_event_waits_longer_after_each_refusal_up_to_a_cap() -> None:
    recording = RecordingLoop()
    refusals = Refusals(
        recording,  # type: ignore[arg-type]
        base=5.0,
        cap=300.0,
        on_due=lambda: None,
        rng=Ceiling(),
    )
    for _ in range(9):
        refusals.refuse(7, "Not authorized")
    refusals.refuse(8, "Not authorized")

    assert recording.delays[7] == [5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 300.0, 300.0, 300.0]
    assert recording.delays[8] == [5.0], "another event is not held back by the first"
    refusals.accepted(7)
    assert (len(refusals), refusals.total) == (1, 10)
    refusals.close()
    recording.loop.close()


def test_kept_delivered_events_are_never_published_again_on_their_own(
    tmp_path: Path, broker: Broker, subscriber: Subscriber
) -> None:
    path = tmp_path / "o.sqlite"

    async def deliver(count: int) -> int:
        """A kiosk run that delivers `count` scans, then stops; the kept events after it."""
        outbox = open_outbox(path, keep_delivered=3600)
        uplink = Uplink(mqtt_config(broker.port), SOURCE, outbox, boot_count=1)
        async with running(uplink):
            await outbox.append(*[SCAN] * count)
            await queue_empties(outbox)
        kept = (await outbox.status()).kept_delivered
        outbox.close()
        return kept

    assert asyncio.run(deliver(5)) == 5
    assert asyncio.run(deliver(3)) == 8  # a restart reads the outbox again: 1..5 stay kept

    subscriber.wait_for(lambda s: received(s) == list(range(1, 9)))
    sequences = [int(event["sequence"]) for event in subscriber.events()]
    assert sorted(sequences) == list(range(1, 9)), "each event published once"
