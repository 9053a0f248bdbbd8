"""The store's advisor calls, as the hub publishes them (retained) for every kiosk.

`borne/v1/stores/{store}/assist` carries the store's open calls whole each time; the
kiosk shows them on the staff screen, and the calling kiosk tells its shopper who is
coming. A message that cannot be read is logged and changes nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from paho.mqtt.properties import Properties

from edge.staff.answers import StaffAnswerError
from edge.staff.view import AssistCall

log = logging.getLogger(__name__)

MAX_QUEUE_BYTES = 256 * 1024
_MAX_CALLS = 500
_TEXT_MAX = 200


def assist_topic(store_id: str) -> str:
    """Where the hub publishes the store's advisor calls."""
    return f"borne/v1/stores/{store_id}/assist"


def _moment(value: Any, where: str) -> float:
    if not isinstance(value, str):
        raise StaffAnswerError(f"{where}: expected an RFC 3339 time")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise StaffAnswerError(f"{where}: expected an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise StaffAnswerError(f"{where}: expected a time with its offset")
    return moment.timestamp()


def _optional_text(call: dict[str, Any], field: str, where: str) -> str | None:
    value = call.get(field)
    if value is not None and (not isinstance(value, str) or len(value) > _TEXT_MAX):
        raise StaffAnswerError(f"{where}: {field}: expected text or null")
    return value


def parse_assist_queue(payload: bytes, store_id: str) -> tuple[AssistCall, ...]:
    """The open calls of a store's queue message, oldest first (StaffAnswerError)."""
    if len(payload) > MAX_QUEUE_BYTES:
        raise StaffAnswerError("assist queue: too large")
    try:
        document = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise StaffAnswerError("assist queue: not JSON") from None
    if not isinstance(document, dict) or document.get("store") != store_id:
        raise StaffAnswerError("assist queue: expected this store's queue")
    calls = document.get("calls")
    if not isinstance(calls, list) or len(calls) > _MAX_CALLS:
        raise StaffAnswerError("assist queue: calls: expected a list")
    parsed = []
    for index, call in enumerate(calls):
        where = f"assist queue: calls[{index}]"
        if not isinstance(call, dict):
            raise StaffAnswerError(f"{where}: expected an object")
        call_id, device = call.get("call"), call.get("device")
        if not isinstance(call_id, str) or not call_id or len(call_id) > _TEXT_MAX:
            raise StaffAnswerError(f"{where}: call: expected an event id")
        if not isinstance(device, str) or not device or len(device) > _TEXT_MAX:
            raise StaffAnswerError(f"{where}: device: expected a device id")
        parsed.append(
            AssistCall(
                call_id=call_id,
                device=device,
                since=_moment(call.get("since"), f"{where}: since"),
                gtin=_optional_text(call, "gtin", where),
                title=_optional_text(call, "title", where),
                taken_by=_optional_text(call, "taken_by", where),
            )
        )
    return tuple(sorted(parsed, key=lambda call: call.since))


class AssistQueue:
    """Follows the store's advisor calls on the uplink's connection (an Inbound)."""

    def __init__(self, store_id: str) -> None:
        self._store_id = store_id
        self._listener: Callable[[tuple[AssistCall, ...]], None] | None = None
        self.calls: tuple[AssistCall, ...] = ()

    def listen(self, listener: Callable[[tuple[AssistCall, ...]], None]) -> None:
        """Call `listener` (on the loop) with the open calls each time they change."""
        self._listener = listener

    @property
    def subscriptions(self) -> Sequence[str]:
        return (assist_topic(self._store_id),)

    def connected(self) -> None:
        """The retained queue comes by itself on subscribing."""

    def received(self, topic: str, payload: bytes, properties: Properties | None) -> None:
        try:
            calls = parse_assist_queue(payload, self._store_id)
        except StaffAnswerError as error:
            log.warning("the store's advisor calls cannot be read: %s", error)
            return
        if calls != self.calls:
            self.calls = calls
            if self._listener is not None:
                self._listener(calls)

    def disconnected(self) -> None:
        """What was received stays shown: the hub's next message replaces it."""
