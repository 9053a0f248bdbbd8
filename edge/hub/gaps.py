"""The hub asks devices again for events the broker lost on the way.

A PUBACK proves the broker had an event, not that the hub stored it: a broker may
lose QoS 1 messages (a shared-subscription member that went away, a session that
expired). The store knows each device's open gaps; every `check_every` seconds this
task claims, in the store, the asks that are due (an open gap older than
`[gaps] ask_after`, the device online, not asked in the last `[gaps] ask_every`), so
hub processes sharing the store never ask twice at once. Each ask is an MQTT 5
request on `borne/v1/devices/{device}/req/replay`; the kiosk publishes what it still
keeps again on its event topics (ingested as usual, duplicates dropped) and answers
on this process's own `borne/v1/hub/{hub}/res/replay`. What the device no longer
has becomes `expired`; what it resent fills its gap as it arrives; a gap still open
is asked again after `ask_every`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.errors import BorneError
from edge.hub.store import EventStore, HubStoreError, ReplayAsk

log = logging.getLogger(__name__)

MAX_ANSWER_BYTES = 16 * 1024
MAX_ANSWER_RUNS = 1000  # per list; an answer covers at most 1000 sequences anyway
MAX_SEQUENCE = 2**63 - 1
ANSWER_KEYS = ("resent", "pending", "missing")

# (topic, payload, properties) -> whether it was handed to the broker's client.
Publish = Callable[[str, bytes, Properties], bool]


def replay_request_topic(device_id: str) -> str:
    """Where a device is asked for events again."""
    return f"borne/v1/devices/{device_id}/req/replay"


def replay_answer_topic(hub_id: str) -> str:
    """Where one hub process hears the devices' answers: its own topic, not shared."""
    level = "".join("_" if char in "/+#" or ord(char) < 32 else char for char in hub_id)
    return f"borne/v1/hub/{level}/res/replay"


class ReplayAnswerError(BorneError):
    """A device's answer to a re-ask breaks the contract; it is counted and ignored."""

    retryable = False


@dataclass(frozen=True, slots=True)
class ReplayAnswer:
    """A device's answer: [first, last] runs it resent, still has pending, no longer has."""

    resent: tuple[tuple[int, int], ...]
    pending: tuple[tuple[int, int], ...]
    missing: tuple[tuple[int, int], ...]


def parse_replay_answer(payload: bytes) -> ReplayAnswer:
    """The answer in `payload`, or `ReplayAnswerError` saying what is wrong."""
    if len(payload) > MAX_ANSWER_BYTES:
        raise ReplayAnswerError(f"answer larger than {MAX_ANSWER_BYTES} bytes")
    try:
        document = json.loads(payload, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as cause:
        raise ReplayAnswerError("answer is not UTF-8 JSON") from cause
    if not isinstance(document, dict) or set(document) != set(ANSWER_KEYS):
        raise ReplayAnswerError(f"answer must be an object with {', '.join(ANSWER_KEYS)}")
    lists = [_runs(name, document[name]) for name in ANSWER_KEYS]
    return ReplayAnswer(*lists)


def _runs(name: str, value: object) -> tuple[tuple[int, int], ...]:
    if not isinstance(value, list) or len(value) > MAX_ANSWER_RUNS:
        raise ReplayAnswerError(f"{name}: must list at most {MAX_ANSWER_RUNS} runs")
    runs = []
    for run in value:
        if not (
            isinstance(run, list)
            and len(run) == 2
            and all(type(bound) is int for bound in run)
            and 1 <= run[0] <= run[1] <= MAX_SEQUENCE
        ):
            raise ReplayAnswerError(f"{name}: each run is [first, last], 1 <= first <= last")
        runs.append((run[0], run[1]))
    return tuple(runs)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def within(
    runs: tuple[tuple[int, int], ...], asked: tuple[tuple[int, int], ...]
) -> list[tuple[int, int]]:
    """The parts of `runs` inside what was asked: a device expires nothing else."""
    return [
        (max(first, low), min(last, high))
        for first, last in runs
        for low, high in asked
        if first <= high and low <= last
    ]


@dataclass(slots=True)
class GapCounters:
    """What this hub process asked for, and heard back, since it started."""

    asks: int = 0  # requests sent
    answers: int = 0  # answers matched to an ask
    resent: int = 0  # sequences the devices said they sent again
    expired: int = 0  # sequences the devices no longer had
    refused: int = 0  # answers malformed, or to no ask of ours

    def as_dict(self) -> dict[str, int]:
        """The counters by name, for JSON."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class _Asked:
    device_id: str
    ranges: tuple[tuple[int, int], ...]
    at: float
    epoch: str  # the stream the ranges belong to: what the device answers is of it


class GapAsker:
    """Asks online devices again for their open gaps, and records what they answer."""

    def __init__(
        self,
        store: EventStore,
        hub_id: str,
        *,
        ask_after: float,
        ask_every: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._hub_id = hub_id
        self._ask_after = ask_after
        self._ask_every = ask_every
        # Often enough that an ask is at most a fraction of `ask_after` late.
        self.check_every = max(0.1, min(ask_after, ask_every, 60.0) / 4)
        self._clock = clock
        self._asked: dict[bytes, _Asked] = {}  # correlation -> the ask it answers
        self.counters = GapCounters()
        self.answer_topic = replay_answer_topic(hub_id)

    async def run(self, publish: Publish) -> None:
        """Claim and send the due asks every `check_every` seconds, until cancelled."""
        while True:
            try:
                asks = await asyncio.to_thread(
                    self._store.claim_asks,
                    self._hub_id,
                    self._clock(),
                    ask_after=self._ask_after,
                    ask_every=self._ask_every,
                )
            except HubStoreError as error:
                if not error.retryable:
                    raise
                log.warning("hub: cannot claim asks for missing events: %s", error)
                asks = []
            for ask in asks:
                self._ask(ask, publish)
            self._forget_unanswered()
            await asyncio.sleep(self.check_every)

    def _ask(self, ask: ReplayAsk, publish: Publish) -> None:
        correlation = secrets.token_bytes(16)
        properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        properties.ResponseTopic = self.answer_topic
        properties.CorrelationData = correlation
        # A request is not worth more than the next ask: it expires before it.
        properties.MessageExpiryInterval = max(1, int(self._ask_every))
        properties.PayloadFormatIndicator = 1
        asked: dict[str, object] = {"ranges": [list(run) for run in ask.ranges]}
        if ask.epoch:  # a kiosk that started another epoch since answers "missing"
            asked["streamepoch"] = ask.epoch
        payload = json.dumps(asked).encode()
        if publish(replay_request_topic(ask.device_id), payload, properties):
            self._asked[correlation] = _Asked(ask.device_id, ask.ranges, self._clock(), ask.epoch)
            self.counters.asks += 1
            log.info("hub: asked %s again for %d range(s)", ask.device_id, len(ask.ranges))

    def _forget_unanswered(self) -> None:
        """Asks older than `ask_every` are asked again under a new correlation."""
        oldest = self._clock() - self._ask_every
        for correlation in [c for c, asked in self._asked.items() if asked.at < oldest]:
            del self._asked[correlation]

    async def received(self, payload: bytes, properties: Properties | None) -> None:
        """A device's answer: what it no longer has becomes expired."""
        correlation = getattr(properties, "CorrelationData", None)
        asked = self._asked.pop(bytes(correlation), None) if correlation else None
        if asked is None:
            self._refused("an answer to no ask of this hub")
            return
        try:
            answer = parse_replay_answer(payload)
        except ReplayAnswerError as error:
            self._refused(str(error))
            return
        self.counters.answers += 1
        self.counters.resent += sum(last - first + 1 for first, last in answer.resent)
        missing = within(answer.missing, asked.ranges)
        if missing:
            try:
                await asyncio.to_thread(self._store.expire, asked.device_id, missing, asked.epoch)
            except HubStoreError as error:  # the gap stays open: asked again later
                log.warning(
                    "hub: cannot record what %s no longer keeps: %s", asked.device_id, error
                )
                return
            self.counters.expired += sum(last - first + 1 for first, last in missing)
            log.warning(
                "hub: %s no longer keeps %d missing event(s): expired",
                asked.device_id,
                sum(last - first + 1 for first, last in missing),
            )

    def _refused(self, reason: str) -> None:
        self.counters.refused += 1
        log.warning("hub: ignored a replay answer: %s (%d so far)", reason, self.counters.refused)
