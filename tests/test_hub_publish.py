"""The hub publishes each store's change sets after an import, and answers resyncs.

Against a real mosquitto: `borne hub import` with a broker configured publishes every
new change set on the store's topics; a kiosk-side client asks `HubService` for a
resync (MQTT 5 request/response) and gets the snapshot's pages or the change sets it
missed; a malformed request or one for another store gets nothing. The traffic is
checked against docs/asyncapi.yaml.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from hypothesis import given
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.demo import DEMO_CATALOG
from edge.hub.config import HubMqttConfig
from edge.hub.feeds import read_feed
from edge.hub.feeds.demo_export import DemoFeedFiles, export_demo_store
from edge.hub.publisher import ChangePublishError, Outgoing, publish_change_sets
from edge.hub.resync import SyncResponder, answer_documents, device_store_lookup
from edge.hub.service import HubService
from edge.hub.store import SqliteEventStore
from edge.hub.streams import StreamStore
from edge.hub.sync_request import SyncRequest, SyncRequestError, parse_sync_request
from edge.ids import UUIDv7Generator
from edge.sync.cursor import SnapshotAssembly
from edge.sync.messages import ChangeSet, SnapshotPage, Stream, parse_message
from tests.asyncapi import check_message
from tests.conftest import BORNE, Subscriber, borne
from tests.mosquitto import Broker, free_port

STORE = "paris-01"
DEVICE = "kiosk-07"
REQUEST_TOPIC = f"borne/v1/devices/{DEVICE}/req/sync"
RESPONSE_TOPIC = f"borne/v1/devices/{DEVICE}/res/sync"


def hub_config(folder: Path, port: int | None) -> Path:
    """A hub TOML config: its data under `folder`, a broker on `port` (None: no broker)."""
    path = folder / "hub.toml"
    mqtt_section = f'[mqtt]\nhost = "127.0.0.1"\nport = {port}\n' if port is not None else ""
    path.write_text(f'{mqtt_section}[store]\ndata_dir = "{folder / "hub"}"\n')
    return path


def one_more_quantity(feeds: DemoFeedFiles) -> Path:
    """The store's inventory feed with its first row's quantity raised by 5."""
    inventory = next(path for path in feeds.inventories if path.stem.endswith(STORE))
    lines = inventory.read_text(encoding="utf-8").splitlines()
    quantity = lines[0].split("\t").index("quantity")
    row = lines[1].split("\t")
    row[quantity] = str(int(row[quantity]) + 5)
    inventory.write_text("\n".join([lines[0], "\t".join(row), *lines[2:]]) + "\n")
    return inventory


def import_summary(config: Path, *files: Path) -> dict[str, Any]:
    """`borne hub import`, succeeded, and its JSON summary."""
    result = borne("hub", "import", "--config", str(config), *map(str, files))
    assert result.returncode == 0, result.stderr
    summary: dict[str, Any] = json.loads(result.stdout)
    return summary


def send_marker(port: int, topic: str) -> None:
    """Publish a marker after everything published before it (the broker keeps the order)."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        client.publish(topic, b"{}", qos=1).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


def received_until_marker(subscriber: Subscriber, marker: str) -> list[tuple[str, bytes]]:
    """What the subscriber received before the marker (waiting for the marker)."""
    subscriber.wait_for(lambda sub: any(topic == marker for topic, _, _ in sub.messages))
    with subscriber.lock:
        topics = [topic for topic, _, _ in subscriber.messages]
        before = subscriber.messages[: topics.index(marker)]
    return [(topic, payload) for topic, payload, _ in before]


def test_an_import_publishes_its_change_sets_and_a_changed_quantity_alone(
    tmp_path: Path, broker: Broker
) -> None:
    feeds = export_demo_store(DEMO_CATALOG, tmp_path / "feeds")
    config = hub_config(tmp_path, broker.port)
    subscriber = Subscriber(broker.port, topic=f"borne/v1/stores/{STORE}/#")
    subscriber.start()
    marker = f"borne/v1/stores/{STORE}/marker"
    try:
        first = import_summary(config, *feeds.all())
        send_marker(broker.port, marker)
        received = received_until_marker(subscriber, marker)

        assert first["link"] == "published"
        assert first["published"] == len(first["versions"])
        ours = {key for key in first["versions"] if key.startswith(f"{STORE}/")}
        assert {topic for topic, _ in received} == {
            f"borne/v1/stores/{key}/changes" for key in ours
        }
        for topic, payload in received:
            check_message(topic, payload)
            message = parse_message(payload, STORE)
            assert isinstance(message, ChangeSet)
            assert topic == f"borne/v1/stores/{STORE}/{message.stream}/changes"
            assert message.version == 1

        with subscriber.lock:
            subscriber.messages.clear()
        second = import_summary(config, one_more_quantity(feeds))
        send_marker(broker.port, marker)
        received = received_until_marker(subscriber, marker)
    finally:
        subscriber.stop()

    assert second["versions"][f"{STORE}/stock"] == 2
    assert second["published"] == len(second["versions"])
    assert [topic for topic, _ in received] == [f"borne/v1/stores/{STORE}/stock/changes"]
    change_set = parse_message(received[0][1], STORE)
    streams = StreamStore(tmp_path / "hub" / "streams.sqlite")
    try:
        expected = streams.changes_since(STORE, Stream.STOCK, 1)
    finally:
        streams.close()
    assert expected is not None
    assert json.loads(received[0][1]) == expected[0]
    assert isinstance(change_set, ChangeSet)
    assert change_set.version == 2
    assert len(change_set.changes) == 1


def test_an_import_succeeds_with_the_broker_down_or_none_configured(tmp_path: Path) -> None:
    feeds = export_demo_store(DEMO_CATALOG, tmp_path / "feeds")
    down = tmp_path / "down"
    down.mkdir()

    result = borne(
        "hub", "import", "--config", str(hub_config(down, free_port())), *map(str, feeds.all())
    )

    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["versions"][f"{STORE}/stock"] == 1  # committed all the same
    assert summary["published"] == 0
    assert summary["link"].startswith("not published: cannot reach the broker")
    assert "kiosks will resync" in result.stderr

    alone = tmp_path / "alone"
    alone.mkdir()
    summary = import_summary(hub_config(alone, None), *feeds.all())
    assert summary["published"] == 0
    assert summary["link"].startswith("no broker configured")


# --- resync: a kiosk asks, the hub answers ---------------------------------------------


@dataclass
class Kiosk:
    """The kiosk's side of the request/response: sends requests, keeps every answer."""

    port: int
    answers: list[tuple[bytes, bytes, int | None]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    client: mqtt.Client | None = None

    def start(self) -> None:
        subscribed = threading.Event()
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=DEVICE, protocol=MQTTProtocolVersion.MQTTv5
        )

        def on_message(_: mqtt.Client, __: Any, message: mqtt.MQTTMessage) -> None:
            check_message(message.topic, bytes(message.payload))
            correlation = getattr(message.properties, "CorrelationData", b"")
            expiry = getattr(message.properties, "MessageExpiryInterval", None)
            with self.lock:
                self.answers.append((bytes(correlation), bytes(message.payload), expiry))

        client.on_connect = lambda c, *_: c.subscribe(RESPONSE_TOPIC, qos=1)
        client.on_subscribe = lambda *_: subscribed.set()
        client.on_message = on_message
        client.connect("127.0.0.1", self.port)
        client.loop_start()
        assert subscribed.wait(10), "subscription not acknowledged"
        self.client = client

    def stop(self) -> None:
        if self.client is not None:
            self.client.disconnect()
            self.client.loop_stop()

    def ask(self, correlation: bytes, payload: bytes) -> None:
        assert self.client is not None
        properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        properties.ResponseTopic = RESPONSE_TOPIC
        properties.CorrelationData = correlation
        info = self.client.publish(REQUEST_TOPIC, payload, qos=1, properties=properties)
        info.wait_for_publish(10)

    def request(self, correlation: bytes, **fields: Any) -> None:
        payload = json.dumps({"store": STORE, **fields}).encode()
        check_message(REQUEST_TOPIC, payload)  # what `ask` sends may be broken on purpose
        self.ask(correlation, payload)

    def answers_to(self, correlation: bytes) -> list[tuple[bytes, int | None]]:
        with self.lock:
            return [
                (payload, expiry) for tag, payload, expiry in self.answers if tag == correlation
            ]

    def wait_for(self, correlation: bytes, count: int) -> list[Any]:
        """The messages answering `correlation`, parsed, once `count` have come."""
        deadline_waiter = threading.Event()
        for _ in range(600):
            if len(self.answers_to(correlation)) >= count:
                break
            deadline_waiter.wait(0.05)
        answers = self.answers_to(correlation)
        assert len(answers) == count, f"{len(answers)} answers to {correlation!r}"
        for _, expiry in answers:
            assert expiry is not None
            assert 0 < expiry <= 60
        return [parse_message(payload, STORE) for payload, _ in answers]


@dataclass
class RunningHub:
    """A `HubService` with its resync responder, on its own asyncio loop in a thread."""

    service: HubService
    responder: SyncResponder
    streams: StreamStore
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread


def seen_event(events: SqliteEventStore) -> None:
    """The device's first event: the hub learns its store from it."""
    raw = {
        "specversion": "1.0",
        "id": str(UUIDv7Generator()()),
        "source": f"/stores/{STORE}/devices/{DEVICE}",
        "type": "io.borne.session.started",
        "time": "2026-11-30T10:00:00Z",
        "sequence": f"{1:020d}",
        "datacontenttype": "application/json",
        "data": {},
    }
    assert events.ingest([raw]).stored == 1


@pytest.fixture
def hub(tmp_path: Path, broker: Broker) -> Iterator[RunningHub]:
    feeds = export_demo_store(DEMO_CATALOG, tmp_path / "feeds")
    streams = StreamStore(tmp_path / "streams.sqlite")
    streams.import_feeds([read_feed(path) for path in feeds.all()])
    events = SqliteEventStore(tmp_path / "events.sqlite")
    seen_event(events)
    # A retained state: once the hub has it, its subscriptions (one SUBSCRIBE) are in place.
    send_state(broker.port)
    config = HubMqttConfig(
        host="127.0.0.1",
        port=broker.port,
        client_id="hub-test",
        reconnect_min=0.1,
        reconnect_max=0.5,
    )
    responder = SyncResponder(streams, device_store_lookup(events), page_items=3)
    service = HubService(config, events, resync=responder)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(service.run(),))
    thread.start()
    try:
        for _ in range(600):
            if service.counters.states:
                break
            threading.Event().wait(0.05)
        assert service.counters.states == 1, "the hub never subscribed"
        yield RunningHub(service, responder, streams, loop, thread)
    finally:
        loop.call_soon_threadsafe(service.close)
        thread.join(30)
        loop.close()
        events.close()
        streams.close()


def send_state(port: int) -> None:
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


def test_a_kiosk_resyncs_from_a_snapshot_then_from_its_version(
    tmp_path: Path, broker: Broker, hub: RunningHub
) -> None:
    streams = StreamStore(tmp_path / "streams.sqlite")
    kiosk = Kiosk(broker.port)
    kiosk.start()
    try:
        expected_items = streams.items(STORE, Stream.CATALOG)
        epoch, version = streams.position(STORE, Stream.CATALOG)
        pages_expected = len(streams.snapshot(STORE, Stream.CATALOG, 3))
        assert pages_expected > 1  # several pages, each a message

        kiosk.request(b"first", stream="catalog", epoch="", version=0)
        pages = kiosk.wait_for(b"first", pages_expected)

        assembly = SnapshotAssembly(Stream.CATALOG)
        for page in pages:
            assert isinstance(page, SnapshotPage)
            assembly.add_page(page)
        assert assembly.complete
        assert (assembly.epoch, assembly.version) == (epoch, version)
        items = {item.key: item.value for page in assembly.items() for item in page.items}
        assert items == expected_items

        # One quantity changes; a kiosk at version 1 is sent exactly the change set after it.
        streams.import_feeds(
            [read_feed(one_more_quantity(export_demo_store(DEMO_CATALOG, tmp_path / "again")))]
        )
        stock_epoch, stock_version = streams.position(STORE, Stream.STOCK)
        assert stock_version == 2
        kiosk.request(b"second", stream="stock", epoch=stock_epoch, version=1)
        (change_set,) = kiosk.wait_for(b"second", 1)
        assert isinstance(change_set, ChangeSet)
        assert (change_set.epoch, change_set.version) == (stock_epoch, 2)
        assert len(change_set.changes) == 1

        # Another epoch: the kiosk is sent the snapshot, not change sets.
        kiosk.request(b"renumbered", stream="stock", epoch="another-epoch", version=1)
        stock_pages = len(streams.snapshot(STORE, Stream.STOCK, 3))
        assert all(isinstance(m, SnapshotPage) for m in kiosk.wait_for(b"renumbered", stock_pages))
    finally:
        kiosk.stop()
        streams.close()
    assert hub.responder.counters.answered == 3
    assert hub.responder.counters.malformed == hub.responder.counters.refused == 0


def test_a_malformed_request_or_one_for_another_store_gets_nothing(
    broker: Broker, hub: RunningHub
) -> None:
    kiosk = Kiosk(broker.port)
    kiosk.start()
    try:
        kiosk.ask(b"broken", b"not json")
        kiosk.ask(
            b"no-version", json.dumps({"store": STORE, "stream": "stock", "epoch": ""}).encode()
        )
        kiosk.ask(
            b"elsewhere",
            json.dumps({"store": "lyon-01", "stream": "stock", "epoch": "", "version": 0}).encode(),
        )
        # Requests are answered in order: once the last is answered, the others were dropped.
        kiosk.request(b"last", stream="offers", epoch="", version=0)
        kiosk.wait_for(b"last", len(hub.streams.snapshot(STORE, Stream.OFFERS, 3)))
    finally:
        kiosk.stop()
    assert kiosk.answers_to(b"broken") == kiosk.answers_to(b"no-version") == []
    assert kiosk.answers_to(b"elsewhere") == []
    assert hub.responder.counters.malformed == 2
    assert hub.responder.counters.refused == 1
    assert hub.responder.counters.answered == 1


# --- the request parser, the answer -----------------------------------------------------


def test_a_current_kiosk_is_sent_its_last_change_set_again(tmp_path: Path) -> None:
    feeds = export_demo_store(DEMO_CATALOG, tmp_path / "feeds")
    streams = StreamStore(tmp_path / "streams.sqlite")
    try:
        streams.import_feeds([read_feed(path) for path in feeds.all()])
        epoch, version = streams.position(STORE, Stream.STOCK)
        request = SyncRequest(DEVICE, STORE, Stream.STOCK, epoch, version, RESPONSE_TOPIC, b"x")
        (answer,) = answer_documents(streams, request)
        assert (answer["version"], answer["epoch"]) == (version, epoch)
        assert "changes" in answer
    finally:
        streams.close()


def _valid() -> dict[str, Any]:
    return {"store": STORE, "stream": "stock", "epoch": "e-1", "version": 3}


def test_a_well_formed_request_is_read_whole() -> None:
    request = parse_sync_request(
        REQUEST_TOPIC, json.dumps(_valid()).encode(), RESPONSE_TOPIC, b"id"
    )
    assert request == SyncRequest(DEVICE, STORE, Stream.STOCK, "e-1", 3, RESPONSE_TOPIC, b"id")


@pytest.mark.parametrize(
    ("topic", "response_topic", "correlation"),
    [
        ("borne/v1/devices/kiosk-07/req/other", RESPONSE_TOPIC, b"id"),
        (REQUEST_TOPIC, "borne/v1/devices/kiosk-08/res/sync", b"id"),  # another device's
        (REQUEST_TOPIC, "borne/v1/devices/kiosk-07/res/#", b"id"),
        (REQUEST_TOPIC, None, b"id"),
        (REQUEST_TOPIC, RESPONSE_TOPIC, None),
        (REQUEST_TOPIC, RESPONSE_TOPIC, b"x" * 257),
    ],
)
def test_a_request_without_its_own_way_back_is_refused(
    topic: str, response_topic: str | None, correlation: bytes | None
) -> None:
    with pytest.raises(SyncRequestError):
        parse_sync_request(topic, json.dumps(_valid()).encode(), response_topic, correlation)


@given(st.binary(max_size=512))
def test_any_bytes_are_a_request_or_a_sync_request_error(payload: bytes) -> None:
    try:
        request = parse_sync_request(REQUEST_TOPIC, payload, RESPONSE_TOPIC, b"id")
    except SyncRequestError:
        return
    assert request.version >= 0


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@given(st.sampled_from(sorted(_valid())), _json)
def test_a_request_with_any_field_replaced_is_read_or_refused_typed(name: str, value: Any) -> None:
    document = _valid() | {name: value}
    try:
        request = parse_sync_request(
            REQUEST_TOPIC, json.dumps(document).encode(), RESPONSE_TOPIC, b"id"
        )
    except SyncRequestError:
        return
    assert (request.store_id, request.stream, request.epoch, request.version) == (
        document["store"],
        document["stream"],
        document["epoch"],
        document["version"],
    )


def test_change_sets_the_broker_refuses_are_reported_not_counted(tmp_path: Path) -> None:
    acl = tmp_path / "acl"
    acl.write_text("topic read borne/#\n")  # anonymous clients may not publish
    directory = tmp_path / "broker"
    directory.mkdir()
    refusing = Broker(
        directory, free_port(), listener_options=f"allow_anonymous true\nacl_file {acl}"
    )
    refusing.start()
    try:
        config = HubMqttConfig(host="127.0.0.1", port=refusing.port)
        message = Outgoing(f"borne/v1/stores/{STORE}/stock/changes", b"{}")
        with pytest.raises(ChangePublishError) as refused:
            publish_change_sets(config, [message, message])
    finally:
        refusing.kill(signal.SIGTERM)
    assert refused.value.published == 0
    assert "refused" in refused.value.reason


@pytest.mark.mqtt
def test_borne_hub_serve_answers_a_kiosk_s_resync(tmp_path: Path, broker: Broker) -> None:
    config = hub_config(tmp_path, broker.port)
    import_summary(config, *export_demo_store(DEMO_CATALOG, tmp_path / "feeds").all())
    events = SqliteEventStore(tmp_path / "hub" / "events.sqlite")
    seen_event(events)  # the hub knows the kiosk's store from its events
    events.close()
    send_state(broker.port)
    serve = subprocess.Popen(
        [*BORNE, "hub", "serve", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    kiosk = Kiosk(broker.port)
    try:
        # The retained state reaching the hub's store: its subscriptions are in place.
        for _ in range(600):
            status = borne("hub", "status", "--config", str(config), "--json").stdout
            if '"online"' in status:
                break
            threading.Event().wait(0.05)
        kiosk.start()
        kiosk.request(b"boot", stream="offers", epoch="", version=0)  # a kiosk holding nothing
        (page,) = kiosk.wait_for(b"boot", 1)
    finally:
        kiosk.stop()
        serve.send_signal(signal.SIGTERM)
        stdout, stderr = serve.communicate(timeout=60)
    assert serve.returncode == 0, stderr
    assert isinstance(page, SnapshotPage)
    assert (page.page, page.pages) == (1, 1)
    assert page.items  # the demo store's promotions
    assert json.loads(stdout)["resync"]["answered"] == 1


def test_a_kiosk_the_hub_is_configured_with_is_known_before_its_first_event(
    tmp_path: Path,
) -> None:
    events = SqliteEventStore(tmp_path / "events.sqlite")
    try:
        store_of = device_store_lookup(events, {"kiosk-new": "lyon-01"})
        assert store_of("kiosk-new") == "lyon-01"  # named in [devices]: answered at once
        assert store_of(DEVICE) is None  # neither named nor heard from: refused
        seen_event(events)
        assert store_of(DEVICE) == STORE  # known from its events
    finally:
        events.close()
