"""What the platform side received: one event message, parsed without trusting it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

EPOCH_ATTRIBUTE = "streamepoch"  # the CloudEvents extension naming a stream's epoch


@dataclass(frozen=True, slots=True)
class Received:
    """One event message as it arrived; `valid` is False for anything not a CloudEvent
    in UTF-8 JSON with an id, a source and a sequence (its other fields are then empty)."""

    valid: bool
    source: str = ""
    epoch: str = ""  # "" when the event carries no stream epoch
    sequence: int = 0
    event_id: str = ""
    type: str = ""
    data: Any = None

    @property
    def stream(self) -> tuple[str, str]:
        """The stream its sequence belongs to: (source, epoch)."""
        return (self.source, self.epoch)


INVALID = Received(valid=False)


def parse_received(payload: bytes) -> Received:
    """The event in `payload`, or INVALID: never raises, whatever the bytes."""
    try:
        event = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return INVALID
    if not isinstance(event, dict):
        return INVALID
    event_id, source, sequence = event.get("id"), event.get("source"), event.get("sequence")
    epoch = event.get(EPOCH_ATTRIBUTE, "")
    if not (isinstance(event_id, str) and event_id and isinstance(source, str) and source):
        return INVALID
    if not isinstance(epoch, str) or isinstance(sequence, bool):
        return INVALID
    if not isinstance(sequence, str | int):
        return INVALID
    try:
        number = int(sequence)
    except ValueError:
        return INVALID
    if number < 1:
        return INVALID
    kind = event.get("type")
    return Received(
        valid=True,
        source=source,
        epoch=epoch,
        sequence=number,
        event_id=event_id,
        type=kind if isinstance(kind, str) else "",
        data=event.get("data"),
    )
