"""The kiosk's downlink: keeps the stream cache in step with the platform over MQTT 5.

Attached to the uplink's connection (`uplink.attach(downlink)`), it subscribes to the
store's change sets and to the device's resync answers. Change sets are not retained,
so on every connection it asks a resync of each stream from what it holds; whatever
`StreamCache.handle` says is missing is asked too, at most one request per stream
outstanding, and a request whose answer does not come within `answer_within` is
asked again. While connected, each stream is checked every `check_every` seconds: the
platform answers an up-to-date kiosk with its last change set, which confirms the
stream current, so the age of what is shown grows only while the link, the broker or
the platform is away.

Messages are applied in arrival order by one worker thread (SQLite with
`synchronous=FULL`, a snapshot page of 10,000 items): the uplink's event loop only
queues them. Everything else (requests outstanding, timers, counters) lives on the
loop. Answers are told apart by their correlation data: one to the request outstanding
ends it; one to a request already asked again (stale) or to none of this kiosk's
(unknown) is counted and still applied, because the cache takes only what follows on
from what it holds, and a snapshot's pages are the same whichever request brought
them; it just does not end the request outstanding.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from paho.mqtt.properties import Properties

from edge.config import SyncConfig
from edge.events import EventSource
from edge.sync.cache import Handled, Outcome, StreamCache, SyncError
from edge.sync.messages import PUBLISHED_STREAMS, Problem, Stream
from edge.sync.requests import Answer, Requests
from edge.sync.status import DownlinkCounters, DownlinkState
from edge.uplink import Request

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DownlinkStatus:
    """The downlink as the runtime and health telemetry see it."""

    connected: bool
    since: float | None  # when it connected or lost the connection
    pending: frozenset[Stream]  # streams with a resync outstanding
    counters: DownlinkCounters
    problem: str  # the last problem, kept after it is over


@dataclass(frozen=True, slots=True)
class _Message:
    topic: str
    payload: bytes
    correlation: bytes | None
    answer: Answer
    at: float


@dataclass(frozen=True, slots=True)
class _Ask:
    stream: Stream
    correlation: bytes


@dataclass(frozen=True, slots=True)
class _Record:
    state: DownlinkState
    at: float


@dataclass(frozen=True, slots=True)
class _Failed:
    """The cache could not take a message (SyncError): nothing of it was applied."""

    reason: str


_Work = _Message | _Ask | _Record


class Downlink:
    """The store's streams coming down; see the module's docstring.

    Implements `edge.uplink.Inbound`: `subscriptions`, `connected`, `received` and
    `disconnected` are called on the uplink's event loop and never block it.
    """

    STATE_EVERY = 1.0  # seconds between writes of the state to the cache, at most

    def __init__(
        self,
        cache: StreamCache,
        source: EventSource,
        config: SyncConfig,
        *,
        send: Callable[[Request], None],
        on_change: Callable[[frozenset[Stream]], None] = lambda streams: None,
        streams: Iterable[Stream] = PUBLISHED_STREAMS,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._cache = cache
        self._source = source
        self._config = config
        self._send = send
        self._on_change = on_change
        self._streams = tuple(dict.fromkeys(streams))
        self._clock = clock  # what is recorded: when a stream was confirmed, since when
        self._monotonic = monotonic  # the timers: a wall clock set back must not stall them
        self._prefix = f"borne/v1/stores/{source.store_id}/"
        self._request_topic = f"borne/v1/devices/{source.device_id}/req/sync"
        self._response_topic = f"borne/v1/devices/{source.device_id}/res/sync"
        self._expiry = max(1, math.ceil(config.answer_within))
        self._work: asyncio.Queue[_Work | None] = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="downlink")
        self._busy = False  # the worker is on a message: an answer may be in the queue
        self._wake = asyncio.Event()
        self._requests = Requests(config.answer_within)
        self._connected = False
        self._since: float | None = None
        self._next_check = math.inf
        self.counters = DownlinkCounters()
        self._problem = ""
        self._logged: set[str] = set()  # kinds of problem logged once already
        self._dirty = True  # the state changed since it was last written
        self._recorded_at = -math.inf
        self._closed = False
        self._running = False
        self._stopped = asyncio.Event()
        self._failed_before = False  # an unexpected failure was logged (worker thread only)

    # --- edge.uplink.Inbound, on the uplink's event loop ------------------------------

    @property
    def subscriptions(self) -> Sequence[str]:
        """The store's change sets, and this device's resync answers."""
        return (f"{self._prefix}+/changes", self._response_topic)

    def connected(self) -> None:
        """Ask a resync of every stream: change sets are not retained, and whatever came
        while the kiosk was away was missed."""
        self._connected, self._since = True, self._clock()
        self._requests.end_all()  # a new connection: the old one's answers are stale
        self._next_check = self._monotonic() + self._config.check_every
        for stream in self._streams:
            self._ask(stream)
        self._changed()

    def resync(self) -> int:
        """Ask every stream again now, as on a connection (the platform's `resync`
        command): requests outstanding are dropped for fresh ones. Returns how many
        streams were asked (none while disconnected: the next connection asks them)."""
        asked = self.counters.resyncs_asked
        self._requests.end_all()
        for stream in self._streams:
            self._ask(stream)
        return self.counters.resyncs_asked - asked

    def received(self, topic: str, payload: bytes, properties: Properties | None) -> None:
        """Queue a message for the worker, noting which request it answers."""
        self.counters.received += 1
        correlation = _correlation(properties)
        answer = Answer.LIVE
        if topic == self._response_topic:
            answer = self._requests.answer(correlation, self._monotonic())
            if answer is Answer.STALE:
                self.counters.stale_answers += 1
            elif answer is Answer.UNKNOWN:
                self.counters.unknown_answers += 1
        self._work.put_nowait(_Message(topic, payload, correlation, answer, self._clock()))

    def disconnected(self) -> None:
        """Requests in flight are lost with the connection; the next one asks again."""
        self._connected, self._since = False, self._clock()
        self._requests.end_all()
        self._next_check = math.inf
        self._changed()

    # --- running ---------------------------------------------------------------------

    async def run(self) -> None:
        """Apply messages in arrival order off the loop, and keep the timers, until
        cancelled or closed."""
        loop = asyncio.get_running_loop()
        self._running = True
        self._stopped.clear()
        timers = asyncio.create_task(self._keep_time(), name="downlink-timers")
        try:
            while (work := await self._work.get()) is not None:
                self._busy = True
                try:
                    result = await loop.run_in_executor(self._executor, self._do, work)
                finally:
                    self._busy = False
                self._done(work, result)
                if self._work.empty():
                    self._wake.set()  # the timers wait for an idle worker
        finally:
            timers.cancel()
            await asyncio.gather(timers, return_exceptions=True)
            self._running = False
            self._stopped.set()

    async def close(self) -> None:
        """Stop taking messages, let the worker finish, and write the state a last time."""
        self._closed = True
        if self._connected:
            self._connected, self._since = False, self._clock()
        self._requests.end_all()
        self._work.put_nowait(None)  # `run` returns once what came before is applied
        if self._running:
            await self._stopped.wait()
        await asyncio.to_thread(self._executor.shutdown, wait=True)
        with contextlib.suppress(SyncError):  # the cache may be closed already
            self._cache.record_downlink(self._state(), self._clock())

    def status(self) -> DownlinkStatus:
        """A snapshot for health telemetry and the runtime."""
        return DownlinkStatus(
            self._connected,
            self._since,
            self._requests.pending,
            replace(self.counters),
            self._problem,
        )

    # --- requests, on the loop ----------------------------------------------------------

    def _ask(self, stream: Stream) -> None:
        """Ask a resync of `stream` unless one is outstanding (the worker reads what is
        held when it sends, so the request is from the latest position)."""
        if not self._connected or self._closed:
            return
        correlation = self._requests.open(stream, self._monotonic())
        if correlation is not None:
            self.counters.resyncs_asked += 1
            self._work.put_nowait(_Ask(stream, correlation))
            self._changed()

    async def _keep_time(self) -> None:
        """Ask again what was not answered, check every stream now and then, and write
        the state when it changed (at most every STATE_EVERY seconds)."""
        while True:
            self._wake.clear()
            now = self._monotonic()
            # An answer may wait in the queue while the worker is busy: no re-ask then,
            # and no polling either (`run` wakes us when the queue is empty).
            idle = not self._busy and self._work.empty()
            if self._connected and idle:
                self._ask_again(now)
                if now >= self._next_check:
                    self._next_check = now + self._config.check_every
                    for stream in self._streams:
                        self._ask(stream)
            if self._dirty and now - self._recorded_at >= self.STATE_EVERY:
                self._dirty, self._recorded_at = False, now
                self._work.put_nowait(_Record(self._state(), self._clock()))
            due = self._next_due(now) if idle else now + self.STATE_EVERY * 10
            await self._sleep(due - now)

    def _ask_again(self, now: float) -> None:
        for stream in self._requests.late(now):
            self.counters.asked_again += 1
            self._note(f"no answer within {self._config.answer_within:g} s", "late answers")
            self._ask(stream)

    def _next_due(self, now: float) -> float:
        due = [self._next_check]
        deadline = self._requests.next_deadline()
        if deadline is not None:
            due.append(deadline)
        if self._dirty:
            due.append(self._recorded_at + self.STATE_EVERY)
        return min(due)

    async def _sleep(self, seconds: float) -> None:
        """Until `seconds` pass or something changes (a connection, a request)."""
        seconds = min(max(seconds, 0.01), self._config.check_every, self.STATE_EVERY * 10)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wake.wait()

    def _changed(self) -> None:
        self._dirty = True
        self._wake.set()

    def _state(self) -> DownlinkState:
        return DownlinkState(
            self._connected,
            self._since,
            tuple(sorted(self._requests.pending)),
            replace(self.counters),
            self._problem,
            self._clock(),
        )

    # --- the worker thread ----------------------------------------------------------------

    def _do(self, work: _Work) -> Outcome | _Failed | None:
        """One piece of work, in the worker thread: never on the loop."""
        try:
            if isinstance(work, _Ask):
                self._send(self._request(work))
                return None
            if isinstance(work, _Record):
                self._cache.record_downlink(work.state, work.at)
                return None
            return self._take(work)
        except SyncError as error:
            return _Failed(str(error))
        except Exception as error:  # a bug must not stop the streams: counted, logged once
            if not self._failed_before:
                self._failed_before = True
                log.exception("downlink: unexpected failure on %s", type(work).__name__[1:])
            return _Failed(f"unexpected failure: {type(error).__name__}")

    def _request(self, ask: _Ask) -> Request:
        held = self._cache.position(ask.stream)
        document = {
            "store": self._source.store_id,
            "stream": ask.stream.value,
            "epoch": held.epoch,
            "version": held.version,
        }
        return Request(
            self._request_topic,
            json.dumps(document, separators=(",", ":")).encode(),
            self._response_topic,
            ask.correlation,
            self._expiry,
        )

    def _take(self, message: _Message) -> Outcome:
        topic_stream: Stream | None = None
        if message.answer is Answer.LIVE:
            named = message.topic.removeprefix(self._prefix).removesuffix("/changes")
            if named not in self._streams:
                return Outcome(Handled.REFUSED, refusal=Problem.UNKNOWN_STREAM)
            topic_stream = Stream(named)
        outcome = self._cache.handle(
            message.payload,
            self._source.store_id,
            message.at,
            topic_stream=topic_stream,
            follows=self._streams,
            answer=message.answer is Answer.CURRENT,
        )
        if outcome.changed and outcome.stream is not None:
            self._tell_changed(outcome.stream)
        return outcome

    def _tell_changed(self, stream: Stream) -> None:
        try:
            self._on_change(frozenset({stream}))
        except Exception:  # the listener's failure must not stop the streams: logged once
            if not self._failed_before:
                self._failed_before = True
                log.exception("downlink: the change listener failed on %s", stream)

    # --- results, back on the loop ----------------------------------------------------------

    def _done(self, work: _Work, result: Outcome | _Failed | None) -> None:
        if isinstance(result, _Failed):
            self.counters.failures += 1
            self._note(result.reason, "cache failures")
            if isinstance(work, _Message) and work.answer is Answer.LIVE:
                # Nothing of it was applied: what it held must be asked again.
                named = work.topic.removeprefix(self._prefix).removesuffix("/changes")
                if named in self._streams:
                    self._ask(Stream(named))
        elif isinstance(work, _Message) and isinstance(result, Outcome):
            self._count(work, result)

    def _count(self, message: _Message, outcome: Outcome) -> None:
        self._dirty = True  # counters changed: written with the next state, not now
        if outcome.handled is Handled.REFUSED:
            self.counters.refused += 1
            kind = outcome.refusal or Problem.MALFORMED
            self._note(f"refused a message: {kind.value}", f"refused: {kind.value}")
            return
        if outcome.changed:
            self.counters.applied += 1
        if outcome.handled is Handled.SKIPPED:
            self.counters.skipped += 1
        stream = outcome.stream
        if stream is None:
            return
        # Answered: the stream is current, or what is still missing shows (asked below).
        answered = message.answer is Answer.CURRENT and (outcome.current or bool(outcome.resync))
        if answered and self._requests.end(stream, message.correlation, answered=True):
            self._changed()
        if outcome.resync is not None:
            if message.answer is Answer.LIVE:
                self.counters.out_of_order += 1
            log.info("downlink: %s needs a resync: %s", stream, outcome.resync.reason)
            self._ask(stream)

    def _note(self, problem: str, kind: str) -> None:
        """Keep `problem` for the status; log it the first time its kind occurs.

        `problem` never holds a message's content: logs are shared with installers.
        """
        self._problem = problem
        self._changed()
        if kind not in self._logged:
            self._logged.add(kind)
            log.warning("downlink: %s (logged once, counted after)", problem)


def _correlation(properties: Properties | None) -> bytes | None:
    value: Any = getattr(properties, "CorrelationData", None)
    return bytes(value) if isinstance(value, bytes | bytearray) else None
