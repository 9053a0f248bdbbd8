"""The MQTT uplink: publishes the outbox to the broker, in order, with a bounded window.

paho-mqtt is driven by the asyncio loop itself: its socket is watched with
`add_reader` / `add_writer` and its callbacks run on the loop, where all of the
uplink's state lives, so no lock is ever held across them and a PUBACK costs no
thread hop. Only the blocking connect (DNS, TCP, TLS handshake) runs in a worker
thread. A publish is done when its PUBACK carries a success reason code; only then is
its outbox row deleted.

What is held in memory is bounded: at most `READ_AHEAD` events read ahead and a few
windows handed to paho; the rest waits in SQLite. Each connection gets a fresh paho
client, and after a drop the uplink reads again from the outbox instead of letting
paho resend what it kept: an event the outbox shed meanwhile is gone for good.
Every task runs supervised (logged, restarted with backoff), and the link's state is
recorded in the outbox for `borne outbox status`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import ssl
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from devices.backoff import Backoff
from edge.config import MqttConfig
from edge.disconnect_reasons import SESSION_TAKEN_OVER, disconnect_reason
from edge.errors import OutboxError
from edge.events import CONTENT_TYPE, EventSource, rfc3339
from edge.log_once import RepeatedCondition
from edge.outbox import LinkRecord, StoredEvent
from edge.outbox_queue import Outbox, is_transient
from edge.refusals import Refusals
from edge.supervision import supervised
from edge.takeovers import TakeoverWatch
from edge.uplink_limits import BrokerLimits, publish_size

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class UplinkStatus:
    """The link as operators see it."""

    connected: bool
    in_flight: int  # events handed to paho, not yet acknowledged
    connects: int  # successful connections since start
    last_error: str  # the last problem, kept after it is over
    state: str  # "connecting", "connected", "waiting to reconnect", "restarting ..."
    restarts: int  # tasks restarted after a failure
    held: int  # events held in memory: read ahead, or with paho
    refused: int  # events the broker refused, waiting for their retry
    refusals: int  # refusals since start, every retry counted
    window: int  # QoS 1 messages in flight at once (Receive Maximum applied)
    keepalive: int  # seconds, as the broker's Server Keep Alive left it
    max_packet: int | None  # the broker's Maximum Packet Size
    topic_aliases: int  # topic aliases the broker accepts


# The retained state a clean stop publishes and the Last Will stands in for.
OFFLINE = json.dumps({"state": "offline"})


def state_topic(device_id: str) -> str:
    """Where the retained online/offline state of a device lives."""
    return f"borne/v1/devices/{device_id}/state"


@dataclass(frozen=True, slots=True)
class Request:
    """An MQTT 5 request: never through the outbox, dropped with the connection it was
    meant for (whoever asked asks again on the next one)."""

    topic: str
    payload: bytes
    response_topic: str
    correlation: bytes
    expiry: int  # seconds the broker keeps it for a subscriber that is away


@dataclass(frozen=True, slots=True)
class Response:
    """An MQTT 5 answer to a request from the platform: on the request's response topic,
    with its correlation data; like a request, never through the outbox."""

    topic: str
    payload: bytes
    correlation: bytes


class Inbound(Protocol):
    """A part of the kiosk that takes messages from the platform on the uplink's
    connection: what it subscribes to, and what it is told. Everything is called on
    the uplink's event loop and must not block it."""

    @property
    def subscriptions(self) -> Sequence[str]:
        """Topic filters, subscribed at QoS 1 on every connection."""
        ...

    def connected(self) -> None:
        """A connection is up and the subscriptions are asked for (the broker handles
        them before anything published after)."""

    def received(self, topic: str, payload: bytes, properties: Properties | None) -> None:
        """A message on one of the subscriptions."""

    def disconnected(self) -> None:
        """The connection dropped: requests in flight are lost."""


class Uplink:
    """Delivers outbox events to the broker until closed."""

    READ_AHEAD = 512  # events read from the outbox at a time: the bound on memory
    STABLE_AFTER = 10.0  # seconds a link (or task) must last before its backoff resets
    REFUSED_RETRY_MIN = 5.0  # seconds before a refused event is first retried
    REFUSED_RETRY_MAX = 300.0  # ... and at most, however often it was refused
    TASK_RESTART_MIN = 0.5  # seconds before a failed task starts again
    TASK_RESTART_MAX = 60.0
    HOUSEKEEPING_EVERY = 1.0  # keepalive pings and retransmission timers
    GOODBYE_WITHIN = 2.0  # seconds a clean shutdown waits for `offline` to be acknowledged
    FORGET_KEPT_EVERY = 60.0  # seconds between sweeps of kept events past their retention
    # Another connection with this device id took the session over (edge.takeovers).
    # Once in a while is any drop (an installer's tool on the kiosk's id). Twice within
    # TAKEN_OVER_WINDOW is most likely a second kiosk left on the same id: reconnecting
    # at once would take the session back, and the two would throw each other out many
    # times a second; waiting this long (jittered) lets the other one work.
    TAKEN_OVER_WINDOW = 600.0
    TAKEN_OVER_MIN = 60.0
    TAKEN_OVER_MAX = 300.0
    DELETE_RETRY_MIN = 0.1  # seconds before a failed delete of delivered events is retried
    DELETE_RETRY_MAX = 5.0

    def __init__(
        self,
        config: MqttConfig,
        source: EventSource,
        outbox: Outbox,
        *,
        boot_count: int,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self._config = config
        self._source = source
        self._outbox = outbox
        self._boot_count = boot_count
        self._backoff = backoff or Backoff(base=config.reconnect_min, cap=config.reconnect_max)
        self._clock = clock
        self._monotonic = monotonic
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not secrets
        self._configured = BrokerLimits.configured(
            inflight=config.inflight, keepalive=config.keepalive
        )
        self._limits = self._configured
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self._wake = asyncio.Event()
        self._lost = asyncio.Event()
        self._acked = asyncio.Event()
        self._state_changed = asyncio.Event()
        self._connected = False
        self._connected_at = 0.0
        self._connects = 0
        self._generation = 0  # one per connection: reads begun on an older one are stale
        self._last_error = ""
        # A broker that stays away, or a link that keeps dropping, is logged once.
        self._unreachable = RepeatedCondition(log, "cannot reach the broker", "attempts")
        self._dropping = RepeatedCondition(log, "the link to the broker dropped", "times")
        self._taken_over = RepeatedCondition(
            log,
            f"session taken over by another connection with this device id "
            f"({self._source.device_id}), again: is a second kiosk configured with it? "
            "The uplink waits minutes between tries instead of taking it back",
            "times",
        )
        self._takeovers = TakeoverWatch(self.TAKEN_OVER_WINDOW, monotonic)
        self._failed_connects = 0  # since the last drop
        self._failing_delete = RepeatedCondition(
            log, "deleting delivered events failed; tried again", "attempts"
        )
        self._socket_error = ""  # what paho said about the socket before it closed
        self._twin_suspected = False  # taken over again: wait long before the next try
        self._state = "connecting"
        self._state_since = clock()
        self._restarts = 0
        self._in_flight: dict[int, int] = {}  # paho mid -> outbox sequence
        self._control: set[int] = set()  # paho mids of the state messages in flight
        self._read_upto = 0  # highest sequence read from the outbox (or handed over by it)
        self._ready: deque[StoredEvent] = deque()  # read, not yet published, in order
        self._delivered: list[int] = []  # acknowledged, not yet deleted
        self._fetching_due: list[int] = []  # refused events due again, being read to resend
        self._deleting: set[int] = set()  # ... the same, to skip when reading again
        self._refusals: Refusals | None = None
        self._aliases: dict[str, tuple[Properties, int]] = {}  # topic -> alias, its size
        self._properties = self._publish_properties()
        self._properties_size = len(self._properties.pack())  # type: ignore[no-untyped-call]
        self._socket_fd: int | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._inbound: list[Inbound] = []
        self._requests: deque[Request | Response] = deque()  # waiting for a place in the window
        self._replays: deque[StoredEvent] = deque()  # delivered events the hub asked for again
        self._client = self._make_client()
        outbox.on_append(self._committed)
        outbox.on_shed(self._shed)

    # --- the paho client, driven by the event loop -------------------------------------

    def _make_client(self) -> mqtt.Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self._source.device_id,
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        # The uplink keeps the in-flight window itself: the broker's Receive Maximum is
        # known only from its CONNACK, and paho cannot change its window once connected.
        client.max_inflight_messages_set(0)
        # paho must never drop a message because its own queue is full.
        client.max_queued_messages_set(0)
        if self._config.username:
            client.username_pw_set(self._config.username, self._config.password or None)
        if self._config.tls:
            client.tls_set(
                ca_certs=self._config.ca_file or None,
                certfile=self._config.cert_file or None,
                keyfile=self._config.key_file or None,
                cert_reqs=ssl.CERT_REQUIRED,
            )
        client.will_set(
            state_topic(self._source.device_id),
            OFFLINE,
            qos=1,
            retain=True,
        )
        client.on_connect = self._paho_connected
        client.on_disconnect = self._paho_disconnected
        client.on_publish = self._paho_published
        client.on_message = self._paho_message
        client.on_socket_open = self._socket_opened
        client.on_socket_close = self._socket_closed
        client.on_socket_register_write = self._socket_wants_write
        client.on_socket_unregister_write = self._socket_written
        client.on_log = self._paho_log
        return client

    def _paho_log(self, client: mqtt.Client, _: Any, level: int, message: str) -> None:
        # paho says why a socket failed only in its log; the disconnect that follows
        # carries a bare "Unspecified error".
        if level == mqtt.MQTT_LOG_ERR and client is self._client:
            self._socket_error = message

    def _fresh_client(self) -> None:
        """Replace the client: what the old one kept in memory is not sent again."""
        old, self._client = self._client, self._make_client()
        self._unwatch()
        sock = old.socket()
        if sock is not None:
            sock.close()

    @staticmethod
    def _publish_properties(alias: int | None = None) -> Properties:
        properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        properties.ContentType = CONTENT_TYPE
        properties.PayloadFormatIndicator = 1
        if alias is not None:
            properties.TopicAlias = alias
        return properties

    def _on_loop(self, callback: Callable[..., None], *args: Any) -> None:
        """Run `callback` on the event loop: now if we are on it, else soon."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        if threading.get_ident() == self._loop_thread:
            callback(*args)
        else:  # from the worker thread that runs a blocking connect
            loop.call_soon_threadsafe(callback, *args)

    def _socket_opened(self, client: mqtt.Client, __: Any, sock: Any) -> None:
        self._on_loop(self._watch, client, sock.fileno())

    def _socket_closed(self, client: mqtt.Client, __: Any, sock: Any) -> None:
        # By fd number, noted when the socket opened: by the time this runs on the
        # loop, the socket object may already be closed.
        self._on_loop(self._unwatch, client)

    def _socket_wants_write(self, client: mqtt.Client, __: Any, sock: Any) -> None:
        self._on_loop(self._watch_writes, client, True)

    def _socket_written(self, client: mqtt.Client, __: Any, sock: Any) -> None:
        self._on_loop(self._watch_writes, client, False)

    def _watch(self, client: mqtt.Client, fd: int) -> None:
        if client is not self._client or self._loop is None:
            return  # a replaced client's late news
        self._unwatch()
        self._socket_fd = fd
        self._loop.add_reader(fd, self._readable)

    def _unwatch(self, client: mqtt.Client | None = None) -> None:
        if client is not None and client is not self._client:
            return
        if self._socket_fd is not None and self._loop is not None:
            self._loop.remove_reader(self._socket_fd)
            self._loop.remove_writer(self._socket_fd)
        self._socket_fd = None

    def _watch_writes(self, client: mqtt.Client, wanted: bool) -> None:
        if client is not self._client or self._socket_fd is None or self._loop is None:
            return
        if wanted:
            self._loop.add_writer(self._socket_fd, self._client.loop_write)
        else:
            self._loop.remove_writer(self._socket_fd)

    def _readable(self) -> None:
        self._client.loop_read()
        # TLS may hold decrypted bytes the socket will never signal again.
        sock = self._client.socket()
        while isinstance(sock, ssl.SSLSocket) and sock.pending() and self._client.socket() is sock:
            self._client.loop_read()

    def _paho_connected(
        self, client: mqtt.Client, _: Any, __: Any, reason: ReasonCode, properties: Any
    ) -> None:
        if client is not self._client:
            return
        self._socket_error = ""
        if reason.is_failure:
            self._failed_connects += 1
            self._note_error(f"broker refused the connection: {reason}", logged=False)
            self._unreachable.occurred(detail=f"refused: {reason}")
            return
        self._takeovers.connected(first_try=self._failed_connects == 0)
        self._failed_connects = 0
        self._unreachable.cleared()
        self._limits = BrokerLimits.from_connack(
            properties, inflight=self._config.inflight, keepalive=self._config.keepalive
        )
        birth = client.publish(
            state_topic(self._source.device_id), self._birth(), qos=1, retain=True
        )
        self._control.add(birth.mid)
        self._connected = True
        self._connected_at = self._monotonic()
        self._connects += 1
        self._generation += 1
        self._aliases = {}
        self._set_state("connected")
        if not self._dropping.active:  # a flapping link is counted, not logged each time
            log.info("uplink connected to %s:%d", self._config.host, self._config.port)
        filters = [topic for inbound in self._inbound for topic in inbound.subscriptions]
        if filters:
            client.subscribe([(topic, SubscribeOptions(qos=1)) for topic in filters])
        for inbound in self._inbound:
            inbound.connected()
        self._wake.set()

    def _paho_disconnected(
        self, client: mqtt.Client, __: Any, flags: Any, reason: ReasonCode, ____: Any
    ) -> None:
        if client is not self._client:
            return
        from_broker = bool(getattr(flags, "is_disconnect_packet_from_server", False))
        said = disconnect_reason(reason, from_broker=from_broker, socket_error=self._socket_error)
        if self._connected and self._tasks:
            self._note_error(f"disconnected: {said}", logged=False)
            stable = self._monotonic() - self._connected_at >= self.STABLE_AFTER
            if stable:
                self._dropping.cleared()  # a drop after a good while starts a new count
                self._taken_over.cleared()
            self._dropping.occurred(detail=said)
            self._twin_suspected = self._takeovers.dropped(
                taken_over=from_broker and reason.value == SESSION_TAKEN_OVER,
                unexplained=not from_broker and not self._socket_error,
                short=not stable,
            )
            if self._twin_suspected:
                self._note_error(self._taken_over.what, logged=False)
                self._taken_over.occurred(detail=said)
        was_connected, self._connected = self._connected, False
        self._forget_connection()
        self._lost.set()
        if was_connected:
            for inbound in self._inbound:
                inbound.disconnected()

    def _paho_message(self, client: mqtt.Client, _: Any, message: mqtt.MQTTMessage) -> None:
        if client is not self._client:
            return
        properties = getattr(message, "properties", None)
        for inbound in self._inbound:
            if any(mqtt.topic_matches_sub(sub, message.topic) for sub in inbound.subscriptions):
                inbound.received(message.topic, bytes(message.payload), properties)

    def attach(self, inbound: Inbound) -> None:
        """Subscribe `inbound` to its topics on every connection (attach before `run`)."""
        self._inbound.append(inbound)

    def request(self, request: Request) -> None:
        """Send `request` as soon as the broker's window has room, if still connected.

        Thread-safe. A request made while disconnected, or cut off by a drop, is lost.
        """
        self._on_loop(self._queue_request, request)

    def respond(self, response: Response) -> None:
        """Send `response` as soon as the broker's window has room, if still connected.

        Thread-safe. An answer made while disconnected, or cut off by a drop, is lost:
        the platform asks again.
        """
        self._on_loop(self._queue_request, response)

    def resend(self, events: Sequence[StoredEvent]) -> None:
        """Publish delivered events again, exactly as stored, on their own topics, through
        the window (after requests, before new events); the platform asked for them.

        Called on the loop. Events waiting for a connection that drops are not kept:
        the platform asks again.
        """
        if self._connected:
            self._replays.extend(events)
            self._fill()

    def _queue_request(self, request: Request | Response) -> None:
        if self._connected:
            self._requests.append(request)
            self._fill()

    def _send_request(self, request: Request | Response) -> None:
        properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        properties.CorrelationData = request.correlation
        properties.PayloadFormatIndicator = 1
        if isinstance(request, Request):
            properties.ResponseTopic = request.response_topic
            properties.MessageExpiryInterval = request.expiry
        info = self._client.publish(request.topic, request.payload, qos=1, properties=properties)
        self._control.add(info.mid)  # counted in the window like the state messages

    def _forget_connection(self) -> None:
        """After a drop, read again from the outbox: it, not memory, says what is left."""
        self._generation += 1
        if self._refusals is not None:
            self._refusals.requeue(self._in_flight.values())  # retries cut off mid-flight
        self._in_flight.clear()
        self._control.clear()
        self._requests.clear()
        self._replays.clear()
        self._ready.clear()
        self._read_upto = 0

    def _paho_published(
        self, client: mqtt.Client, __: Any, mid: int, reason: ReasonCode, ___: Any
    ) -> None:
        if client is not self._client:
            return
        sequence = self._in_flight.pop(mid, None)
        if sequence is None:  # a state message or a request: its place in the window is free
            self._control.discard(mid)
            self._fill()
            return
        if not reason.is_failure:
            self._delivered.append(sequence)
            self._deleting.add(sequence)
            if self._refusals is not None:
                self._refusals.accepted(sequence)
            self._acked.set()
        else:
            self._refuse(sequence, str(reason))
        # Refill the window here, on the PUBACK, without a trip through the pump task.
        self._fill()
        if not self._ready:
            self._wake.set()

    def _refuse(self, sequence: int, reason: str) -> None:
        self._last_error = f"broker refused event {sequence}: {reason}"
        if self._refusals is not None:
            self._refusals.refuse(sequence, reason)

    def _birth(self) -> str:
        return json.dumps(
            {"state": "online", "boot": self._boot_count, "since": rfc3339(self._clock())}
        )

    def _note_error(self, message: str, *, logged: bool = True) -> None:
        """Keep the last problem for the status; log it unless a condition counts it."""
        if logged and message != self._last_error:
            log.warning("uplink: %s", message)
        self._last_error = message
        self._state_changed.set()

    def _set_state(self, state: str) -> None:
        if state != self._state:
            self._state = state
            self._state_since = self._clock()
            self._state_changed.set()

    def status(self) -> UplinkStatus:
        """A snapshot for health and the CLI."""
        refusals = self._refusals
        return UplinkStatus(
            connected=self._connected,
            in_flight=len(self._in_flight),
            connects=self._connects,
            last_error=self._last_error,
            state=self._state,
            restarts=self._restarts,
            held=len(self._ready) + len(self._in_flight),
            refused=0 if refusals is None else len(refusals),
            refusals=0 if refusals is None else refusals.total,
            window=self._limits.window,
            keepalive=self._limits.keepalive,
            max_packet=self._limits.max_packet,
            topic_aliases=self._limits.topic_aliases,
        )

    # --- tasks ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Connect and deliver until `close()`; a task that fails is logged and restarted."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._refusals = Refusals(
            self._loop,
            base=self.REFUSED_RETRY_MIN,
            cap=self.REFUSED_RETRY_MAX,
            on_due=self._wake.set,
        )
        bodies: dict[str, Callable[[], Awaitable[None]]] = {
            "connect": self._keep_connected,
            "housekeeping": self._housekeeping,
            "pump": self._pump,
            "delete": self._forget_delivered,
            "record": self._record_state,
        }
        self._tasks = [
            asyncio.create_task(self._supervise(name, body), name=f"uplink-{name}")
            for name, body in bodies.items()
        ]
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self._tasks)

    def _supervise(
        self, name: str, body: Callable[[], Awaitable[None]]
    ) -> Coroutine[Any, Any, None]:
        return supervised(
            f"uplink task {name}",
            body,
            on_failure=self._task_failed,
            on_restart=self._task_restarted,
            backoff=Backoff(base=self.TASK_RESTART_MIN, cap=self.TASK_RESTART_MAX),
            stable_after=self.STABLE_AFTER,
            logger=log,
            clock=self._monotonic,
        )

    def _task_failed(self, name: str, error: BaseException, delay: float) -> None:
        self._restarts += 1
        self._last_error = f"{name} failed: {error}"
        self._set_state(f"restarting {name} after a failure")

    def _task_restarted(self, name: str) -> None:
        self._set_state("connected" if self._connected else "waiting to reconnect")

    async def _keep_connected(self) -> None:
        """Connect, wait for the connection to drop, back off with jitter, reconnect.

        The backoff is reset only when a connection lasted `STABLE_AFTER`: a broker
        that accepts and then drops at once is not hammered.
        """
        while True:
            self._lost.clear()
            self._connected = False
            self._connected_at = 0.0
            self._forget_connection()
            self._fresh_client()
            self._set_state("connecting")
            try:
                await asyncio.to_thread(
                    self._client.connect,
                    self._config.host,
                    self._config.port,
                    self._configured.keepalive,
                )
            except (OSError, ssl.SSLError, ValueError) as error:
                self._failed_connects += 1
                self._note_error(f"cannot reach broker: {error}", logged=False)
                self._unreachable.occurred(detail=str(error))
            else:
                await self._lost.wait()
                if (
                    self._connected_at
                    and self._monotonic() - self._connected_at >= self.STABLE_AFTER
                ):
                    self._backoff.reset()
            delay = self._backoff.next_delay()  # counted as any failed link
            if self._twin_suspected:
                self._twin_suspected = False
                self._set_state("taken over by another connection with this device id")
                delay = max(delay, self._rng.uniform(self.TAKEN_OVER_MIN, self.TAKEN_OVER_MAX))
            else:
                self._set_state("waiting to reconnect")
            await asyncio.sleep(delay)

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(self.HOUSEKEEPING_EVERY)
            self._client.loop_misc()

    async def _pump(self) -> None:
        """Keep paho's queue topped up: refused events whose time came, then in order."""
        while True:
            self._wake.clear()
            if self._connected:
                await self._retry_due()
                if not self._ready:
                    generation = self._generation
                    events = await self._outbox.pending(self._read_upto, self.READ_AHEAD)
                    if generation == self._generation:  # not read for a dropped connection
                        self._take(events)
                        if events and not self._ready:
                            continue  # all skipped (refused, being deleted): read on
                self._fill()
                if self._connected and not self._ready and self._wake.is_set():
                    continue  # appended while we read: read again
            await self._wake.wait()

    def _fill(self) -> None:
        """Send waiting requests and answers, then events asked for again, then the next
        events in order, while the window has room.

        Requests go first: they are few, and what a kiosk shows waits on their answers.
        """
        while self._connected and self._requests and self._room() > 0:
            self._send_request(self._requests.popleft())
        while self._connected and self._replays and self._room() > 0:
            self._publish(self._replays.popleft())
        while self._connected and self._ready and self._room() > 0:
            if self._retries_waiting():
                self._wake.set()  # the pump reads them: they go before anything newer
                return
            self._publish(self._ready.popleft())

    def _retries_waiting(self) -> bool:
        """Refused events are due again (or being read to be sent): nothing newer goes first."""
        return bool(self._fetching_due) or (self._refusals is not None and self._refusals.has_due())

    def _room(self) -> int:
        """Places left in the broker's window (Receive Maximum counts every QoS 1 message)."""
        return self._limits.window - len(self._in_flight) - len(self._control)

    async def _retry_due(self) -> None:
        assert self._refusals is not None
        room = self._room()
        due = self._refusals.take_due(room) if room > 0 else []
        if due:
            self._fetching_due = due
            try:
                events = await self._outbox.get(due)  # shed or deleted ones are gone
            finally:
                self._fetching_due = []
            if not self._connected:  # dropped while reading: they wait for the next link
                self._refusals.requeue(due)
                return
            for event in events:
                self._publish(event)

    def _take(self, events: list[StoredEvent]) -> None:
        """Queue events that follow on from what was read; others are read later, in order."""
        refused = self._refusals
        for event in events:
            if event.sequence <= self._read_upto:
                continue
            self._read_upto = event.sequence
            if event.sequence in self._deleting or (
                refused is not None and event.sequence in refused
            ):
                continue  # delivered already, or waiting for its own retry
            self._ready.append(event)

    def _committed(self, events: list[StoredEvent]) -> None:
        """The outbox committed events: take them as they are when they follow on.

        Only while connected, and only as many as the read-ahead window holds: the
        rest is read from the outbox when there is room.
        """
        room = self.READ_AHEAD - len(self._ready)
        if self._connected and events and events[0].sequence == self._read_upto + 1 and room > 0:
            self._take(events[:room])
        self._wake.set()

    def _shed(self, sequences: list[int]) -> None:
        """The outbox shed these: never publish them."""
        gone = set(sequences)
        if any(event.sequence in gone for event in self._ready):
            self._ready = deque(event for event in self._ready if event.sequence not in gone)
        if self._refusals is not None:
            self._refusals.forget(gone)

    async def _forget_delivered(self) -> None:
        """Delete acknowledged events in batches, beside the publishing (kept ones are
        marked); kept events past their retention are forgotten even while none is."""
        while True:
            if not self._delivered:
                try:
                    async with asyncio.timeout(self.FORGET_KEPT_EVERY):
                        await self._acked.wait()
                except TimeoutError:
                    try:
                        await self._outbox.forget_kept()
                    except OutboxError as error:
                        if not is_transient(error):
                            raise
                        log.debug("outbox: kept events forgotten later: %s", error)
                    continue
            self._acked.clear()
            batch, self._delivered = self._delivered, []
            if batch:
                await self._delete(batch)

    async def _delete(self, batch: list[int]) -> None:
        """Delete acknowledged events; a lock held elsewhere or a full disk is waited out.

        Meanwhile they stay in `_deleting`, so they are not published again, and the
        publishing goes on: reading needs no write lock.
        """
        backoff = Backoff(base=self.DELETE_RETRY_MIN, cap=self.DELETE_RETRY_MAX, rng=self._rng)
        deleted = False
        try:
            while True:
                batch += self._delivered  # acknowledged while this waited: in the same go
                self._delivered = []
                try:
                    await self._outbox.delete_delivered(batch)
                    break
                except OutboxError as error:
                    if not is_transient(error):
                        raise
                    self._note_error(f"deleting delivered events failed: {error}", logged=False)
                    self._failing_delete.occurred(detail=str(error))
                await asyncio.sleep(backoff.next_delay())
            deleted = True
        finally:
            if not deleted:
                self._delivered[:0] = batch  # deleted by the next attempt, not forgotten
        self._failing_delete.cleared()
        self._deleting.difference_update(batch)

    async def _record_state(self) -> None:
        """Keep the link's state in the outbox, where `borne outbox status` reads it."""
        while True:
            await self._state_changed.wait()
            self._state_changed.clear()
            try:
                await self._outbox.record_link(self._link_record())
            except OutboxError as error:
                if not is_transient(error):
                    raise
                # A lock held elsewhere, a full disk: the state is recorded once it passes.
                self._state_changed.set()
                await asyncio.sleep(self.DELETE_RETRY_MAX)

    def _link_record(self) -> LinkRecord:
        return LinkRecord(self._state, self._last_error, self._state_since, self._restarts)

    def _publish(self, event: StoredEvent) -> None:
        alias = self._aliases.get(event.topic)
        if alias is not None:  # the broker knows this topic by its alias: send only that
            topic, (properties, properties_size) = "", alias
        elif len(self._aliases) < self._limits.topic_aliases:
            topic, properties = event.topic, self._publish_properties(len(self._aliases) + 1)
            properties_size = len(properties.pack())  # type: ignore[no-untyped-call]
        else:
            topic, properties, properties_size = (
                event.topic,
                self._properties,
                self._properties_size,
            )
        limit = self._limits.max_packet
        if limit is not None:
            size = publish_size(topic.encode(), event.payload, properties_size)
            if size > limit:
                self._refuse(
                    event.sequence, f"{size} bytes, over the broker's maximum packet size {limit}"
                )
                return
        info = self._client.publish(topic, event.payload, qos=1, properties=properties)
        # The PUBACK can only be handled by this loop, after this line has run.
        self._in_flight[info.mid] = event.sequence
        if alias is None and topic and properties is not self._properties:
            # Sent with its topic and a new alias: from now on, the alias alone (for
            # this connection, within the broker's Topic Alias Maximum).
            self._aliases[event.topic] = (properties, properties_size)

    async def close(self) -> None:
        """Delete what is acknowledged, say offline, disconnect."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._ready.clear()  # nothing more is published: what is left stays in the outbox
        self._replays.clear()
        if self._refusals is not None:
            self._refusals.close()
        if self._delivered:
            batch, self._delivered = self._delivered, []
            with contextlib.suppress(OutboxError):
                await self._outbox.delete_delivered(batch)
        if self._connected:
            await self._say_goodbye()
        self._unwatch()
        self._set_state("stopped")
        with contextlib.suppress(OutboxError):
            await self._outbox.record_link(self._link_record())

    async def _say_goodbye(self) -> None:
        """A clean shutdown says `offline` itself: the Will is only for crashes."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.GOODBYE_WITHIN):
                while self._room() <= 0:  # noqa: ASYNC110 - a place in the broker's window
                    await asyncio.sleep(0.01)
                info = self._client.publish(
                    state_topic(self._source.device_id), OFFLINE, qos=1, retain=True
                )
                self._control.add(info.mid)
                while not info.is_published():  # noqa: ASYNC110 - paho offers no awaitable
                    await asyncio.sleep(0.01)
                self._lost.clear()
                self._client.disconnect()
                await self._lost.wait()
