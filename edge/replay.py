"""The kiosk answers the hub's re-asks: delivered events sent again from the outbox.

A PUBACK proves the broker has an event, not the platform: a broker may still lose
it (a shared-subscription member that went away, an expired session). The hub sees
the hole in the device's `sequence` and asks, by MQTT 5 request on
`borne/v1/devices/{device}/req/replay`, for ranges of sequences. The kiosk publishes
the events it still keeps (`[storage] keep_delivered`) again, exactly as stored, on
their own event topics through the uplink's window, so the hub ingests them as usual
and drops what it already had; then it answers on the request's response topic with
what it resent, what is still waiting for its first delivery, and what it no longer
has (the hub marks that `expired`).

`parse_replay_request` is the one way in for the request: pure, strict and bounded.
A refused request is counted and logged without its content, never answered.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from paho.mqtt.properties import Properties

from edge.errors import BorneError
from edge.outbox import StoredEvent, shed_ranges
from edge.outbox_queue import Outbox
from edge.uplink import Response, Uplink

log = logging.getLogger(__name__)

HUB_TOPICS = "borne/v1/hub/"  # every hub's answers come back under here
MAX_REQUEST_BYTES = 8192
MAX_RANGES = 64
MAX_SEQUENCES = 1000  # asked for in one request: what one answer reads from disk
MAX_CORRELATION_BYTES = 64
MAX_RESPONSE_TOPIC = 256
MAX_SEQUENCE = 2**63 - 1


def replay_topic(device_id: str) -> str:
    """Where the hub asks `device_id` for events again."""
    return f"borne/v1/devices/{device_id}/req/replay"


class ReplayRequestError(BorneError):
    """A replay request breaks the contract; it is refused and never answered.

    The message names the field and the reason, never the value.
    """

    retryable = False

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"refused replay request: {field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ReplayRequest:
    """What the hub asks for again, and where to answer."""

    ranges: tuple[tuple[int, int], ...]  # sorted, [first, last] inclusive
    response_topic: str
    correlation: bytes
    epoch: str = ""  # the stream epoch the ranges are of ("": not said, this one)

    @property
    def sequences(self) -> list[int]:
        """Every sequence asked for, in order, once."""
        return sorted({s for first, last in self.ranges for s in range(first, last + 1)})


@dataclass(frozen=True, slots=True)
class ReplayAnswer:
    """What the kiosk did with a request, as [first, last] runs."""

    resent: list[list[int]]  # queued again for publishing (the answer may overtake some)
    pending: list[list[int]]  # never delivered yet: on their way in order
    missing: list[list[int]]  # no longer kept (or never existed): they will never come

    def encode(self) -> bytes:
        """The answer's payload."""
        return json.dumps(asdict(self), separators=(",", ":")).encode()


def parse_replay_request(
    device_id: str,
    topic: str,
    payload: bytes,
    response_topic: object,
    correlation: object,
) -> ReplayRequest:
    """The request in an MQTT 5 message, or `ReplayRequestError` naming what is wrong.

    A device answers only on its own topic, only to a hub (a response topic under
    `borne/v1/hub/`), and for at most `MAX_SEQUENCES` sequences in `MAX_RANGES` ranges.
    """
    if topic != replay_topic(device_id):
        raise ReplayRequestError("topic", "not this device's replay topic")
    if (
        not isinstance(response_topic, str)
        or not response_topic.startswith(HUB_TOPICS)
        or len(response_topic.encode()) > MAX_RESPONSE_TOPIC
        or any(char in "+#" or ord(char) < 32 or ord(char) == 127 for char in response_topic)
    ):
        raise ReplayRequestError("response topic", f"must be a topic under {HUB_TOPICS}")
    if not isinstance(correlation, bytes) or not 1 <= len(correlation) <= MAX_CORRELATION_BYTES:
        raise ReplayRequestError("correlation data", f"must be 1 to {MAX_CORRELATION_BYTES} bytes")
    ranges, epoch = _asked(payload)
    return ReplayRequest(ranges, response_topic, correlation, epoch)


def _asked(payload: bytes) -> tuple[tuple[tuple[int, int], ...], str]:
    """The ranges asked for, and the stream epoch they are of ("" when not said)."""
    if len(payload) > MAX_REQUEST_BYTES:
        raise ReplayRequestError("payload", f"larger than {MAX_REQUEST_BYTES} bytes")
    try:
        document = json.loads(payload, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as cause:
        raise ReplayRequestError("payload", "not UTF-8 JSON") from cause
    if (
        not isinstance(document, dict)
        or "ranges" not in document
        or not set(document) <= {"ranges", "streamepoch"}
    ):
        raise ReplayRequestError("payload", 'must be an object with "ranges" (and "streamepoch")')
    epoch = document.get("streamepoch", "")
    if "streamepoch" in document and not (
        isinstance(epoch, str) and re.fullmatch(r"[0-9a-f]{32}", epoch)
    ):
        raise ReplayRequestError("streamepoch", "must be 32 lowercase hexadecimal digits")
    return _ranges(document["ranges"]), epoch


def _ranges(ranges: object) -> tuple[tuple[int, int], ...]:
    if not isinstance(ranges, list) or not 1 <= len(ranges) <= MAX_RANGES:
        raise ReplayRequestError("ranges", f"must list 1 to {MAX_RANGES} ranges")
    runs = []
    for run in ranges:
        if not (
            isinstance(run, list)
            and len(run) == 2
            and all(type(bound) is int for bound in run)
            and 1 <= run[0] <= run[1] <= MAX_SEQUENCE
        ):
            raise ReplayRequestError("ranges", "each range is [first, last], 1 <= first <= last")
        runs.append((run[0], run[1]))
    asked = sum(last - first + 1 for first, last in _union(runs))
    if asked > MAX_SEQUENCES:
        raise ReplayRequestError("ranges", f"more than {MAX_SEQUENCES} sequences in one request")
    return tuple(sorted(runs))


def _union(runs: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for first, last in sorted(runs):
        if merged and merged[-1][1] + 1 >= first:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


@dataclass(slots=True)
class ReplayCounters:
    """What the kiosk did with the hub's re-asks since it started."""

    answered: int = 0
    resent: int = 0  # events published again
    missing: int = 0  # sequences asked for that were no longer kept
    refused: int = 0  # requests that broke the contract


class ReplayResponder:
    """The uplink's `Inbound` that serves the hub's re-asks from the outbox.

    Attach it to the uplink before `run`: `uplink.attach(ReplayResponder(device_id,
    outbox, uplink))`.
    """

    def __init__(self, device_id: str, outbox: Outbox, uplink: Uplink) -> None:
        self._device_id = device_id
        self._outbox = outbox
        self._uplink = uplink
        self._answering: set[asyncio.Task[None]] = set()
        self.counters = ReplayCounters()

    @property
    def subscriptions(self) -> Sequence[str]:
        """This device's replay topic only."""
        return [replay_topic(self._device_id)]

    def connected(self) -> None:
        """Nothing to do: the hub asks again for what it still misses."""

    def disconnected(self) -> None:
        """Answers under way are dropped by the uplink; the hub asks again."""

    def received(self, topic: str, payload: bytes, properties: Properties | None) -> None:
        """A request: checked, then answered from the outbox off the loop's hot path."""
        try:
            request = parse_replay_request(
                self._device_id,
                topic,
                payload,
                getattr(properties, "ResponseTopic", None),
                getattr(properties, "CorrelationData", None),
            )
        except ReplayRequestError as error:
            self.counters.refused += 1
            log.warning("replay: %s (%d refused so far)", error, self.counters.refused)
            return
        task = asyncio.get_running_loop().create_task(self._answer(request), name="replay")
        self._answering.add(task)
        task.add_done_callback(self._answered)

    def _answered(self, task: asyncio.Task[None]) -> None:
        self._answering.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # The outbox failed to read: no answer, and the hub asks again later.
            log.warning("replay: could not answer: %s", task.exception())

    async def _answer(self, request: ReplayRequest) -> None:
        asked = request.sequences
        kept: list[StoredEvent] = []
        pending: list[int] = []
        # Asked about an epoch this outbox no longer writes (it was replaced): the same
        # numbers here are other events, and those asked for are gone.
        if not request.epoch or request.epoch == (await self._outbox.status()).stream_epoch:
            kept, pending = await self._outbox.kept(asked)
        self._uplink.resend(kept)
        found = {event.sequence for event in kept} | set(pending)
        missing = [sequence for sequence in asked if sequence not in found]
        answer = ReplayAnswer(
            resent=shed_ranges(event.sequence for event in kept),
            pending=shed_ranges(pending),
            missing=shed_ranges(missing),
        )
        self._uplink.respond(Response(request.response_topic, answer.encode(), request.correlation))
        self.counters.answered += 1
        self.counters.resent += len(kept)
        self.counters.missing += len(missing)
