"""The kiosk's resync requests: at most one outstanding per stream, each with its deadline.

Pure bookkeeping, no I/O and no clock of its own (times are handed in): the downlink
opens a request, tells each answer apart by its correlation data, ends a request when
its answer leaves the stream current, and asks again those whose answer is late.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from dataclasses import dataclass
from enum import Enum

from edge.sync.messages import Stream


class Answer(Enum):
    """How a message relates to the kiosk's requests."""

    LIVE = "live"  # a change set on the store's topic: no request
    CURRENT = "current"  # the answer to the request outstanding for its stream
    DONE = "done"  # more of an answer already taken (the rest of its change sets)
    STALE = "stale"  # the answer to a request asked again since
    UNKNOWN = "unknown"  # correlation data of no request of this kiosk's


@dataclass(slots=True)
class _Outstanding:
    correlation: bytes
    deadline: float  # after this (monotonic) time, the request is asked again


class Requests:
    """The requests outstanding by stream, and what became of the recent ones."""

    REMEMBERED = 256  # past requests kept to tell a stale answer from an unknown one

    def __init__(self, answer_within: float) -> None:
        self._answer_within = answer_within
        self._outstanding: dict[Stream, _Outstanding] = {}
        self._past: OrderedDict[bytes, bool] = OrderedDict()  # correlation -> answered

    @property
    def pending(self) -> frozenset[Stream]:
        """The streams with a request outstanding."""
        return frozenset(self._outstanding)

    def open(self, stream: Stream, now: float) -> bytes | None:
        """A new request's correlation data, or None when one is outstanding already."""
        if stream in self._outstanding:
            return None
        correlation = uuid.uuid4().bytes  # unique per request, and unguessable
        self._outstanding[stream] = _Outstanding(correlation, now + self._answer_within)
        return correlation

    def answer(self, correlation: bytes | None, now: float) -> Answer:
        """What a message on the answer topic answers; the request it answers is given
        `answer_within` more, from now: a slow snapshot is waited for while its pages
        keep coming."""
        for outstanding in self._outstanding.values():
            if outstanding.correlation == correlation:
                outstanding.deadline = now + self._answer_within
                return Answer.CURRENT
        answered = None if correlation is None else self._past.get(correlation)
        if answered is None:
            return Answer.UNKNOWN
        return Answer.DONE if answered else Answer.STALE

    def end(self, stream: Stream, correlation: bytes | None, *, answered: bool) -> bool:
        """End the request `correlation` of `stream`, if it is still the one outstanding
        (False: already ended, or a later request is)."""
        outstanding = self._outstanding.get(stream)
        if correlation is None or outstanding is None or outstanding.correlation != correlation:
            return False
        del self._outstanding[stream]
        self._past[correlation] = answered
        while len(self._past) > self.REMEMBERED:
            self._past.popitem(last=False)
        return True

    def end_all(self) -> None:
        """Every request outstanding is lost (the connection dropped): none was answered."""
        for stream, outstanding in list(self._outstanding.items()):
            self.end(stream, outstanding.correlation, answered=False)

    def late(self, now: float) -> list[Stream]:
        """End the requests whose answer is late, and name their streams."""
        late = [
            (stream, out.correlation)
            for stream, out in self._outstanding.items()
            if now >= out.deadline
        ]
        for stream, correlation in late:
            self.end(stream, correlation, answered=False)
        return [stream for stream, _ in late]

    def next_deadline(self) -> float | None:
        """When the first request outstanding is due, or None when none is."""
        return min((out.deadline for out in self._outstanding.values()), default=None)
