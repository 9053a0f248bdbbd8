"""The MQTT uplink: publishes the outbox to the broker, in order, with a bounded window.

paho-mqtt is driven by the asyncio loop itself: its socket is watched with
`add_reader` / `add_writer` and its callbacks run on the loop, where all of the
uplink's state lives, so no lock is ever held across them and a PUBACK costs no
thread hop. Only the blocking connect (DNS, TCP, TLS handshake) runs in a worker
thread. A publish is done when its PUBACK carries a success reason code; only then is
its outbox row deleted. Messages in flight when the connection drops are resent by
paho after reconnecting; whatever a crash interrupted is resent from the outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from devices.backoff import Backoff
from edge.config import MqttConfig
from edge.events import CONTENT_TYPE, EventSource, rfc3339
from edge.outbox import Outbox, StoredEvent

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class UplinkStatus:
    """The link as operators see it."""

    connected: bool
    in_flight: int
    connects: int
    last_error: str


# The retained state a clean stop publishes and the Last Will stands in for.
OFFLINE = json.dumps({"state": "offline"})


def state_topic(device_id: str) -> str:
    """Where the retained online/offline state of a device lives."""
    return f"borne/v1/devices/{device_id}/state"


class Uplink:
    """Delivers outbox events to the broker until closed."""

    READ_AHEAD = 512  # events read from the outbox at a time
    # paho keeps `inflight` unacknowledged messages on the wire and queues the rest;
    # handing it a few windows ahead keeps the wire full. Still bounded, and all of
    # it is in the outbox if the process dies.
    HANDOFF_WINDOWS = 10
    RETRY_REFUSED_AFTER = 5.0  # seconds before a publish the broker refused is retried
    HOUSEKEEPING_EVERY = 1.0  # keepalive pings and retransmission timers
    GOODBYE_WITHIN = 2.0  # seconds a clean shutdown waits for `offline` to be acknowledged

    def __init__(
        self,
        config: MqttConfig,
        source: EventSource,
        outbox: Outbox,
        *,
        boot_count: int,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._config = config
        self._source = source
        self._outbox = outbox
        self._boot_count = boot_count
        self._backoff = backoff or Backoff(base=config.reconnect_min, cap=config.reconnect_max)
        self._clock = clock
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self._wake = asyncio.Event()
        self._lost = asyncio.Event()
        self._acked = asyncio.Event()
        self._connected = False
        self._connects = 0
        self._last_error = ""
        self._in_flight: dict[int, int] = {}  # paho mid -> outbox sequence
        self._read_upto = 0  # highest sequence read from the outbox (or handed over by it)
        self._ready: deque[StoredEvent] = deque()  # read, not yet published, in order
        self._delivered: list[int] = []
        self._refused: list[int] = []
        self._handoff = config.inflight * self.HANDOFF_WINDOWS
        self._properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        self._properties.ContentType = CONTENT_TYPE
        self._properties.PayloadFormatIndicator = 1
        self._socket_fd: int | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._client = self._make_client()
        outbox.on_append(self._committed)

    # --- the paho client, driven by the event loop -------------------------------------

    def _make_client(self) -> mqtt.Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self._source.device_id,
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        client.max_inflight_messages_set(self._config.inflight)
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
        client.on_socket_open = self._socket_opened
        client.on_socket_close = self._socket_closed
        client.on_socket_register_write = self._socket_wants_write
        client.on_socket_unregister_write = self._socket_written
        return client

    def _on_loop(self, callback: Callable[..., None], *args: Any) -> None:
        """Run `callback` on the event loop: now if we are on it, else soon."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        if threading.get_ident() == self._loop_thread:
            callback(*args)
        else:  # from the worker thread that runs a blocking connect
            loop.call_soon_threadsafe(callback, *args)

    def _socket_opened(self, _: mqtt.Client, __: Any, sock: Any) -> None:
        self._on_loop(self._watch, sock.fileno())

    def _socket_closed(self, _: mqtt.Client, __: Any, sock: Any) -> None:
        # By fd number, noted when the socket opened: by the time this runs on the
        # loop, the socket object may already be closed.
        self._on_loop(self._unwatch)

    def _socket_wants_write(self, _: mqtt.Client, __: Any, sock: Any) -> None:
        self._on_loop(self._watch_writes, True)

    def _socket_written(self, _: mqtt.Client, __: Any, sock: Any) -> None:
        self._on_loop(self._watch_writes, False)

    def _watch(self, fd: int) -> None:
        assert self._loop is not None
        self._unwatch()
        self._socket_fd = fd
        self._loop.add_reader(fd, self._readable)

    def _unwatch(self) -> None:
        if self._socket_fd is not None and self._loop is not None:
            self._loop.remove_reader(self._socket_fd)
            self._loop.remove_writer(self._socket_fd)
        self._socket_fd = None

    def _watch_writes(self, wanted: bool) -> None:
        if self._socket_fd is None or self._loop is None:
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
        self, client: mqtt.Client, _: Any, __: Any, reason: ReasonCode, ___: Any
    ) -> None:
        if reason.is_failure:
            self._note_error(f"broker refused the connection: {reason}")
            return
        self._backoff.reset()
        client.publish(state_topic(self._source.device_id), self._birth(), qos=1, retain=True)
        self._connected = True
        self._connects += 1
        self._last_error = ""
        log.info("uplink connected to %s:%d", self._config.host, self._config.port)
        self._wake.set()

    def _paho_disconnected(
        self, _: mqtt.Client, __: Any, ___: Any, reason: ReasonCode, ____: Any
    ) -> None:
        if self._connected and self._tasks:
            log.warning("uplink disconnected: %s", reason)
        self._connected = False
        self._lost.set()

    def _paho_published(
        self, _: mqtt.Client, __: Any, mid: int, reason: ReasonCode, ___: Any
    ) -> None:
        sequence = self._in_flight.pop(mid, None)
        if sequence is None:
            return  # the birth or goodbye message
        if not reason.is_failure:
            self._delivered.append(sequence)
            self._acked.set()
        else:
            self._note_error(f"broker refused event {sequence}: {reason}")
            self._refused.append(sequence)
        self._wake.set()

    def _birth(self) -> str:
        return json.dumps(
            {"state": "online", "boot": self._boot_count, "since": rfc3339(self._clock())}
        )

    def _note_error(self, message: str) -> None:
        if message != self._last_error:
            log.warning("uplink: %s", message)
        self._last_error = message

    def status(self) -> UplinkStatus:
        """A snapshot for health and the CLI."""
        return UplinkStatus(self._connected, len(self._in_flight), self._connects, self._last_error)

    # --- tasks ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Connect and deliver until `close()`."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._tasks = [
            asyncio.create_task(self._keep_connected(), name="uplink-connect"),
            asyncio.create_task(self._housekeeping(), name="uplink-housekeeping"),
            asyncio.create_task(self._pump(), name="uplink-pump"),
            asyncio.create_task(self._forget_delivered(), name="uplink-delete"),
            asyncio.create_task(self._retry_refused(), name="uplink-retry"),
        ]
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self._tasks)

    async def _keep_connected(self) -> None:
        """Connect, wait for the connection to drop, back off with jitter, reconnect."""
        first = True
        while True:
            self._lost.clear()
            try:
                if first:
                    await asyncio.to_thread(
                        self._client.connect,
                        self._config.host,
                        self._config.port,
                        self._config.keepalive,
                    )
                    first = False
                else:
                    await asyncio.to_thread(self._client.reconnect)
            except (OSError, ssl.SSLError, ValueError) as error:
                self._note_error(f"cannot reach broker: {error}")
            else:
                await self._lost.wait()
            await asyncio.sleep(self._backoff.next_delay())

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(self.HOUSEKEEPING_EVERY)
            self._client.loop_misc()

    async def _pump(self) -> None:
        """Keep paho's queue topped up, in sequence order."""
        while True:
            self._wake.clear()
            if not self._ready:
                events = await self._outbox.pending(self._read_upto, self.READ_AHEAD)
                self._take(events)
            while self._connected and self._ready and len(self._in_flight) < self._handoff:
                self._publish(self._ready.popleft())
            if not self._ready and self._wake.is_set():
                continue  # appended while we read: read again
            await self._wake.wait()

    def _take(self, events: list[StoredEvent]) -> None:
        """Queue events that follow on from what was read; others are read later, in order."""
        fresh = [event for event in events if event.sequence > self._read_upto]
        if fresh:
            self._ready.extend(fresh)
            self._read_upto = fresh[-1].sequence

    def _committed(self, events: list[StoredEvent]) -> None:
        """The outbox committed events: take them as they are when they follow on."""
        if events and events[0].sequence == self._read_upto + 1:
            self._take(events)
        self._wake.set()

    async def _forget_delivered(self) -> None:
        """Delete acknowledged events in batches, beside the publishing."""
        while True:
            await self._acked.wait()
            self._acked.clear()
            batch, self._delivered = self._delivered, []
            if batch:
                await self._outbox.delete_delivered(batch)

    async def _retry_refused(self) -> None:
        while True:
            await asyncio.sleep(self.RETRY_REFUSED_AFTER)
            if not self._refused or not self._connected:
                continue
            batch, self._refused = self._refused, []
            for event in await self._outbox.get(batch):
                self._publish(event)

    def _publish(self, event: StoredEvent) -> None:
        info = self._client.publish(event.topic, event.payload, qos=1, properties=self._properties)
        # The PUBACK can only be handled by this loop, after this line has run.
        self._in_flight[info.mid] = event.sequence

    async def close(self) -> None:
        """Delete what is acknowledged, say offline, disconnect."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._delivered:
            batch, self._delivered = self._delivered, []
            await self._outbox.delete_delivered(batch)
        if self._connected:
            await self._say_goodbye()
        self._unwatch()

    async def _say_goodbye(self) -> None:
        """A clean shutdown says `offline` itself: the Will is only for crashes."""
        info = self._client.publish(
            state_topic(self._source.device_id),
            OFFLINE,
            qos=1,
            retain=True,
        )
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.GOODBYE_WITHIN):
                while not info.is_published():  # noqa: ASYNC110 - paho offers no awaitable
                    await asyncio.sleep(0.01)
                self._lost.clear()
                self._client.disconnect()
                await self._lost.wait()
