"""Delivery through a store's bad days, against a real mosquitto on loopback.

Each test is a row of the fault campaign: the outbox's write lock held by another
process during a drain, events the broker refused for a while, two kiosks left on the
same device id, a broker that came back after a long outage, a broker killed -9 that
had acknowledged events it never passed on.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import signal
from pathlib import Path

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from devices.backoff import Backoff
from edge.config import MqttConfig
from edge.disconnect_reasons import disconnect_reason
from edge.events import EventSource
from edge.takeovers import TakeoverWatch
from edge.uplink import Uplink
from tests.conftest import Subscriber
from tests.mosquitto import Broker, free_port
from tests.test_event_recovery import Requester, kiosk
from tests.test_outbox_retry import write_lock_held
from tests.test_uplink_resilience import (
    SCAN,
    TAP,
    mqtt_config,
    open_outbox,
    queue_empties,
    running,
    until,
)

pytestmark = pytest.mark.mqtt

SOURCE = EventSource("paris-01", "kiosk-07")


def sequences(subscriber: Subscriber, kind: str = "") -> list[int]:
    """Sequences of the events received, in arrival order (every copy)."""
    return [int(e["sequence"]) for e in subscriber.events() if kind in e["type"]]


def test_a_lock_held_during_a_drain_neither_stalls_delivery_nor_resends_anything(
    tmp_path: Path, broker: Broker, subscriber: Subscriber, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "o.sqlite"

    async def scenario() -> None:
        outbox = open_outbox(path)
        await outbox.append(*[SCAN] * 300)
        uplink = Uplink(mqtt_config(broker.port, inflight=5), SOURCE, outbox, boot_count=1)
        uplink.DELETE_RETRY_MIN, uplink.DELETE_RETRY_MAX = 0.05, 0.5
        with write_lock_held(path) as release:
            async with running(uplink):
                # Every event reaches the platform while no delete can be written.
                await asyncio.to_thread(subscriber.wait_for, lambda s: len(sequences(s)) >= 300, 60)
                await until(
                    lambda: "deleting delivered events failed" in uplink.status().last_error, 60
                )
                assert (await outbox.status()).queued == 300, "nothing deleted yet"
                release.set()
                await queue_empties(outbox, within=60)
                assert uplink.status().restarts == 0, "a busy outbox is no task failure"
        outbox.close()

    with caplog.at_level(logging.WARNING, logger="edge.uplink"):
        asyncio.run(scenario())
    assert sequences(subscriber) == list(range(1, 301)), "each once, in order"
    failures = [r for r in caplog.records if "deleting delivered events failed" in r.getMessage()]
    assert len(failures) == 1, "logged once while it lasts"


def allowing_taps(acl: Path, allowed: bool) -> None:
    rules = [
        "topic readwrite borne/v1/devices/+/state",
        "topic readwrite borne/v1/devices/+/events/product.scanned",
        "topic read borne/#",
    ]
    if allowed:
        rules.append("topic readwrite borne/v1/devices/+/events/card.tapped")
    acl.write_text("\n".join(rules) + "\n")


def test_a_refused_event_due_again_goes_before_anything_newer(tmp_path: Path) -> None:
    directory = tmp_path / "broker"
    directory.mkdir()
    acl = directory / "acl"
    allowing_taps(acl, allowed=False)
    broker = Broker(
        directory, free_port(), listener_options=f"allow_anonymous true\nacl_file {acl}"
    )
    broker.start()
    subscriber = Subscriber(broker.port)
    subscriber.start()

    async def scenario() -> int:
        outbox = open_outbox(tmp_path / "o.sqlite")
        uplink = Uplink(mqtt_config(broker.port, inflight=2), SOURCE, outbox, boot_count=1)
        uplink.REFUSED_RETRY_MIN = 3600.0  # due again only when the test says so
        async with running(uplink):
            await outbox.append(TAP)
            await until(lambda: uplink.status().refused == 1)
            allowing_taps(acl, allowed=True)
            assert broker.process is not None
            broker.process.send_signal(signal.SIGHUP)  # mosquitto reads its ACL again
            log = directory / "mosquitto.log"
            await until(lambda: "Reloading config" in log.read_text(errors="replace"))
            await outbox.append(*[SCAN] * 3000)
            await asyncio.to_thread(subscriber.wait_for, lambda s: len(sequences(s)) >= 50, 60)
            # The tap's retry comes due now: what is not yet sent must wait for it.
            assert uplink._refusals is not None
            first_unsent = uplink._ready[0].sequence if uplink._ready else uplink._read_upto + 1
            uplink._refusals._became_due(1)
            await queue_empties(outbox, within=120)
        outbox.close()
        return first_unsent

    try:
        first_unsent = asyncio.run(scenario())
        subscriber.wait_for(lambda s: 1 in sequences(s), 60)
    finally:
        subscriber.stop()
        broker.kill(signal.SIGTERM)
    arrived = sequences(subscriber)
    assert arrived.index(1) < arrived.index(first_unsent), (first_unsent, arrived.index(1))
    assert arrived[arrived.index(1) + 1 :] == list(range(first_unsent, 3002))


def test_two_kiosks_on_one_device_id_do_not_fight_for_the_session(
    tmp_path: Path, broker: Broker, subscriber: Subscriber, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> list[Uplink]:
        outboxes = [open_outbox(tmp_path / f"{name}.sqlite") for name in ("a", "b")]
        uplinks = [
            Uplink(mqtt_config(broker.port, reconnect_max=0.5), SOURCE, o, boot_count=1)
            for o in outboxes
        ]
        async with running(uplinks[0]):
            await until(lambda: uplinks[0].status().connected)
            async with running(uplinks[1]):
                # Ten seconds of both running, as the campaign's two kiosks did.
                deadline = asyncio.get_running_loop().time() + 10
                while asyncio.get_running_loop().time() < deadline:  # noqa: ASYNC110
                    await asyncio.sleep(0.1)
                statuses = [u.status() for u in uplinks]
        for outbox in outboxes:
            outbox.close()
        assert sum(s.connected for s in statuses) == 1, "one of them works, the other waits"
        waiting = next(s for s in statuses if not s.connected)
        assert waiting.state == "taken over by another connection with this device id"
        assert "kiosk-07" in waiting.last_error
        return uplinks

    with caplog.at_level(logging.WARNING, logger="edge.uplink"):
        asyncio.run(scenario())
    takeovers = (broker.directory / "mosquitto.log").read_text().count("already connected")
    assert 1 <= takeovers <= 3, takeovers
    reports = [r.getMessage() for r in caplog.records if "second kiosk" in r.getMessage()]
    assert len(reports) == 1, reports
    assert "kiosk-07" in reports[0]


def test_a_single_takeover_is_a_drop_the_second_soon_after_is_another_kiosk() -> None:
    now = [0.0]
    watch = TakeoverWatch(600.0, lambda: now[0])
    # mosquitto 2.0.11 only closes the socket: the quick way back makes it a takeover.
    assert not watch.dropped(taken_over=False, unexplained=True, short=False)
    watch.connected(first_try=True)
    now[0] = 1.0
    assert watch.dropped(taken_over=False, unexplained=True, short=True)
    # A broker that restarts: it does not let us back at once; no kiosk suspected.
    restarts = TakeoverWatch(600.0, lambda: now[0])
    for _ in range(5):
        assert not restarts.dropped(taken_over=False, unexplained=True, short=True)
        restarts.connected(first_try=False)
    # A broker that says 0x8E: the second within the window.
    said = TakeoverWatch(600.0, lambda: now[0])
    assert not said.dropped(taken_over=True, unexplained=False, short=True)
    now[0] = 700.0  # ... long after the first: once in a while again
    assert not said.dropped(taken_over=True, unexplained=False, short=True)
    now[0] = 701.0
    assert said.dropped(taken_over=True, unexplained=False, short=True)


def test_disconnects_are_logged_as_the_broker_gave_them() -> None:
    def code(value: int) -> ReasonCode:
        return ReasonCode(PacketTypes.DISCONNECT, identifier=value)

    taken = disconnect_reason(code(0x8E), from_broker=True)
    assert "session taken over by another connection with this device id" in taken
    assert "shutting down" in disconnect_reason(code(0x8B), from_broker=True)
    assert "protocol error" in disconnect_reason(code(0x82), from_broker=True)
    # paho's "Unspecified error" for a socket: the OS error it logged, or the close.
    lost = disconnect_reason(
        code(0x80), from_broker=False, socket_error="failed to receive on socket: [Errno 104]"
    )
    assert lost == "connection lost: failed to receive on socket: [Errno 104]"
    assert "Unspecified" not in disconnect_reason(code(0x80), from_broker=False)


def test_a_broker_that_stops_is_said_to_have_closed_the_link_not_unspecified(
    tmp_path: Path, broker: Broker
) -> None:
    async def scenario() -> str:
        outbox = open_outbox(tmp_path / "o.sqlite")
        uplink = Uplink(mqtt_config(broker.port), SOURCE, outbox, boot_count=1)
        async with running(uplink):
            await until(lambda: uplink.status().connected)
            broker.kill(signal.SIGTERM)
            await until(lambda: not uplink.status().connected)
            error = uplink.status().last_error
        outbox.close()
        return error

    error = asyncio.run(scenario())
    assert "Unspecified error" not in error
    assert "connection lost" in error


def test_after_many_failures_the_reconnect_delay_stays_between_half_the_cap_and_the_cap() -> None:
    cap = MqttConfig().reconnect_max
    assert cap <= 10.0, "a kiosk waits seconds, not a minute, once the broker is back"
    for seed in range(200):
        backoff = Backoff(base=MqttConfig().reconnect_min, cap=cap, rng=random.Random(seed))
        for _ in range(20):
            backoff.next_delay()
        assert cap / 2 <= backoff.next_delay() <= cap, seed


def test_a_kiosk_reconnects_soon_after_a_long_outage(tmp_path: Path, broker: Broker) -> None:
    async def scenario() -> None:
        outbox = open_outbox(tmp_path / "o.sqlite")
        config = MqttConfig(host="127.0.0.1", port=broker.port)  # the default backoff
        uplink = Uplink(config, SOURCE, outbox, boot_count=1)
        async with running(uplink):
            await until(lambda: uplink.status().connected)
            broker.kill(signal.SIGTERM)
            # Long enough for the delay to reach its cap.
            await until(lambda: uplink._backoff.attempts >= 6, 60)
            broker.start()
            await outbox.append(SCAN)
            # Within the cap (10 s) and a connect: the deadline is the generous bound.
            await queue_empties(outbox, within=30)
        outbox.close()

    asyncio.run(scenario())


def test_events_a_broker_killed_9_acknowledged_but_lost_are_resent_when_the_hub_asks(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "broker"
    directory.mkdir()
    broker = Broker(directory, free_port(), persistent=False)
    broker.start()
    seen_first = Subscriber(broker.port)
    seen_first.start()

    async def scenario() -> tuple[int, list[tuple[bytes, bytes]], Subscriber]:
        async with kiosk(tmp_path / "outbox.sqlite", broker.port, keep_delivered=86_400) as device:
            last = await device.publish(200)
            # Acknowledged to the kiosk; the broker dies before (or while) passing them on.
            broker.kill(signal.SIGKILL)
            seen_first.stop()
            status = await device.outbox.status()
            assert status.queued == 0
            assert status.kept_delivered == 200
            broker.start()
            await until(lambda: device.uplink.status().connected, 60)
            platform = Subscriber(broker.port)
            platform.start()
            requester = Requester(broker.port)
            await asyncio.to_thread(requester.ask, b'{"ranges": [[1, 200]]}')
            await until(lambda: len(requester.answers) == 1, 60)
            await asyncio.to_thread(
                platform.wait_for, lambda s: set(sequences(s)) >= set(range(1, 201)), 60
            )
            requester.stop()
            return last, requester.answers, platform

    try:
        last, answers, platform = asyncio.run(scenario())
        platform.stop()
    finally:
        broker.kill(signal.SIGTERM)
    assert last == 200
    assert json.loads(answers[0][1]) == {"resent": [[1, 200]], "pending": [], "missing": []}
    assert sorted(set(sequences(platform))) == list(range(1, 201)), "every one, from the kiosk"
