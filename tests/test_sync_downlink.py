"""The kiosk's downlink keeps its copy of the store's streams in step with the platform.

Against a real mosquitto and a real hub (`HubService` + `SyncResponder` over a
`StreamStore` loaded with tests/data/feeds), the kiosk side being a real `Uplink`,
`Outbox`, `StreamCache` and `Downlink`: a fresh kiosk gets every stream, an import the
hub publishes applies, a kiosk that was away catches up, a dropped change set or a lost
answer is asked again, a broker restart is survived, a stopped hub lets the stock's
age grow, and bad messages are counted without a crash or a half-applied change. The
traffic seen is checked against docs/asyncapi.yaml. The last tests drive a `Downlink`
by hand (its `send` records the requests) for what a real hub never does: a snapshot
page that never comes, answers to requests asked again or never asked.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.config import MqttConfig, SyncConfig
from edge.events import EventDraft, EventSource
from edge.hub.config import HubMqttConfig
from edge.hub.feeds import read_feed
from edge.hub.publisher import new_change_sets, publish_change_sets
from edge.hub.resync import SyncResponder, device_store_lookup
from edge.hub.service import HubService
from edge.hub.store import SqliteEventStore
from edge.hub.streams import StreamStore
from edge.outbox import OutboxStore
from edge.outbox_queue import Outbox
from edge.sync.cache import StreamCache
from edge.sync.downlink import Downlink
from edge.sync.messages import PUBLISHED_STREAMS, Stream
from edge.sync.requests import Answer, Requests
from edge.sync.status import read_sync_status
from edge.uplink import Request, Uplink
from tests.asyncapi import check_message
from tests.conftest import TESTDATA, Subscriber
from tests.mosquitto import Broker, free_port

STORE = "paris-01"
DEVICE = "kiosk-07"
SOURCE = EventSource(STORE, DEVICE)
FEEDS = [TESTDATA / "feeds" / name for name in ("products.tsv", "inventory.tsv", "reviews.xml")]
FEEDS.append(TESTDATA / "feeds" / "promotions.tsv")
TEA = "03760123450010"  # Thé vert Sencha: 12 in stock at paris-01 in the inventory feed
SCAN = EventDraft(
    "io.borne.product.scanned",
    {
        "session_id": "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
        "gtin": TEA,
        "code_kind": "gtin",
        "symbology": "ean13",
        "found": True,
        "scanner": "camera",
    },
)
# Small timeouts so that re-asks and checks happen within a test; never asserted on.
FAST = SyncConfig(answer_within=0.5, check_every=1.0, stale_after=2.0)


# --- the platform: a hub on its own loop ------------------------------------------------


class Hub:
    """The hub's stream store and event store, and its service when started."""

    def __init__(self, folder: Path, port: int) -> None:
        self.folder = folder
        self.port = port
        self.streams = StreamStore(folder / "streams.sqlite")
        self.streams.import_feeds([read_feed(path) for path in FEEDS])
        self.events = SqliteEventStore(folder / "events.sqlite")
        self.service: HubService | None = None
        self.responder: SyncResponder | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def knows_the_kiosk(self) -> None:
        """The kiosk's first event, as if it had come: the hub learns its store."""
        raw = {
            "specversion": "1.0",
            "id": "018f2b6e-0000-7000-8000-000000000001",
            "source": SOURCE.uri,
            "type": "io.borne.session.started",
            "time": "2026-11-30T10:00:00Z",
            "sequence": f"{1:020d}",
            "datacontenttype": "application/json",
            "data": {},
        }
        assert self.events.ingest([raw]).stored == 1

    def start(self) -> None:
        """Serve: ingest events and answer resyncs, once subscribed."""
        retained_state(self.port)  # once the hub has it, its subscriptions are in place
        config = HubMqttConfig(
            host="127.0.0.1", port=self.port, client_id="hub", reconnect_min=0.1, reconnect_max=0.5
        )
        self.responder = SyncResponder(self.streams, device_store_lookup(self.events), page_items=3)
        self.service = HubService(config, self.events, resync=self.responder)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_until_complete, args=(self.service.run(),)
        )
        self._thread.start()
        for _ in range(600):
            if self.service.counters.states:
                return
            threading.Event().wait(0.05)
        raise AssertionError("the hub never subscribed")

    def stop(self) -> None:
        """Stop serving (the stores stay open)."""
        if self._loop is not None and self.service is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self.service.close)
            self._thread.join(30)
            self._loop.close()
        self._loop = self._thread = self.service = None

    def close(self) -> None:
        self.stop()
        self.events.close()
        self.streams.close()

    def new_stock(self, quantity: int) -> dict[tuple[str, Stream], int]:
        """Import an inventory feed where the tea's quantity here is `quantity`: the new
        version of this store's stock (not published)."""
        lines = (TESTDATA / "feeds" / "inventory.tsv").read_text(encoding="utf-8").splitlines()
        row = lines[1].split("\t")
        row[2] = str(quantity)
        path = self.folder / f"inventory-{quantity}.tsv"
        path.write_text("\n".join([lines[0], "\t".join(row), *lines[2:]]) + "\n", encoding="utf-8")
        report = self.streams.import_feeds([read_feed(path)])
        return {(STORE, Stream.STOCK): report.versions[(STORE, Stream.STOCK)]}

    def publish(self, versions: dict[tuple[str, Stream], int]) -> None:
        """Publish those change sets to the store's kiosks, as `borne hub import` does."""
        config = HubMqttConfig(host="127.0.0.1", port=self.port, client_id="hub-import")
        assert publish_change_sets(config, new_change_sets(self.streams, versions)) == 1

    def position(self, stream: Stream) -> tuple[str, int]:
        epoch, version = self.streams.position(STORE, stream)
        return epoch, version


def retained_state(port: int) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        payload = json.dumps({"state": "online", "boot": 1}).encode()
        topic = f"borne/v1/devices/{DEVICE}/state"
        client.publish(topic, payload, qos=1, retain=True).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


@pytest.fixture
def hub(tmp_path: Path, broker: Broker) -> Iterator[Hub]:
    folder = tmp_path / "hub"
    folder.mkdir()
    running = Hub(folder, broker.port)
    running.knows_the_kiosk()
    running.start()
    yield running
    running.close()


@pytest.fixture
def traffic(broker: Broker) -> Iterator[Subscriber]:
    """Everything on the broker, checked against the contract at the end of the test."""
    watcher = Subscriber(broker.port)
    watcher.start()
    yield watcher
    watcher.stop()
    with watcher.lock:
        seen = list(watcher.messages)
    assert any("/req/sync" in topic for topic, _, _ in seen)
    for topic, payload, _ in seen:
        check_message(topic, payload)


# --- the kiosk ---------------------------------------------------------------------------


@dataclass
class Kiosk:
    cache: StreamCache
    outbox: Outbox
    uplink: Uplink
    downlink: Downlink
    path: Path
    changed: list[frozenset[Stream]] = field(default_factory=list)

    def version(self, stream: Stream) -> int:
        return self.cache.position(stream).version

    def quantity_here(self) -> Any:
        item = self.cache.item(Stream.STOCK, TEA)
        return None if item is None else item["here"]


@asynccontextmanager
async def kiosk(folder: Path, port: int, config: SyncConfig = FAST) -> AsyncIterator[Kiosk]:
    """A kiosk with its cache under `folder`, linked to the broker on `port`."""
    cache = StreamCache(folder / "streams.sqlite")  # makes the folder
    outbox = Outbox(lambda: OutboxStore(folder / "outbox.sqlite", SOURCE, synchronous="normal"))
    mqtt_config = MqttConfig(host="127.0.0.1", port=port, reconnect_min=0.05, reconnect_max=0.3)
    uplink = Uplink(mqtt_config, SOURCE, outbox, boot_count=1)
    changed: list[frozenset[Stream]] = []
    downlink = Downlink(cache, SOURCE, config, send=uplink.request, on_change=changed.append)
    uplink.attach(downlink)
    tasks = [asyncio.create_task(uplink.run()), asyncio.create_task(downlink.run())]
    try:
        yield Kiosk(cache, outbox, uplink, downlink, folder / "streams.sqlite", changed)
    finally:
        await uplink.close()
        await downlink.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        outbox.close()
        cache.close()


async def until(predicate: Callable[[], bool], within: float = 120.0) -> None:
    """Wait until `predicate()` holds (checked off the loop: it reads SQLite).

    The deadline only stops a test that would hang: on a machine whose other core renders
    a 4K kiosk, a hub's first answer has taken over 30 s."""
    async with asyncio.timeout(within):
        while not await asyncio.to_thread(predicate):  # noqa: ASYNC110 - watched from outside
            await asyncio.sleep(0.05)


def in_step(station: Kiosk, hub: Hub) -> bool:
    """Whether the kiosk holds every stream at the hub's epoch and version."""
    return all(
        (station.cache.position(stream).epoch, station.version(stream)) == hub.position(stream)
        for stream in PUBLISHED_STREAMS
    )


# --- against the hub ---------------------------------------------------------------------


def test_a_fresh_kiosk_gets_every_stream_and_then_the_imports_the_hub_publishes(
    tmp_path: Path, broker: Broker, hub: Hub, traffic: Subscriber
) -> None:
    async def scenario() -> None:
        async with kiosk(tmp_path / "kiosk", broker.port) as station:
            await until(lambda: in_step(station, hub))
            for stream in PUBLISHED_STREAMS:
                assert station.cache.items(stream) == hub.streams.items(STORE, stream)
            assert station.quantity_here() == 12
            assert {stream for streams in station.changed for stream in streams} == set(
                PUBLISHED_STREAMS
            )

            versions = await asyncio.to_thread(hub.new_stock, 17)
            await asyncio.to_thread(hub.publish, versions)
            await until(lambda: station.quantity_here() == 17)
            assert station.version(Stream.STOCK) == 2
            assert station.changed[-1] == frozenset({Stream.STOCK})

            # Another process (borne catalog status) reads the streams and the link.
            await until(lambda: read_sync_status(station.path).link.counters.applied >= 5)
            status = read_sync_status(station.path)
            assert status.link.connected
            stock = next(s for s in status.streams if s.stream is Stream.STOCK)
            assert (stock.version, stock.count) == (2, len(hub.streams.items(STORE, Stream.STOCK)))
            counters = station.downlink.status().counters
            assert counters.refused == counters.out_of_order == counters.failures == 0
        assert not read_sync_status(tmp_path / "kiosk" / "streams.sqlite").link.connected

    asyncio.run(scenario())


def test_a_kiosk_away_while_changes_were_published_catches_up_when_it_is_back(
    tmp_path: Path, broker: Broker, hub: Hub, traffic: Subscriber
) -> None:
    async def scenario() -> None:
        async with kiosk(tmp_path / "kiosk", broker.port) as station:
            await until(lambda: in_step(station, hub))
        for quantity in (20, 21):  # published while the kiosk is off: not retained
            await asyncio.to_thread(hub.publish, await asyncio.to_thread(hub.new_stock, quantity))
        async with kiosk(tmp_path / "kiosk", broker.port) as station:
            assert station.quantity_here() == 12  # served from its cache meanwhile
            await until(lambda: station.quantity_here() == 21)
            assert station.version(Stream.STOCK) == 3
            assert in_step(station, hub)

    asyncio.run(scenario())


def test_a_dropped_change_set_is_noticed_at_the_next_and_filled_by_a_resync(
    tmp_path: Path, broker: Broker, hub: Hub, traffic: Subscriber
) -> None:
    async def scenario() -> None:
        async with kiosk(tmp_path / "kiosk", broker.port) as station:
            await until(lambda: in_step(station, hub))
            await asyncio.to_thread(hub.new_stock, 30)  # version 2: never published
            await asyncio.to_thread(hub.publish, await asyncio.to_thread(hub.new_stock, 31))
            await until(lambda: station.version(Stream.STOCK) == 3)
            assert station.quantity_here() == 31
            assert station.downlink.status().counters.out_of_order == 1

    asyncio.run(scenario())


def test_a_request_left_unanswered_is_asked_again_until_answered(
    tmp_path: Path, broker: Broker, traffic: Subscriber
) -> None:
    # A hub that has never heard from the kiosk does not answer it: silence, as when an
    # answer is lost. Once the kiosk's first event reaches it, the next ask is answered.
    folder = tmp_path / "hub"
    folder.mkdir()
    platform = Hub(folder, broker.port)
    platform.start()

    async def scenario() -> None:
        async with kiosk(tmp_path / "kiosk", broker.port) as station:
            await until(lambda: station.downlink.status().counters.asked_again >= 4)
            assert station.version(Stream.CATALOG) == 0
            await station.outbox.append(SCAN)
            await until(lambda: in_step(station, platform))
            # Asks made before the answers came are answered too (or dropped as late).
            await until(lambda: not station.downlink.status().pending)

    try:
        asyncio.run(scenario())
        assert platform.responder is not None
        assert platform.responder.counters.refused >= 4
    finally:
        platform.close()


def test_the_kiosk_and_the_hub_carry_on_after_a_broker_restart(
    tmp_path: Path, broker: Broker, hub: Hub
) -> None:
    async def scenario() -> None:
        async with kiosk(tmp_path / "kiosk", broker.port) as station:
            await until(lambda: in_step(station, hub))
            connects = station.uplink.status().connects
            await asyncio.to_thread(broker.kill, signal.SIGKILL)
            await until(lambda: not station.downlink.status().connected)
            versions = await asyncio.to_thread(hub.new_stock, 40)  # while the broker is down
            await asyncio.to_thread(broker.start)
            await until(lambda: station.uplink.status().connects > connects)
            # Not published (no broker then): the resync on connection brings it.
            await until(lambda: station.quantity_here() == 40)
            await asyncio.to_thread(hub.publish, await asyncio.to_thread(hub.new_stock, 41))
            await until(lambda: station.quantity_here() == 41)
            assert versions[(STORE, Stream.STOCK)] + 1 == station.version(Stream.STOCK)

    asyncio.run(scenario())


def test_the_stock_s_age_stays_small_while_the_hub_answers_and_grows_when_it_stops(
    tmp_path: Path, broker: Broker, hub: Hub
) -> None:
    def confirmed_at(station: Kiosk) -> float:
        at = read_sync_status(station.path).streams[list(Stream).index(Stream.STOCK)].synced_at
        assert at is not None
        return at

    async def scenario() -> None:
        async with kiosk(tmp_path / "kiosk", broker.port) as station:
            await until(lambda: in_step(station, hub))
            first = confirmed_at(station)
            # Nothing changes, yet each check confirms the stock current again.
            await until(lambda: confirmed_at(station) > first)
            assert station.version(Stream.STOCK) == 1

            await asyncio.to_thread(hub.stop)
            asked = station.downlink.status().counters.asked_again
            await until(lambda: station.downlink.status().counters.asked_again > asked + 4)
            stopped = confirmed_at(station)
            await until(lambda: station.downlink.status().counters.asked_again > asked + 8)
            assert confirmed_at(station) == stopped  # no longer confirmed: its age grows
            assert Stream.STOCK in read_sync_status(station.path).link.pending

            await asyncio.to_thread(hub.start)
            await until(lambda: confirmed_at(station) > stopped)

    asyncio.run(scenario())


def test_bad_messages_are_counted_logged_once_and_never_half_applied(
    tmp_path: Path, broker: Broker, hub: Hub, caplog: pytest.LogCaptureFixture
) -> None:
    stock_topic = f"borne/v1/stores/{STORE}/stock/changes"

    def change_set(version: int, *changes: dict[str, Any], **fields: Any) -> bytes:
        epoch = hub.position(Stream.STOCK)[0]
        document = {"store": STORE, "stream": "stock", "epoch": epoch, "version": version}
        return json.dumps(document | {"changes": list(changes)} | fields).encode()

    tea = {"key": TEA, "value": {"here": 99}}
    bad = [
        (stock_topic, b'{"store": "paris-01", "secret-content'),  # malformed
        (stock_topic, change_set(2, tea, store="lyon-01")),  # for another store
        (f"borne/v1/stores/{STORE}/weather/changes", change_set(2, tea)),  # unknown stream
        (f"borne/v1/stores/{STORE}/catalog/changes", change_set(2, tea)),  # wrong topic
        (stock_topic, change_set(2, tea, padding="x" * (4 * 1024 * 1024))),  # oversized
        (stock_topic, change_set(2, tea, {"key": "k" * 200, "value": {}})),  # half good
        (stock_topic, b'{"store": "paris-01", "other-secret'),  # malformed again
    ]

    async def scenario() -> None:
        async with kiosk(tmp_path / "kiosk", broker.port) as station:
            await until(lambda: in_step(station, hub))
            for topic, payload in bad:
                await asyncio.to_thread(publish, broker.port, topic, payload)
            await until(lambda: station.downlink.status().counters.refused == len(bad))
            assert station.quantity_here() == 12  # nothing of the half-good change set
            assert station.version(Stream.STOCK) == 1

            await asyncio.to_thread(publish, broker.port, stock_topic, change_set(2, tea))
            await until(lambda: station.quantity_here() == 99)
            status = station.downlink.status()
            assert status.connected
            assert status.problem == "refused a message: malformed"

    with caplog.at_level(logging.INFO, logger="edge.sync.downlink"):
        asyncio.run(scenario())
    refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == 5  # once per kind: the other malformed ones are only counted
    assert "secret" not in caplog.text


def publish(port: int, topic: str, payload: bytes) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        client.publish(topic, payload, qos=1).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


def test_with_no_broker_the_kiosk_serves_its_cache_and_asks_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "kiosk"
    folder.mkdir()
    cache = StreamCache(folder / "streams.sqlite")
    cache.handle(page(1, 1, 1, put(TEA, 5)), STORE, 1_000.0)
    cache.close()

    async def scenario() -> None:
        async with kiosk(folder, free_port()) as station:
            await until(lambda: station.uplink.status().state == "waiting to reconnect")
            assert station.cache.item(Stream.STOCK, TEA) == {"here": 5}
            assert station.cache.age(Stream.STOCK, 1_060.0) == 60.0
            status = station.downlink.status()
            assert not status.connected
            assert status.counters.resyncs_asked == 0

    asyncio.run(scenario())
    assert not read_sync_status(folder / "streams.sqlite").link.connected


# --- driven by hand: what a real hub does not do -------------------------------------------


EPOCH = "2026-11-30.1"


def put(key: str, value: Any) -> dict[str, Any]:
    return {"key": key, "value": {"here": value}}


def page(version: int, number: int, pages: int, *items: dict[str, Any]) -> bytes:
    document = {"store": STORE, "stream": "stock", "epoch": EPOCH, "version": version}
    return json.dumps(document | {"page": number, "pages": pages, "items": list(items)}).encode()


def changes(version: int, *items: dict[str, Any]) -> bytes:
    document = {"store": STORE, "stream": "stock", "epoch": EPOCH, "version": version}
    return json.dumps(document | {"changes": list(items)}).encode()


def correlated(correlation: bytes) -> Properties:
    properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    properties.CorrelationData = correlation
    return properties


ANSWERS = f"borne/v1/devices/{DEVICE}/res/sync"
LIVE = f"borne/v1/stores/{STORE}/stock/changes"


@dataclass
class ByHand:
    downlink: Downlink
    cache: StreamCache
    sent: list[Request]
    changed: list[frozenset[Stream]]

    def asked(self, stream: Stream) -> list[Request]:
        return [r for r in self.sent if json.loads(r.payload)["stream"] == stream.value]


@asynccontextmanager
async def by_hand(folder: Path, config: SyncConfig) -> AsyncIterator[ByHand]:
    cache = StreamCache(folder / "streams.sqlite")
    sent: list[Request] = []
    changed: list[frozenset[Stream]] = []
    downlink = Downlink(cache, SOURCE, config, send=sent.append, on_change=changed.append)
    task = asyncio.create_task(downlink.run())
    try:
        yield ByHand(downlink, cache, sent, changed)
    finally:
        await downlink.close()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        cache.close()


def test_a_snapshot_whose_page_never_comes_is_asked_again_and_never_half_applied(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with by_hand(tmp_path, FAST) as hand:
            hand.downlink.connected()
            await until(lambda: len(hand.asked(Stream.STOCK)) == 1)
            first = hand.asked(Stream.STOCK)[0]
            assert json.loads(first.payload) == {
                "store": STORE,
                "stream": "stock",
                "epoch": "",
                "version": 0,
            }
            assert first.response_topic == ANSWERS
            assert first.expiry == 1  # answer_within, rounded up to whole seconds
            check_message(first.topic, first.payload)

            hand.downlink.received(
                ANSWERS, page(3, 1, 2, put("a", 1)), correlated(first.correlation)
            )
            await until(lambda: len(hand.asked(Stream.STOCK)) == 2)  # page 2 never came
            assert hand.cache.items(Stream.STOCK) == {}
            again = hand.asked(Stream.STOCK)[1]
            assert again.correlation != first.correlation

            for number, item in ((1, put("a", 1)), (2, put("b", 2))):
                hand.downlink.received(
                    ANSWERS, page(3, number, 2, item), correlated(again.correlation)
                )
            await until(lambda: len(hand.cache.items(Stream.STOCK)) == 2)
            await until(lambda: Stream.STOCK not in hand.downlink.status().pending)
            assert hand.changed == [frozenset({Stream.STOCK})]
            assert hand.downlink.status().counters.asked_again >= 1

    asyncio.run(scenario())


def test_answers_to_requests_asked_again_or_never_asked_are_counted_and_still_applied(
    tmp_path: Path,
) -> None:
    patient = SyncConfig(answer_within=60.0, check_every=3600.0)

    async def scenario() -> None:
        async with by_hand(tmp_path, patient) as hand:
            hand.downlink.connected()
            await until(lambda: len(hand.asked(Stream.STOCK)) == 1)
            asked = hand.asked(Stream.STOCK)[0]

            hand.downlink.received(ANSWERS, page(1, 1, 1, put("a", 1)), correlated(b"nobody's"))
            await until(lambda: hand.cache.item(Stream.STOCK, "a") == {"here": 1})
            assert Stream.STOCK in hand.downlink.status().pending  # not this request's answer

            # The hub's "you are current": skipped, confirmed, the request answered.
            hand.downlink.received(ANSWERS, changes(1, put("a", 1)), correlated(asked.correlation))
            await until(lambda: Stream.STOCK not in hand.downlink.status().pending)
            assert hand.changed == [frozenset({Stream.STOCK})]  # not for the skip

            hand.downlink.disconnected()
            hand.downlink.connected()
            await until(lambda: len(hand.asked(Stream.STOCK)) == 2)
            unanswered = hand.asked(Stream.STOCK)[1]
            hand.downlink.disconnected()
            hand.downlink.connected()  # asked again: the unanswered request is stale now
            late = changes(2, put("a", 2))
            hand.downlink.received(ANSWERS, late, correlated(unanswered.correlation))
            await until(lambda: hand.cache.item(Stream.STOCK, "a") == {"here": 2})
            counters = hand.downlink.status().counters
            assert (counters.unknown_answers, counters.stale_answers) == (1, 1)

    asyncio.run(scenario())


def test_one_resync_at_a_time_per_stream_however_many_gaps_show(tmp_path: Path) -> None:
    patient = SyncConfig(answer_within=60.0, check_every=3600.0)

    async def scenario() -> None:
        async with by_hand(tmp_path, patient) as hand:
            hand.downlink.connected()
            await until(lambda: len(hand.asked(Stream.STOCK)) == 1)
            asked = hand.asked(Stream.STOCK)[0]
            hand.downlink.received(
                ANSWERS, page(1, 1, 1, put("a", 1)), correlated(asked.correlation)
            )
            await until(lambda: Stream.STOCK not in hand.downlink.status().pending)

            for version in (3, 4, 5):  # 2 never came
                hand.downlink.received(LIVE, changes(version, put("a", version)), None)
            await until(lambda: hand.downlink.status().counters.out_of_order == 3)
            assert len(hand.asked(Stream.STOCK)) == 2
            assert json.loads(hand.asked(Stream.STOCK)[1].payload)["version"] == 1
            assert hand.cache.item(Stream.STOCK, "a") == {"here": 1}

    asyncio.run(scenario())


# --- the requests' bookkeeping ----------------------------------------------------------


def test_an_answer_is_told_by_its_correlation_and_keeps_its_request_waited_for() -> None:
    requests = Requests(answer_within=10.0)
    first = requests.open(Stream.STOCK, now=0.0)
    assert first is not None
    assert requests.open(Stream.STOCK, now=1.0) is None  # one at a time per stream
    assert requests.answer(first, now=8.0) is Answer.CURRENT  # a page: 10 s more from 8
    assert requests.late(now=15.0) == []
    assert requests.late(now=18.0) == [Stream.STOCK]
    assert requests.answer(first, now=19.0) is Answer.STALE  # asked again since
    assert requests.answer(b"someone else's", now=19.0) is Answer.UNKNOWN
    assert requests.answer(None, now=19.0) is Answer.UNKNOWN

    second = requests.open(Stream.STOCK, now=20.0)
    assert second is not None
    assert second != first
    assert not requests.end(Stream.STOCK, first, answered=True)  # not the one outstanding
    assert requests.end(Stream.STOCK, second, answered=True)
    assert requests.answer(second, now=21.0) is Answer.DONE  # the rest of its answer
    assert requests.pending == frozenset()
    assert requests.next_deadline() is None


def test_a_dropped_connection_leaves_every_request_unanswered() -> None:
    requests = Requests(answer_within=10.0)
    asked = {stream: requests.open(stream, now=0.0) for stream in PUBLISHED_STREAMS}
    assert requests.pending == frozenset(PUBLISHED_STREAMS)
    assert requests.next_deadline() == 10.0
    requests.end_all()
    assert requests.pending == frozenset()
    assert {requests.answer(c, now=1.0) for c in asked.values()} == {Answer.STALE}


def test_a_failing_listener_or_cache_is_counted_and_the_streams_go_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    patient = SyncConfig(answer_within=60.0, check_every=3600.0)

    def refusing_listener(streams: frozenset[Stream]) -> None:
        raise RuntimeError("the screen could not rebuild")

    async def scenario() -> None:
        cache = StreamCache(tmp_path / "streams.sqlite")
        sent: list[Request] = []
        downlink = Downlink(cache, SOURCE, patient, send=sent.append, on_change=refusing_listener)
        task = asyncio.create_task(downlink.run())
        try:
            downlink.connected()
            await until(lambda: len(sent) == len(PUBLISHED_STREAMS))
            stock = next(r for r in sent if json.loads(r.payload)["stream"] == "stock")
            downlink.received(ANSWERS, page(1, 1, 1, put("a", 1)), correlated(stock.correlation))
            downlink.received(LIVE, changes(2, put("a", 2)), None)
            await until(lambda: cache.item(Stream.STOCK, "a") == {"here": 2})

            cache.close()  # as a disk that fails: nothing can be read or written
            downlink.received(LIVE, changes(3, put("a", 3)), None)
            await until(lambda: downlink.status().counters.failures >= 1)
            assert "failed" in downlink.status().problem
            assert not task.done()
        finally:
            await downlink.close()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    with caplog.at_level(logging.WARNING, logger="edge.sync.downlink"):
        asyncio.run(scenario())
    assert caplog.text.count("the change listener failed") == 1  # logged once, not per commit
