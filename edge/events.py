"""The event contract with the platform: CloudEvents 1.0 in structured JSON mode.

An event is drafted by the session (type and data), then given its identity (id,
sequence, time) by the outbox in the same transaction that stores it, so the
sequence is gapless and survives restarts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"
TYPE_PREFIX = "io.borne."
SEQUENCE_DIGITS = 20  # the sequence extension is a lexicographically ordered string
# The outbox's stream epoch: sequences count within it (a new outbox file, a lost
# write-ahead log or a replaced damaged file starts a new one at 1).
STREAM_EPOCH_ATTRIBUTE = "streamepoch"


class Priority(IntEnum):
    """What the outbox sheds first when full: the lowest value first."""

    SAMPLE = 0  # presence samples: the first to go
    NORMAL = 1  # what the screen showed as a consequence of an interaction
    CRITICAL = 2  # session start/end, every shopper interaction, staff actions: never shed

    @classmethod
    def of(cls, event_type: str, declared: Priority) -> Priority:
        """The priority an event of `event_type` is kept with.

        The contract decides it by type, so that every place that drafts an event
        agrees: presence is sampled, the screen follows interactions that are
        themselves recorded, everything else a shopper does is protected. Types
        the contract does not list keep the priority they were drafted with.
        """
        short_type = event_type.removeprefix(TYPE_PREFIX)
        family = short_type.split(".", 1)[0]
        if family in _SAMPLED_FAMILIES:
            return cls.SAMPLE
        if short_type in _CONSEQUENCES:
            return cls.NORMAL
        if family in _PROTECTED_FAMILIES:
            return cls.CRITICAL
        return declared


# Event families by what is lost if they are shed (see ARCHITECTURE.md, the outbox).
_SAMPLED_FAMILIES = frozenset({"presence"})
_CONSEQUENCES = frozenset({"screen.shown"})
_PROTECTED_FAMILIES = frozenset(
    {
        "session",
        "card",
        "product",
        "assist",
        "handoff",
        "language",
        "reviews",
        "category",
        "search",
        "accessibility",
        "kiosk",
        "outbox",
        "staff",  # every staff action is accounted for
        "order",  # an order handed over at the kiosk
        "device",  # an installer's self-test report (borne doctor)
    }
)


@dataclass(frozen=True, slots=True)
class EventDraft:
    """What happened, before the outbox gives it an id and a sequence number."""

    type: str
    data: Mapping[str, Any] = field(default_factory=dict)
    priority: Priority = Priority.NORMAL
    subject: str | None = None

    def __post_init__(self) -> None:
        if not self.type.startswith(TYPE_PREFIX) or "/" in self.type:
            raise ValueError(f"event type must be reverse-DNS under {TYPE_PREFIX}")
        # Frozen: the one place the contract's priority replaces the drafted one.
        object.__setattr__(self, "priority", Priority.of(self.type, self.priority))

    @property
    def short_type(self) -> str:
        """The type without its prefix: the last level of the event's topic."""
        return self.type.removeprefix(TYPE_PREFIX)


def format_sequence(sequence: int) -> str:
    """The `sequence` extension value: zero-padded so string order is numeric order."""
    return str(sequence).zfill(SEQUENCE_DIGITS)


def rfc3339(timestamp: float) -> str:
    """UTC time with milliseconds and a Z, as CloudEvents `time` wants."""
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class EventSource:
    """This device as CloudEvents and MQTT name it."""

    store_id: str
    device_id: str

    @property
    def uri(self) -> str:
        """The CloudEvents `source`."""
        return f"/stores/{self.store_id}/devices/{self.device_id}"

    def topic(self, draft: EventDraft) -> str:
        """The MQTT topic the event is published on."""
        return f"borne/v1/devices/{self.device_id}/events/{draft.short_type}"

    def envelope(
        self,
        draft: EventDraft,
        *,
        event_id: str,
        sequence: int,
        time: float,
        epoch: str | None = None,
    ) -> bytes:
        """The event as the UTF-8 JSON bytes that go on the wire.

        `epoch` is the outbox's stream epoch (every event the outbox stores has one).
        """
        event: dict[str, Any] = {
            "specversion": "1.0",
            "id": event_id,
            "source": self.uri,
            "type": draft.type,
            "time": rfc3339(time),
            "sequence": format_sequence(sequence),
            **({STREAM_EPOCH_ATTRIBUTE: epoch} if epoch is not None else {}),
            "datacontenttype": "application/json",
            "data": dict(draft.data),
        }
        if draft.subject is not None:
            event["subject"] = draft.subject
        return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
