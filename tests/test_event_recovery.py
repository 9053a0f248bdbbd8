"""Nothing lost end to end: events the broker drops are asked for again from the kiosk.

A real mosquitto really drops events here: a member of the hubs' shared subscription
with no session (expiry 0) takes its share and goes away unacknowledged, or nobody
is subscribed yet while the kiosk publishes. `borne hub serve` sees the hole in the
device's sequence, asks the kiosk (`req/replay`), and the kiosk, which kept its
delivered events, publishes them again; a kiosk that no longer has them says so, and
the gap becomes `expired`.
"""

from __future__ import annotations

import asyncio
import json
import signal
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from edge.bootstrap import build_runtime
from edge.config import MqttConfig, load_config
from edge.demo import DEMO_CATALOG, DEMO_SECRET
from edge.events import EventDraft, EventSource
from edge.hub.gaps import ReplayAnswerError, parse_replay_answer, within
from edge.outbox import OutboxStore
from edge.outbox_queue import Outbox
from edge.replay import (
    MAX_SEQUENCES,
    ReplayRequest,
    ReplayRequestError,
    ReplayResponder,
    parse_replay_request,
    replay_topic,
)
from edge.uplink import Uplink
from tests.asyncapi import check_message
from tests.conftest import Subscriber, borne
from tests.mosquitto import Broker, free_port
from tests.postgres import PostgresServer
from tests.test_hub_service import (
    event,
    kill_hub,
    publish,
    start_hub,
    status,
    stop_hub,
    stored_sequences,
    wait_until,
)

DEVICE = "kiosk-07"
SOURCE = EventSource("paris-01", DEVICE)
HUB = "borne/v1/hub/hub-a/res/replay"
SHARED_EVENTS = "$share/borne-hub/borne/v1/devices/+/events/#"


def scan(number: int) -> EventDraft:
    """A product scan, the kind of event a shopper's visit is made of."""
    return EventDraft(
        "io.borne.product.scanned",
        {
            "session_id": "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
            "gtin": f"{3760123450000 + number:014d}",
            "code_kind": "gtin",
            "symbology": "ean13",
            "found": True,
            "scanner": "camera",
        },
    )


def hub_config(path: Path, port: int, url: str, client_id: str) -> Path:
    """A hub that asks again half a second after a gap opens, every two seconds."""
    path.write_text(
        "[mqtt]\n"
        f'host = "127.0.0.1"\nport = {port}\nclient_id = "{client_id}"\n'
        "reconnect_min = 0.1\nreconnect_max = 0.5\n"
        f'[store]\nurl = "{url}"\n'
        "[gaps]\nask_after = 0.5\nask_every = 2.0\n"
    )
    return path


@dataclass
class Kiosk:
    """The kiosk's outbox and uplink in this process, with the replay responder attached
    exactly as the kiosk's bootstrap attaches it."""

    outbox: Outbox
    uplink: Uplink
    replay: ReplayResponder

    async def publish(self, count: int) -> int:
        """Commit `count` scans, wait until the broker acknowledged them; the last sequence."""
        stored = await self.outbox.append(*(scan(n) for n in range(count)))
        await until_async(lambda: self.uplink.status().in_flight == 0)
        async with asyncio.timeout(30):
            while (await self.outbox.status()).queued:  # noqa: ASYNC110 - watched from outside
                await asyncio.sleep(0.05)
        return stored[-1].sequence


@asynccontextmanager
async def kiosk(path: Path, port: int, keep_delivered: float) -> AsyncIterator[Kiosk]:
    """A running kiosk on the test broker."""
    outbox = Outbox(
        lambda: OutboxStore(path, SOURCE, synchronous="normal", keep_delivered=keep_delivered)
    )
    config = MqttConfig(host="127.0.0.1", port=port, reconnect_min=0.05, reconnect_max=0.5)
    uplink = Uplink(config, SOURCE, outbox, boot_count=1)
    replay = ReplayResponder(DEVICE, outbox, uplink)
    uplink.attach(replay)
    task = asyncio.create_task(uplink.run())
    try:
        await until_async(lambda: uplink.status().connected)
        yield Kiosk(outbox, uplink, replay)
    finally:
        await uplink.close()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        outbox.close()


async def until_async(predicate: Any, within_seconds: float = 60.0) -> None:
    """Wait until `predicate()` holds, as an operator watching would."""
    async with asyncio.timeout(within_seconds):
        while not predicate():  # noqa: ASYNC110 - watched from outside, as an operator
            await asyncio.sleep(0.05)


async def hub_sees(config: Path, predicate: Any, within_seconds: float = 90.0) -> dict[str, Any]:
    """Poll `borne hub status --json` (off the loop) until kiosk-07's line satisfies it."""
    deadline = time.monotonic() + within_seconds
    while True:
        device = (await asyncio.to_thread(status, config)).get(DEVICE, {})
        if device and predicate(device):
            return device
        if time.monotonic() > deadline:
            raise TimeoutError(f"the hub never got there: {device}")
        await asyncio.sleep(0.3)


class DroppingMember:
    """A member of the hubs' shared subscription with no session: it takes its share of
    the stream, never acknowledges, and disconnects; the broker drops what it held."""

    def __init__(self, port: int) -> None:
        self.received = 0
        self._subscribed = threading.Event()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id="dropping-member",
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        self._client.manual_ack_set(True)
        self._client.on_subscribe = lambda *_: self._subscribed.set()
        self._client.on_message = self._message
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = 0
        properties.ReceiveMaximum = 65535  # takes a large share before anyone notices
        self._client.connect("127.0.0.1", port, clean_start=True, properties=properties)
        self._client.loop_start()
        self._client.subscribe(SHARED_EVENTS, options=SubscribeOptions(qos=1))
        assert self._subscribed.wait(10)

    def _message(self, _: mqtt.Client, __: Any, ___: mqtt.MQTTMessage) -> None:
        self.received += 1  # and never acknowledged

    def vanish(self) -> None:
        """Go away with everything it held (its session ends with it)."""
        self._client.disconnect()
        self._client.loop_stop()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """The test mosquitto, logging each subscription: a test waits for the hubs' before
    the kiosk publishes (what nobody is subscribed to is dropped)."""
    directory = tmp_path / "broker"
    directory.mkdir()
    broker = Broker(directory, free_port(), options="log_type all\n")
    broker.start()
    yield broker
    broker.kill(signal.SIGTERM)


async def hub_subscribed(broker: Broker, client_id: str, times: int = 1) -> None:
    """Wait until the broker has registered `client_id`'s shared subscription `times` times."""
    line = f" {client_id} 1 {SHARED_EVENTS}"
    log = broker.directory / "mosquitto.log"
    async with asyncio.timeout(60):
        while log.read_text(errors="replace").count(line) < times:  # noqa: ASYNC110 - a file
            await asyncio.sleep(0.05)


@pytest.fixture(scope="module")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL on loopback, for this module."""
    server = PostgresServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where the hubs keep events: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hub' / 'events.sqlite'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = server.new_database().split("=")[-1]
    return f"postgresql://borne@127.0.0.1:{server.port}/{name}"


def stored(url: str) -> list[int]:
    """Every stored sequence of kiosk-07, duplicates kept, read behind the store."""
    if url.startswith("sqlite:///"):
        return stored_sequences(url)
    with psycopg.connect(url) as db:
        rows = db.execute(
            "SELECT sequence FROM events WHERE device_id = %s ORDER BY sequence", [DEVICE]
        ).fetchall()
    return [sequence for (sequence,) in rows]


@pytest.fixture
def watcher(broker: Broker) -> Iterator[Subscriber]:
    """Sees every replay request and answer, to check them against the contract."""
    seen = Subscriber(broker.port, topic="borne/+/+/+/+/replay")
    seen.start()
    yield seen
    seen.stop()


def replay_traffic(watcher: Subscriber) -> list[tuple[str, bytes, Any]]:
    with watcher.lock:
        return [message for message in watcher.messages if message[0].endswith("/replay")]


@pytest.mark.mqtt
def test_events_the_broker_dropped_are_recovered_from_the_kiosk_despite_a_hub_killed_9(
    tmp_path: Path, broker: Broker, watcher: Subscriber, store_url: str
) -> None:
    url = store_url
    first = hub_config(tmp_path / "hub-a.toml", broker.port, url, "hub-a")
    second = hub_config(tmp_path / "hub-b.toml", broker.port, url, "hub-b")
    hubs = {"a": start_hub(first), "b": start_hub(second)}
    dropping = DroppingMember(broker.port)

    async def scenario() -> tuple[int, dict[str, Any], int]:
        await hub_subscribed(broker, "hub-a")  # the hubs' sessions exist before the kiosk
        await hub_subscribed(broker, "hub-b")  # publishes
        async with kiosk(tmp_path / "outbox.sqlite", broker.port, keep_delivered=3600) as device:
            await device.publish(40)
            await hub_sees(first, lambda d: d["events_stored"] > 5)
            kill_hub(hubs["a"])  # mid-stream: its session keeps what it had not acknowledged
            await device.publish(40)
            dropping.vanish()  # ... and with it, its share of the stream
            hubs["a"] = start_hub(first)
            await hub_subscribed(broker, "hub-a", times=2)
            last = await device.publish(20)
            seen = await hub_sees(first, lambda d: d["last_contiguous"] == last)
            return last, seen, device.replay.counters.resent

    try:
        last, seen, resent = asyncio.run(scenario())
        share_b = stop_hub(hubs["b"])
        share_a = stop_hub(hubs["a"])
    finally:
        dropping.vanish()
        kill_hub(hubs["a"])
        kill_hub(hubs["b"])
    assert dropping.received > 0, "the broker gave the dropping member its share"
    assert resent >= dropping.received
    assert stored(url) == list(range(1, last + 1)), "every sequence stored once"
    assert (seen["events_stored"], seen["highest"]) == (last, last)
    assert seen["open"]["runs"] == seen["expired"]["runs"] == 0
    assert seen["recovered"]["sequences"] >= dropping.received
    assert share_a["gaps"]["asks"] + share_b["gaps"]["asks"] >= 1
    traffic = replay_traffic(watcher)
    assert any("/req/replay" in topic for topic, _, _ in traffic)
    assert any(topic.startswith("borne/v1/hub/") for topic, _, _ in traffic)
    for topic, payload, _ in traffic:
        check_message(topic, payload)


@pytest.mark.mqtt
@pytest.mark.parametrize(("keep_delivered", "outcome"), [(3600, "recovered"), (0, "expired")])
def test_a_device_first_heard_mid_stream_is_asked_for_its_start(
    tmp_path: Path, broker: Broker, keep_delivered: float, outcome: str
) -> None:
    url = f"sqlite:///{tmp_path / 'hub' / 'events.sqlite'}"
    config = hub_config(tmp_path / "hub.toml", broker.port, url, "hub-a")

    async def scenario() -> tuple[int, dict[str, Any], dict[str, Any]]:
        async with kiosk(tmp_path / "outbox.sqlite", broker.port, keep_delivered) as device:
            # Nobody subscribes yet: the broker acknowledges these and drops them.
            await device.publish(5)
            hub = start_hub(config)
            try:
                await hub_subscribed(broker, "hub-a")
                last = await device.publish(3)
                seen = await hub_sees(config, lambda d: d["last_contiguous"] == last)
            finally:
                counters = stop_hub(hub)
        return last, seen, counters

    last, seen, counters = asyncio.run(scenario())
    assert seen[outcome]["sequences"] == 5, "sequences 1..5, never seen by the hub"
    assert seen["open"]["runs"] == 0
    if outcome == "expired":
        assert counters["gaps"]["expired"] == 5
        assert stored_sequences(url) == [6, 7, 8]
        table = borne("hub", "status", "--config", str(config))
        header, row = table.stdout.splitlines()[0].split(), table.stdout.splitlines()[1].split()
        assert row[header.index("expired")] == "5"
    else:
        assert stored_sequences(url) == list(range(1, last + 1))


class Requester:
    """Sends replay requests by hand and collects the answers."""

    def __init__(self, port: int) -> None:
        self.answers: list[tuple[bytes, bytes]] = []
        self._lock = threading.Lock()
        ready = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="requester", protocol=MQTTProtocolVersion.MQTTv5
        )
        self.client.on_subscribe = lambda *_: ready.set()
        self.client.on_message = self._message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.client.subscribe(HUB, qos=1)
        assert ready.wait(10)

    def _message(self, _: mqtt.Client, __: Any, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            correlation = getattr(message.properties, "CorrelationData", b"")
            self.answers.append((correlation, bytes(message.payload)))

    def ask(
        self, payload: bytes, *, response_topic: str | None = HUB, correlation: bytes = b"c1"
    ) -> None:
        properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        if response_topic is not None:
            properties.ResponseTopic = response_topic
        properties.CorrelationData = correlation
        properties.MessageExpiryInterval = 30
        info = self.client.publish(replay_topic(DEVICE), payload, qos=1, properties=properties)
        info.wait_for_publish(10)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.mark.mqtt
def test_bad_replay_requests_are_refused_and_a_good_one_is_still_answered(
    tmp_path: Path, broker: Broker
) -> None:
    requester = Requester(broker.port)

    async def scenario() -> int:
        async with kiosk(tmp_path / "outbox.sqlite", broker.port, keep_delivered=3600) as device:
            await device.publish(3)
            ask = requester.ask
            await asyncio.to_thread(ask, b'{"ranges": [[1, 2]]}', response_topic=None)
            await asyncio.to_thread(ask, b'{"ranges": [[1, 2]]}', response_topic="shop/elsewhere")
            await asyncio.to_thread(ask, b"not json")
            await asyncio.to_thread(ask, b'{"ranges": [[1, 100000]]}')
            await asyncio.to_thread(ask, b'{"ranges": [[2, 5]]}', correlation=b"good")
            await until_async(lambda: len(requester.answers) == 1)
            return device.replay.counters.refused

    try:
        refused = asyncio.run(scenario())
    finally:
        requester.stop()
    assert refused == 4
    ((correlation, payload),) = requester.answers
    assert correlation == b"good"
    assert json.loads(payload) == {"resent": [[2, 3]], "pending": [], "missing": [[4, 5]]}
    check_message(HUB, payload)


@pytest.mark.mqtt
def test_a_request_about_another_stream_epoch_is_answered_missing(
    tmp_path: Path, broker: Broker
) -> None:
    requester = Requester(broker.port)
    other = "0123456789abcdef" * 2

    async def scenario() -> None:
        async with kiosk(tmp_path / "outbox.sqlite", broker.port, keep_delivered=3600) as device:
            await device.publish(3)
            epoch = (await device.outbox.status()).stream_epoch
            ask = requester.ask
            request = {"ranges": [[1, 2]], "streamepoch": other}
            await asyncio.to_thread(ask, json.dumps(request).encode(), correlation=b"old")
            await until_async(lambda: len(requester.answers) == 1)
            request["streamepoch"] = epoch
            await asyncio.to_thread(ask, json.dumps(request).encode(), correlation=b"now")
            await until_async(lambda: len(requester.answers) == 2)

    try:
        asyncio.run(scenario())
    finally:
        requester.stop()
    answers = {correlation: json.loads(payload) for correlation, payload in requester.answers}
    assert answers[b"old"] == {"resent": [], "pending": [], "missing": [[1, 2]]}
    assert answers[b"now"] == {"resent": [[1, 2]], "pending": [], "missing": []}


# The parsers of outside input, on their own.


def test_a_device_answers_only_for_itself() -> None:
    with pytest.raises(ReplayRequestError, match="topic"):
        parse_replay_request(DEVICE, replay_topic("kiosk-08"), b'{"ranges": [[1, 1]]}', HUB, b"c")


def test_a_valid_request_is_parsed_whole() -> None:
    request = parse_replay_request(
        DEVICE, replay_topic(DEVICE), b'{"ranges": [[5, 6], [1, 2]]}', HUB, b"c"
    )
    assert request == ReplayRequest(((1, 2), (5, 6)), HUB, b"c")
    assert request.sequences == [1, 2, 5, 6]


def test_one_request_may_ask_for_a_bounded_number_of_sequences() -> None:
    def ask(last: int) -> ReplayRequest:
        payload = json.dumps({"ranges": [[1, last]]}).encode()
        return parse_replay_request(DEVICE, replay_topic(DEVICE), payload, HUB, b"c")

    assert len(ask(MAX_SEQUENCES).sequences) == MAX_SEQUENCES
    with pytest.raises(ReplayRequestError, match="more than"):
        ask(MAX_SEQUENCES + 1)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=12,
)


@given(
    payload=st.binary(max_size=300) | _JSON.map(lambda v: json.dumps(v).encode()),
    response_topic=st.none() | st.text(max_size=30) | st.just(HUB),
    correlation=st.none() | st.binary(max_size=80),
)
def test_any_request_gives_a_request_or_a_replay_request_error(
    payload: bytes, response_topic: str | None, correlation: bytes | None
) -> None:
    try:
        request = parse_replay_request(
            DEVICE, replay_topic(DEVICE), payload, response_topic, correlation
        )
    except ReplayRequestError:
        return
    assert request.response_topic.startswith("borne/v1/hub/")
    assert 1 <= len(request.sequences) <= MAX_SEQUENCES


@given(
    ranges=st.lists(
        st.lists(st.integers(min_value=-2, max_value=2**64), min_size=0, max_size=3),
        max_size=70,
    )
)
def test_any_ranges_are_parsed_within_bounds_or_refused(ranges: list[list[int]]) -> None:
    payload = json.dumps({"ranges": ranges}).encode()
    try:
        request = parse_replay_request(DEVICE, replay_topic(DEVICE), payload, HUB, b"c")
    except ReplayRequestError:
        return
    assert all(1 <= first <= last for first, last in request.ranges)
    assert len(request.ranges) <= 64


@given(st.binary(max_size=300) | _JSON.map(lambda v: json.dumps(v).encode()))
def test_any_answer_gives_an_answer_or_a_replay_answer_error(payload: bytes) -> None:
    try:
        answer = parse_replay_answer(payload)
    except ReplayAnswerError:
        return
    for runs in (answer.resent, answer.pending, answer.missing):
        assert all(1 <= first <= last for first, last in runs)


def test_a_device_expires_only_what_it_was_asked_for() -> None:
    answer = parse_replay_answer(b'{"resent": [], "pending": [], "missing": [[1, 100]]}')
    assert within(answer.missing, ((5, 6), (90, 120))) == [(5, 6), (90, 100)]


@pytest.mark.mqtt
def test_a_forged_answer_expires_nothing(tmp_path: Path, broker: Broker) -> None:
    url = f"sqlite:///{tmp_path / 'hub' / 'events.sqlite'}"
    config = hub_config(tmp_path / "hub.toml", broker.port, url, "hub-a")
    hub = start_hub(config)
    try:
        asyncio.run(hub_subscribed(broker, "hub-a"))
        publish(broker.port, [(f"borne/v1/devices/kiosk-09/events/{n}", event(n)) for n in (1, 5)])
        wait_until(lambda: status(config).get("kiosk-09", {}).get("highest") == 5)
        # Not an answer to any ask of this hub: whoever sent it, it changes nothing.
        forged = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        forged.CorrelationData = b"forged"
        answer = b'{"resent": [], "pending": [], "missing": [[2, 4]]}'
        publish(broker.port, [(HUB, answer)], properties=forged)
        assert hub.stderr is not None
        for line in hub.stderr:  # the hub says it ignored the answer (or its log ends)
            if "ignored a replay answer" in line:
                break
    finally:
        counters = stop_hub(hub)
    assert counters["gaps"]["refused"] == 1
    device = status(config)["kiosk-09"]
    assert (device["open"]["sequences"], device["expired"]["sequences"]) == (3, 0)


@pytest.mark.mqtt
def test_a_kiosk_as_a_store_runs_it_keeps_its_events_and_answers_the_hub(
    tmp_path: Path, broker: Broker
) -> None:
    """The kiosk's own wiring (`build_runtime`), not a hand-made outbox and uplink."""
    config = load_config(
        None,
        {
            "BORNE_DEVICE__STORE_ID": SOURCE.store_id,
            "BORNE_DEVICE__DEVICE_ID": DEVICE,
            "BORNE_STORAGE__DATA_DIR": str(tmp_path / "kiosk"),
            "BORNE_STORAGE__KEEP_DELIVERED": "3600",
            "BORNE_PRIVACY__PSEUDONYM_KEY_FILE": str(DEMO_SECRET),
            "BORNE_MQTT__HOST": "127.0.0.1",
            "BORNE_MQTT__PORT": str(broker.port),
            "BORNE_CATALOG__SOURCE": str(DEMO_CATALOG),
        },
    )
    requester = Requester(broker.port)

    async def scenario() -> None:
        runtime, _ = await build_runtime(config)
        await runtime.start()
        try:
            await runtime.outbox.append(scan(1), scan(2))
            async with asyncio.timeout(30):
                while (await runtime.outbox.status()).queued:  # noqa: ASYNC110 - watched from outside
                    await asyncio.sleep(0.05)
            assert (await runtime.outbox.status()).kept_delivered == 2
            await asyncio.to_thread(requester.ask, b'{"ranges": [[1, 2]]}', correlation=b"k")
            await until_async(lambda: len(requester.answers) == 1)
        finally:
            await runtime.close()

    try:
        asyncio.run(scenario())
    finally:
        requester.stop()
    ((correlation, payload),) = requester.answers
    assert correlation == b"k"
    assert json.loads(payload) == {"resent": [[1, 2]], "pending": [], "missing": []}
