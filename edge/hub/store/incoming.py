"""Kiosk events as the hub receives them: checked against the contract, then typed.

`parse_event` is the one way in for outside input. It accepts the wire bytes, or
the JSON object already decoded, and returns an `IncomingEvent` or raises
`MalformedEventError` naming the field at fault.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from edge.events import SEQUENCE_DIGITS
from edge.hub.store.errors import MalformedEventError

SHED_REPORT_TYPE = "io.borne.outbox.shed"
# Sequences the kiosk set aside as damaged: a gap it explains, like a shed one.
QUARANTINE_REPORT_TYPE = "io.borne.outbox.quarantined"
# The first event of every stream epoch after a device's very first one.
EPOCH_EVENT_TYPE = "io.borne.outbox.epoch"
EPOCH_REASONS = ("new", "wal_lost", "damaged")
# The epoch of events from kiosks older than stream epochs.
NO_EPOCH = ""
MAX_EVENT_BYTES = 256 * 1024  # far above any event a kiosk drafts; bounds what we parse
MAX_SEQUENCE = 2**63 - 1  # PostgreSQL's BIGINT
MAX_TYPE_LENGTH = 200

# One topic level each: no '/', no MQTT wildcard, no control character.
TOPIC_LEVEL = r"[^/+#\x00-\x1f\x7f]+"
_SOURCE = re.compile(rf"/stores/({TOPIC_LEVEL})/devices/({TOPIC_LEVEL})")
_TYPE = re.compile(r"io\.borne\.[A-Za-z0-9_.-]+")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_SEQUENCE = re.compile(rf"[0-9]{{{SEQUENCE_DIGITS}}}")
_EPOCH = re.compile(r"[0-9a-f]{32}")

RawEvent = bytes | str | Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class IncomingEvent:
    """One kiosk event, valid per the contract, with what the store indexes."""

    store_id: str
    device_id: str
    id: str  # canonical lower-case UUIDv7
    type: str
    sequence: int
    time: datetime  # timezone-aware
    json: str  # the whole event, as stored
    shed: tuple[tuple[int, int], ...] = ()  # for a shed report: the [first, last] runs it names
    # The stream its sequence belongs to: a new epoch starts at 1 again (a replaced
    # outbox, or a second kiosk under the same id). NO_EPOCH for older kiosks.
    epoch: str = NO_EPOCH
    # For an epoch event: the epoch this one replaced, if the kiosk knew it.
    previous_epoch: str | None = None

    @property
    def source(self) -> str:
        """The CloudEvents `source`."""
        return f"/stores/{self.store_id}/devices/{self.device_id}"


def parse_event(raw: RawEvent) -> IncomingEvent:
    """The event in `raw`, or `MalformedEventError` saying which field is wrong."""
    event = _as_object(raw)
    if event.get("specversion") != "1.0":
        raise MalformedEventError("specversion", "must be '1.0'")
    store_id, device_id = _source(event.get("source"))
    event_type = _text(event, "type")
    if len(event_type) > MAX_TYPE_LENGTH or not _TYPE.fullmatch(event_type):
        raise MalformedEventError("type", "must be reverse-DNS under io.borne.")
    sequence = _sequence(event.get("sequence"))
    epoch = _epoch(event)
    explained = event_type in (SHED_REPORT_TYPE, QUARANTINE_REPORT_TYPE)
    shed = _shed_runs(event.get("data"), sequence) if explained else ()
    previous = _previous_epoch(event.get("data")) if event_type == EPOCH_EVENT_TYPE else None
    try:
        stored = json.dumps(event, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        size = len(stored.encode())
    except (ValueError, TypeError) as cause:  # lone surrogates, NaN: not storable JSON
        raise MalformedEventError("event", "not storable as UTF-8 JSON") from cause
    if size > MAX_EVENT_BYTES:
        raise MalformedEventError("event", f"larger than {MAX_EVENT_BYTES} bytes")
    return IncomingEvent(
        store_id=store_id,
        device_id=device_id,
        id=_event_id(event.get("id")),
        type=event_type,
        sequence=sequence,
        time=_time(event.get("time")),
        json=stored,
        shed=shed,
        epoch=epoch,
        previous_epoch=previous,
    )


def _as_object(raw: RawEvent) -> Mapping[str, Any]:
    if isinstance(raw, Mapping):
        return raw
    if len(raw) > MAX_EVENT_BYTES:
        raise MalformedEventError("event", f"larger than {MAX_EVENT_BYTES} bytes")
    try:
        # parse_constant: NaN and Infinity are not JSON, whatever Python accepts.
        decoded = json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as cause:
        raise MalformedEventError("event", "not UTF-8 JSON") from cause
    if not isinstance(decoded, dict):
        raise MalformedEventError("event", "not a JSON object")
    return decoded


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _text(event: Mapping[str, Any], name: str) -> str:
    value = event.get(name)
    if not isinstance(value, str):
        raise MalformedEventError(name, "missing or not a string")
    return value


def _source(value: object) -> tuple[str, str]:
    match = _SOURCE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise MalformedEventError("source", "must be /stores/{store}/devices/{device}")
    return match[1], match[2]


def _event_id(value: object) -> str:
    if not isinstance(value, str) or not _UUID.fullmatch(value):
        raise MalformedEventError("id", "not a UUID in its 8-4-4-4-12 form")
    parsed = uuid.UUID(value)
    if parsed.version != 7 or parsed.variant != uuid.RFC_4122:
        raise MalformedEventError("id", "not a UUIDv7")
    return str(parsed)


def _sequence(value: object) -> int:
    if not isinstance(value, str) or not _SEQUENCE.fullmatch(value):
        raise MalformedEventError("sequence", f"must be {SEQUENCE_DIGITS} decimal digits")
    sequence = int(value)
    if not 1 <= sequence <= MAX_SEQUENCE:
        raise MalformedEventError("sequence", f"must be between 1 and {MAX_SEQUENCE}")
    return sequence


def _epoch(event: Mapping[str, Any]) -> str:
    """The `streamepoch` extension: absent for older kiosks, else 32 lowercase hex."""
    if "streamepoch" not in event:
        return NO_EPOCH
    value = event["streamepoch"]
    if not isinstance(value, str) or not _EPOCH.fullmatch(value):
        raise MalformedEventError("streamepoch", "must be 32 lowercase hexadecimal digits")
    return value


def _previous_epoch(data: object) -> str | None:
    """The epoch an `io.borne.outbox.epoch` event says it replaced (None: a new file)."""
    if not isinstance(data, Mapping) or data.get("reason") not in EPOCH_REASONS:
        raise MalformedEventError("data.reason", f"must be one of {', '.join(EPOCH_REASONS)}")
    previous = data.get("previous_epoch")
    if previous is not None and not (isinstance(previous, str) and _EPOCH.fullmatch(previous)):
        raise MalformedEventError("data.previous_epoch", "must be null or 32 lowercase hex")
    return previous


def _time(value: object) -> datetime:
    if not isinstance(value, str):
        raise MalformedEventError("time", "missing or not a string")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as cause:
        raise MalformedEventError("time", "not an RFC 3339 date-time") from cause
    if moment.tzinfo is None or "T" not in value.upper():
        raise MalformedEventError("time", "not an RFC 3339 date-time with its offset")
    return moment


def _shed_runs(data: object, sequence: int) -> tuple[tuple[int, int], ...]:
    """The runs a shed report names; each before the report's own sequence."""
    ranges = data.get("ranges") if isinstance(data, Mapping) else None
    if not isinstance(ranges, list) or not ranges:
        raise MalformedEventError("data.ranges", "a shed report names at least one range")
    runs = []
    for run in ranges:
        if not (
            isinstance(run, list)
            and len(run) == 2
            and all(type(bound) is int for bound in run)
            and 1 <= run[0] <= run[1] < sequence
        ):
            raise MalformedEventError(
                "data.ranges", "each range is [first, last] with 1 <= first <= last < sequence"
            )
        runs.append((run[0], run[1]))
    return tuple(sorted(runs))
