"""`borne hub serve`: every kiosk event from the broker into the event store, none lost.

The hub subscribes with MQTT 5 to the shared subscription
`$share/{group}/borne/v1/devices/+/events/#`, so several hub processes share the load,
and to every device's retained state. Its session is persistent (clean start off, a
session expiry), so what arrives while it is down waits at the broker.

An event is acknowledged (PUBACK) only once the batch holding it is committed: paho
runs with manual acknowledgement, and `client.ack` is called after the commit. A hub
killed -9 therefore loses nothing: the broker sends again what it had not acknowledged,
and the store keeps each (source, id) once. paho's network loop runs in its own thread
and hands messages to the asyncio loop; the store's blocking calls run in a worker
thread. A malformed message is counted, logged without its content, and acknowledged:
sending it again could never make it valid.

Given a `GapAsker`, the hub asks devices again for what the broker lost on the way
(edge.hub.gaps), and hears their answers on its own, unshared, response topic.

Given a `SyncResponder`, the hub also answers the kiosks' resync requests, on the
shared subscription `$share/{group}/borne/v1/devices/+/req/sync` (edge.hub.resync).
Given a `StaffResponder`, it answers staff kiosks' customer, order and handover requests
the same way (edge.hub.staff_requests). Given `AssistQueues`, it publishes a store's
advisor call queue after it commits one of that store's assist or session-end events
(edge.hub.assist_queue); no other event costs it anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from devices.backoff import Backoff
from edge.errors import BorneError, ConfigError
from edge.hub.assist_queue import AssistQueues
from edge.hub.config import HubMqttConfig
from edge.hub.gaps import GapAsker
from edge.hub.request_reply import Delivery
from edge.hub.resync import SyncResponder
from edge.hub.staff_requests import StaffResponder, shared_staff_topics, staff_request_name
from edge.hub.state_message import parse_state_message
from edge.hub.store import (
    ASSIST_EVENT_TYPES,
    EventStore,
    HubStoreError,
    IncomingEvent,
    IngestResult,
    MalformedInputError,
    parse_event,
)
from edge.hub.sync_request import is_sync_request_topic, shared_sync_topic
from edge.log_once import RepeatedCondition
from edge.sd_notify import ServiceNotifier

log = logging.getLogger(__name__)

T = TypeVar("T")

EVENTS_TOPIC = "borne/v1/devices/+/events/#"
STATE_TOPIC = "borne/v1/devices/+/state"


class HubLinkError(BorneError):
    """The hub cannot set up its link to the broker (its TLS files cannot be used).

    Retrying cannot help: the installer must fix the files.
    """

    retryable = False


@dataclass(slots=True)
class HubCounters:
    """What this hub process did since it started."""

    received: int = 0  # messages handed over by the broker, redeliveries included
    stored: int = 0  # events stored for the first time
    duplicates: int = 0  # events the store already had
    malformed: int = 0  # messages refused: broken events or states
    states: int = 0  # online/offline states recorded

    def as_dict(self) -> dict[str, int]:
        """The counters by name, for JSON."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class _Delivery:
    """A message as paho handed it over, with the client that must acknowledge it."""

    client: mqtt.Client
    mid: int
    qos: int
    topic: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class _Ingested:
    """What a batch of deliveries became: the store's result, the delivery of each
    event given to the store (by index), and the deliveries refused before it."""

    result: IngestResult
    carried_by: list[_Delivery]
    malformed: list[tuple[str, MalformedInputError | None]]
    assist_stores: set[str]  # stores with an assist or session-end event in the batch


def shared_events_topic(group: str) -> str:
    """The shared subscription every hub process of `group` joins."""
    return f"$share/{group}/{EVENTS_TOPIC}"


def _is_event_topic(topic: str) -> bool:
    """`borne/v1/devices/{device}/events/...`, whatever the device is called."""
    levels = topic.split("/")
    return len(levels) > 5 and levels[4] == "events"


class HubService:
    """Ingests every kiosk event and device state from the broker until `close()`."""

    BATCH_SIZE = 200  # events committed in one transaction at most
    STABLE_AFTER = 10.0  # seconds a connection must last before the backoff resets
    STORE_RETRY_MIN = 0.5  # seconds before a failed commit is tried again
    STORE_RETRY_MAX = 30.0

    def __init__(
        self,
        config: HubMqttConfig,
        store: EventStore,
        *,
        backoff: Backoff | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        resync: SyncResponder | None = None,
        gaps: GapAsker | None = None,
        staff: StaffResponder | None = None,
        assist: AssistQueues | None = None,
        service: ServiceNotifier | None = None,
    ) -> None:
        if not config.host:
            raise ConfigError("mqtt.host", "must name the broker the kiosks publish to")
        self._config = config
        self._store = store
        self._backoff = backoff or Backoff(base=config.reconnect_min, cap=config.reconnect_max)
        self._monotonic = monotonic
        self._now = now
        self._resync = resync  # None: this hub does not answer resyncs
        self._gaps = gaps  # None: this hub does not ask devices again
        self._staff = staff  # None: this hub does not answer staff requests
        self._assist = assist  # None: this hub publishes no advisor call queue
        # systemd's notifications and watchdog (a no-op when not run as a service).
        self._service = service or ServiceNotifier.from_environment()
        self.counters = HubCounters()
        # Deliveries handed over by paho's thread. One wake-up of the loop per burst, not
        # one per message: at thousands of events a second, a wake-up each (a write to
        # the loop's self-pipe, a task switch) was most of the hub's time.
        self._inbox: deque[_Delivery] = deque()
        self._inbox_lock = threading.Lock()
        self._inbox_woken = False
        self._inbox_ready = asyncio.Event()
        self._answers: asyncio.Queue[tuple[bytes, Properties | None]] = asyncio.Queue()
        self._client: mqtt.Client | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lost = asyncio.Event()
        self._closing = asyncio.Event()
        self._handling: asyncio.Future[None] | None = None
        self._unreachable = RepeatedCondition(log, "cannot reach the broker", "attempts")
        self._store_failing = RepeatedCondition(log, "the event store fails", "attempts")

    # --- the connection ------------------------------------------------------------------

    def _make_client(self) -> mqtt.Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self._config.effective_client_id,
            protocol=MQTTProtocolVersion.MQTTv5,
            # Reconnecting is ours, with jitter and a fresh client each time.
            reconnect_on_failure=False,
        )
        client.manual_ack_set(True)
        if self._config.username:
            client.username_pw_set(self._config.username, self._config.password or None)
        if self._config.tls:
            try:
                client.tls_set(
                    ca_certs=self._config.ca_file or None,
                    certfile=self._config.cert_file or None,
                    keyfile=self._config.key_file or None,
                    cert_reqs=ssl.CERT_REQUIRED,
                )
            except (ssl.SSLError, OSError) as error:  # a file that is not a PEM, a bad key
                raise HubLinkError(f"the MQTT TLS files cannot be used: {error}") from error
        client.on_connect = self._paho_connected
        client.on_disconnect = self._paho_disconnected
        client.on_subscribe = self._paho_subscribed
        client.on_message = self._paho_message
        return client

    def _connect_properties(self) -> Properties:
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = self._config.session_expiry
        properties.ReceiveMaximum = self._config.inflight
        return properties

    def _connect(self, client: mqtt.Client) -> None:
        """Blocking (DNS, TCP, TLS): runs in a worker thread."""
        client.connect(
            self._config.host,
            self._config.port,
            keepalive=self._config.keepalive,
            clean_start=False,
            properties=self._connect_properties(),
        )

    def _paho_connected(
        self, client: mqtt.Client, _: Any, __: Any, reason: ReasonCode, ___: Any
    ) -> None:
        if reason.is_failure:
            log.warning("hub: the broker refused the connection: %s", reason)
            return
        topics = [
            (shared_events_topic(self._config.share_group), SubscribeOptions(qos=1)),
            (STATE_TOPIC, SubscribeOptions(qos=1)),
        ]
        if self._resync is not None:
            topics.append((shared_sync_topic(self._config.share_group), SubscribeOptions(qos=1)))
        if self._gaps is not None:
            topics.append((self._gaps.answer_topic, SubscribeOptions(qos=1)))
        if self._staff is not None:
            topics += [
                (topic, SubscribeOptions(qos=1))
                for topic in shared_staff_topics(self._config.share_group)
            ]
        client.subscribe(topics)

    def _paho_subscribed(
        self, _: mqtt.Client, __: Any, ___: int, reasons: list[ReasonCode], ____: Any
    ) -> None:
        refused = [str(reason) for reason in reasons if reason.is_failure]
        if refused:
            log.error("hub: the broker refused a subscription: %s", ", ".join(refused))
            self._service.status("the broker refused a subscription")
        else:
            log.info("hub: subscribed to the kiosks' events and states")
            self._service.status("broker connected, subscribed")

    def _paho_disconnected(self, client: mqtt.Client, *_: Any) -> None:
        if self._loop is not None and client is self._client:
            self._loop.call_soon_threadsafe(self._lost.set)

    def _paho_message(self, client: mqtt.Client, _: Any, message: mqtt.MQTTMessage) -> None:
        if self._resync is not None and is_sync_request_topic(message.topic):
            if self._loop is not None:
                request = Delivery.of(client, message)
                self._loop.call_soon_threadsafe(self._resync.submit, request)
            return
        if self._staff is not None and staff_request_name(message.topic) is not None:
            if self._loop is not None:
                request = Delivery.of(client, message)
                self._loop.call_soon_threadsafe(self._staff.submit, request)
            return
        if self._gaps is not None and message.topic == self._gaps.answer_topic:
            # An answer lost with the ack is asked for again: acknowledged at once.
            client.ack(message.mid, message.qos)
            if self._loop is not None:
                answer = (bytes(message.payload), getattr(message, "properties", None))
                self._loop.call_soon_threadsafe(self._answers.put_nowait, answer)
            return
        delivery = _Delivery(
            client, message.mid, message.qos, message.topic, bytes(message.payload)
        )
        loop = self._loop
        if loop is None:
            return
        with self._inbox_lock:
            self._inbox.append(delivery)
            wake, self._inbox_woken = not self._inbox_woken, True
        if wake:
            loop.call_soon_threadsafe(self._inbox_ready.set)

    async def _keep_connected(self) -> None:
        """Connect, wait for the link to drop, back off with jitter, connect again."""
        while not self._closing.is_set():
            client = self._make_client()
            self._client = client
            self._lost.clear()
            try:
                await asyncio.to_thread(self._connect, client)
            except (OSError, ValueError) as error:  # ValueError: paho's bad host or port
                self._unreachable.occurred(detail=str(error))
                await self._pause(self._backoff.next_delay())
                continue
            self._unreachable.cleared()
            client.loop_start()
            connected_at = self._monotonic()
            await self._until(self._lost)
            if self._closing.is_set():
                return  # `run` disconnects once the last batch is acknowledged
            await asyncio.to_thread(client.loop_stop)
            log.warning("hub: the link to the broker dropped; reconnecting")
            self._service.status("the link to the broker dropped; reconnecting")
            if self._monotonic() - connected_at >= self.STABLE_AFTER:
                self._backoff.reset()
            await self._pause(self._backoff.next_delay())

    async def _until(self, event: asyncio.Event) -> None:
        """Wait for `event` or for `close()`, whichever comes first."""
        waiters = [asyncio.ensure_future(event.wait()), asyncio.ensure_future(self._closing.wait())]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)

    # --- ingest --------------------------------------------------------------------------

    async def _ingest_forever(self) -> None:
        while True:
            await self._inbox_ready.wait()
            with self._inbox_lock:
                count = min(len(self._inbox), self.BATCH_SIZE)
                batch = [self._inbox.popleft() for _ in range(count)]
                if not self._inbox:  # the next delivery wakes the loop again
                    self._inbox_ready.clear()
                    self._inbox_woken = False
            if not batch:
                continue
            # A batch under way is finished and acknowledged even if `close()` comes.
            self._handling = asyncio.ensure_future(self._handle(batch))
            await asyncio.shield(self._handling)

    async def _handle(self, batch: list[_Delivery]) -> None:
        self.counters.received += len(batch)
        carrying = [delivery for delivery in batch if _is_event_topic(delivery.topic)]
        for delivery in batch:
            if not _is_event_topic(delivery.topic):
                await self._record_state(delivery)
        if carrying:
            # Parsed in the store's worker thread, with the commit: the loop stays free
            # for paho's hand-overs and the acknowledgements.
            ingested = await self._with_store(self._ingest, carrying)
            for topic, problem in ingested.malformed:
                self._refused(topic, problem)
            result = ingested.result
            self.counters.stored += result.stored
            self.counters.duplicates += result.duplicates
            for refusal in result.refused:
                self._refused(ingested.carried_by[refusal.index].topic, refusal.error)
            if ingested.assist_stores and self._assist is not None:
                self._assist.notice(ingested.assist_stores)
        for delivery in batch:
            # A delivery of an older connection is not ours to acknowledge any more:
            # the broker sends it again on the session's next connection.
            if delivery.client is self._client:
                delivery.client.ack(delivery.mid, delivery.qos)

    def _ingest(self, deliveries: list[_Delivery]) -> _Ingested:
        """Parse and store the events the deliveries carry (blocking: a worker thread)."""
        events: list[IncomingEvent] = []
        carried_by: list[_Delivery] = []
        malformed: list[tuple[str, MalformedInputError | None]] = []
        assist_stores: set[str] = set()
        for delivery in deliveries:
            try:
                event = parse_event(delivery.payload)
            except MalformedInputError as error:
                malformed.append((delivery.topic, error))
                continue
            # A device publishes only under its own id (the broker's ACL checks the
            # topic): an event naming another device in its source is refused.
            if delivery.topic.split("/")[3] != event.device_id:
                malformed.append((delivery.topic, None))
                continue
            events.append(event)
            carried_by.append(delivery)
            if event.type in ASSIST_EVENT_TYPES:
                assist_stores.add(event.store_id)
        result = self._store.ingest(events) if events else IngestResult(0, 0)
        return _Ingested(result, carried_by, malformed, assist_stores)

    async def _record_state(self, delivery: _Delivery) -> None:
        try:
            state = parse_state_message(delivery.topic, delivery.payload)
            at = state.since or self._now()
            await self._with_store(
                self._store.set_device_state, state.device_id, state.state, state.boot, at
            )
        except MalformedInputError as error:
            self._refused(delivery.topic, error)
            return
        self.counters.states += 1

    def _refused(self, topic: str, error: MalformedInputError | None) -> None:
        self.counters.malformed += 1
        reason = str(error) if error is not None else "its source names another device"
        # The topic's device level only: the message itself may hold a shopper's data.
        levels = topic.split("/")
        device = levels[3] if len(levels) > 3 else "?"
        log.warning(
            "hub: refused a message of device %r: %s (%d refused so far)",
            device[:64],
            reason,
            self.counters.malformed,
        )

    async def _with_store(self, call: Callable[..., T], *args: Any) -> T:
        """`call(*args)` in a worker thread, tried again while the store is failing."""
        backoff = Backoff(base=self.STORE_RETRY_MIN, cap=self.STORE_RETRY_MAX)
        while True:
            try:
                result = await asyncio.to_thread(call, *args)
            except HubStoreError as error:
                if not error.retryable:
                    raise
                self._store_failing.occurred(detail=str(error))
                await asyncio.sleep(backoff.next_delay())
                continue
            self._store_failing.cleared()
            return result

    # --- asking devices again --------------------------------------------------------

    def _publish(self, topic: str, payload: bytes, properties: Properties) -> bool:
        """Hand a request to the connected client (paho's publish is thread-safe)."""
        client = self._client
        if client is None or not client.is_connected():
            return False
        info = client.publish(topic, payload, qos=1, properties=properties)
        return info.rc == mqtt.MQTT_ERR_SUCCESS

    def _publish_retained(self, topic: str, payload: bytes) -> bool:
        """Hand a state message (the last one is what counts) to the connected client."""
        client = self._client
        if client is None or not client.is_connected():
            return False
        info = client.publish(topic, payload, qos=1, retain=True)
        return info.rc == mqtt.MQTT_ERR_SUCCESS

    async def _hear_answers(self, gaps: GapAsker) -> None:
        while True:
            payload, properties = await self._answers.get()
            await gaps.received(payload, properties)

    # --- lifetime ------------------------------------------------------------------------

    async def run(self) -> None:
        """Ingest until `close()`; the last batch is committed and acknowledged first.

        An error that retrying cannot help (a store error whose `retryable` is false,
        unusable TLS files), or any task of the hub ending on an error, ends the service
        and is raised.
        """
        self._loop = asyncio.get_running_loop()
        ingest = asyncio.create_task(self._ingest_forever(), name="hub-ingest")
        connect = asyncio.create_task(self._keep_connected(), name="hub-connect")
        closing = asyncio.create_task(self._closing.wait(), name="hub-closing")
        tasks = [ingest, connect, closing]
        if self._resync is not None:
            tasks.append(asyncio.create_task(self._resync.run(), name="hub-resync"))
        if self._staff is not None:
            tasks.append(asyncio.create_task(self._staff.run(), name="hub-staff"))
        if self._assist is not None:
            assist = self._assist.run(self._publish_retained)
            tasks.append(asyncio.create_task(assist, name="hub-assist"))
        if self._gaps is not None:
            tasks.append(asyncio.create_task(self._gaps.run(self._publish), name="hub-gaps"))
            tasks.append(
                asyncio.create_task(self._hear_answers(self._gaps), name="hub-gap-answers")
            )
        # Fed from this loop: a hung hub stops the pings and systemd restarts it. Ready
        # as soon as it runs: a broker that is away is waited for, not a failed start.
        watchdog = asyncio.create_task(self._service.feed_watchdog(), name="hub-watchdog")
        self._service.ready("started, connecting to the broker")
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._service.stopping()
            watchdog.cancel()
            self._closing.set()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self._handling is not None:
                await asyncio.gather(self._handling, return_exceptions=True)
            client = self._client
            if client is not None:
                client.disconnect()
                await asyncio.to_thread(client.loop_stop)
            await asyncio.gather(watchdog, return_exceptions=True)
            self._service.close()
        # Any task that ended on an error ends the hub with it, said and raised (a non-zero
        # exit for `borne hub serve`): a hub that went on ingesting without answering
        # kiosks, or answering without ingesting, would fail without anyone knowing.
        for task in tasks:
            failure = task.exception() if task.done() and not task.cancelled() else None
            if failure is not None:
                log.error(
                    "hub: %s stopped on %s: %s", task.get_name(), type(failure).__name__, failure
                )
                raise failure

    def close(self) -> None:
        """Stop: `run` returns once the batch under way is acknowledged."""
        self._closing.set()
