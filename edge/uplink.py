"""The MQTT uplink: publishes the outbox to the broker, in order, with a bounded window.

paho-mqtt runs its network loop in a thread of ours (so that reconnects use our
jittered backoff); every paho callback is marshalled onto the asyncio loop with
`call_soon_threadsafe`, where all of the uplink's state lives. A publish is done
when its PUBACK carries a success reason code; only then is its outbox row deleted.
Messages in flight when the connection drops are resent by paho after reconnecting,
and whatever a crash interrupted is resent from the outbox on the next start.
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


def state_topic(device_id: str) -> str:
    """Where the retained online/offline state of a device lives."""
    return f"borne/v1/devices/{device_id}/state"


class Uplink:
    """Delivers outbox events to the broker until closed."""

    # After a publish is refused (a failure reason code), wait this long before retrying.
    RETRY_REFUSED_AFTER = 5.0

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
        self._wake = asyncio.Event()
        self._connected = False
        self._connects = 0
        self._last_error = ""
        self._in_flight: dict[int, int] = {}  # paho mid -> outbox sequence
        self._read_upto = 0  # highest sequence read from the outbox (or handed over by it)
        self._ready: deque[StoredEvent] = deque()  # read, not yet published, in order
        self._delivered: list[int] = []
        self._acked = asyncio.Event()
        self._handoff = config.inflight * self.HANDOFF_WINDOWS
        self._properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        self._properties.ContentType = CONTENT_TYPE
        self._properties.PayloadFormatIndicator = 1
        self._refused: list[int] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._client = self._make_client()
        outbox.on_append(self._committed)

    # --- the paho client and its thread -------------------------------------------------

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
            json.dumps({"state": "offline"}),
            qos=1,
            retain=True,
        )
        client.on_connect = self._paho_connected
        client.on_disconnect = self._paho_disconnected
        client.on_publish = self._paho_published
        return client

    def _call_in_loop(self, callback: Callable[..., None], *args: Any) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(callback, *args)

    def _paho_connected(
        self, client: mqtt.Client, _: Any, __: Any, reason: ReasonCode, ___: Any
    ) -> None:
        if reason.is_failure:
            self._call_in_loop(self._note_error, f"broker refused the connection: {reason}")
            return
        self._backoff.reset()
        client.publish(state_topic(self._source.device_id), self._birth(), qos=1, retain=True)
        self._call_in_loop(self._on_connected)

    def _paho_disconnected(
        self, _: mqtt.Client, __: Any, ___: Any, reason: ReasonCode, ____: Any
    ) -> None:
        self._call_in_loop(self._on_disconnected, str(reason))

    def _paho_published(
        self, _: mqtt.Client, __: Any, mid: int, reason: ReasonCode, ___: Any
    ) -> None:
        self._call_in_loop(self._on_puback, mid, reason.value, str(reason))

    def _birth(self) -> str:
        return json.dumps(
            {"state": "online", "boot": self._boot_count, "since": rfc3339(self._clock())}
        )

    def _network(self) -> None:
        """The paho network loop with our own jittered reconnects."""
        first = True
        while not self._stop.is_set():
            try:
                if first:
                    self._client.connect(
                        self._config.host, self._config.port, self._config.keepalive
                    )
                    first = False
                else:
                    self._client.reconnect()
            except (OSError, ssl.SSLError, ValueError) as error:
                self._call_in_loop(self._note_error, f"cannot reach broker: {error}")
                self._stop.wait(self._backoff.next_delay())
                continue
            while not self._stop.is_set():
                if self._client.loop(timeout=0.5) != mqtt.MQTT_ERR_SUCCESS:
                    break
            if not self._stop.is_set():
                self._stop.wait(self._backoff.next_delay())
        self._say_goodbye()

    def _say_goodbye(self) -> None:
        """A clean shutdown says `offline` itself: the Will is only for crashes."""
        if not self._client.is_connected():
            return
        info = self._client.publish(
            state_topic(self._source.device_id),
            json.dumps({"state": "offline"}),
            qos=1,
            retain=True,
        )
        deadline = time.monotonic() + 2.0
        while not info.is_published() and time.monotonic() < deadline:
            self._client.loop(timeout=0.1)
        self._client.disconnect()
        self._client.loop(timeout=0.1)

    # --- state on the event loop ----------------------------------------------------------

    def _note_error(self, message: str) -> None:
        if message != self._last_error:
            log.warning("uplink: %s", message)
        self._last_error = message

    def _on_connected(self) -> None:
        self._connected = True
        self._connects += 1
        self._last_error = ""
        log.info("uplink connected to %s:%d", self._config.host, self._config.port)
        self._wake.set()

    def _on_disconnected(self, reason: str) -> None:
        if self._connected and not self._stop.is_set():
            log.warning("uplink disconnected: %s", reason)
        self._connected = False

    def _on_puback(self, mid: int, code: int, reason: str) -> None:
        sequence = self._in_flight.pop(mid, None)
        if sequence is None:
            return  # the birth message, or a retransmission already settled
        if code < 0x80:
            self._delivered.append(sequence)
            self._acked.set()
        else:
            self._note_error(f"broker refused event {sequence}: {reason}")
            self._refused.append(sequence)
        self._wake.set()

    def status(self) -> UplinkStatus:
        """A snapshot for health and the CLI."""
        return UplinkStatus(self._connected, len(self._in_flight), self._connects, self._last_error)

    async def run(self) -> None:
        """Connect and deliver until `close()`; cancellation-safe."""
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._network, name="mqtt-uplink", daemon=True)
        self._thread.start()
        self._tasks = [
            asyncio.create_task(self._pump(), name="uplink-pump"),
            asyncio.create_task(self._forget_delivered(), name="uplink-delete"),
            asyncio.create_task(self._retry_refused(), name="uplink-retry"),
        ]
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self._tasks)

    READ_AHEAD = 512  # events read from the outbox at a time
    # paho keeps `inflight` unacknowledged messages on the wire and queues the rest in
    # its own thread; handing it a few windows ahead keeps the wire full without a
    # round trip through the event loop for every PUBACK. Still bounded, and all of
    # it is in the outbox if the process dies.
    HANDOFF_WINDOWS = 10

    async def _pump(self) -> None:
        """Keep the in-flight window full, in sequence order."""
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
        if events and events[0].sequence > self._read_upto:
            fresh = [e for e in events if e.sequence > self._read_upto]
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
        # Registered before the next await: the PUBACK callback is marshalled onto
        # this loop, so it cannot be handled before this line runs.
        self._in_flight[info.mid] = event.sequence

    async def close(self) -> None:
        """Deliver what is already acknowledged, say offline, and stop."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._delivered:
            batch, self._delivered = self._delivered, []
            await self._outbox.delete_delivered(batch)
        self._stop.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 5.0)
