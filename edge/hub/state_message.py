"""A device's retained online/offline message, as the hub receives it from the broker.

`parse_state_message` is the one way in for that outside input: the topic and the
payload in, a `DeviceState` out, or `MalformedStateError` naming the field at fault
(never its value).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime

from edge.hub.store import MalformedStateError
from edge.hub.store.incoming import TOPIC_LEVEL

MAX_STATE_BYTES = 4096  # a state message is a few dozen bytes
_STATE_TOPIC = re.compile(rf"borne/v1/devices/({TOPIC_LEVEL})/state")


@dataclass(frozen=True, slots=True)
class DeviceState:
    """What a state message says: who, online or offline, which boot, since when."""

    device_id: str
    state: str
    boot: int | None
    since: datetime | None  # the device's clock; absent from `offline`


def parse_state_message(topic: str, payload: bytes) -> DeviceState:
    """The state in a message of `borne/v1/devices/{device}/state`."""
    match = _STATE_TOPIC.fullmatch(topic)
    if match is None:
        raise MalformedStateError("topic", "not borne/v1/devices/{device}/state")
    if len(payload) > MAX_STATE_BYTES:
        raise MalformedStateError("message", f"larger than {MAX_STATE_BYTES} bytes")
    try:
        message = json.loads(payload)
    except (ValueError, RecursionError):
        raise MalformedStateError("message", "not UTF-8 JSON") from None
    if not isinstance(message, dict):
        raise MalformedStateError("message", "not a JSON object")
    state = message.get("state")
    if state not in ("online", "offline"):
        raise MalformedStateError("state", "must be 'online' or 'offline'")
    boot = message.get("boot")
    if boot is not None and (type(boot) is not int or not 1 <= boot < 2**63):
        raise MalformedStateError("boot", "must be a positive integer")
    return DeviceState(match[1], state, boot, _since(message.get("since")))


def _since(value: object) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str) or "T" not in value.upper():
        raise MalformedStateError("since", "not an RFC 3339 date-time")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise MalformedStateError("since", "not an RFC 3339 date-time") from None
    if moment.tzinfo is None:
        raise MalformedStateError("since", "not an RFC 3339 date-time with its offset")
    return moment
