"""The store's advisor calls, as the hub publishes them (retained) for every kiosk.

`borne/v1/stores/{store}/assist` carries the store's open calls whole each time; the
kiosk shows them on the staff screen, and the calling kiosk tells its shopper who is
coming. A message that cannot be read is logged and changes nothing; one call in it
that cannot be read is left out (logged), the others are shown.

Several hub processes may publish a store's queue: the broker keeps the last one
written, which is not always the newest. A queue older (by its `at`) than the one
shown is ignored.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from paho.mqtt.properties import Properties

from edge.staff.answers import StaffAnswerError
from edge.staff.payloads import read_object
from edge.staff.view import AssistCall
from edge.staff.wire import assist_topic

__all__ = ["AssistQueue", "QueueMessage", "assist_topic", "parse_assist_queue", "read_queue"]

log = logging.getLogger(__name__)

MAX_QUEUE_BYTES = 256 * 1024
_MAX_CALLS = 500
_TEXT_MAX = 200
_GTIN = re.compile(r"[0-9]{8,14}")


@dataclass(frozen=True, slots=True)
class QueueMessage:
    """One message of the store's queue: when the hub made it, and the calls read."""

    at: float  # Unix time
    calls: tuple[AssistCall, ...]  # oldest first
    skipped: int = 0  # calls left out: they could not be read


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


def _call(call: Any, where: str) -> AssistCall:
    if not isinstance(call, dict):
        raise StaffAnswerError(f"{where}: expected an object")
    call_id, device = call.get("call"), call.get("device")
    if not isinstance(call_id, str) or not call_id or len(call_id) > _TEXT_MAX:
        raise StaffAnswerError(f"{where}: call: expected an event id")
    if not isinstance(device, str) or not device or len(device) > _TEXT_MAX:
        raise StaffAnswerError(f"{where}: device: expected a device id")
    gtin = _optional_text(call, "gtin", where)
    if gtin is not None and not _GTIN.fullmatch(gtin):
        raise StaffAnswerError(f"{where}: gtin: expected 8 to 14 digits or null")
    return AssistCall(
        call_id=call_id,
        device=device,
        since=_moment(call.get("since"), f"{where}: since"),
        gtin=gtin,
        title=_optional_text(call, "title", where),
        taken_by=_optional_text(call, "taken_by", where),
    )


def read_queue(payload: bytes, store_id: str) -> QueueMessage:
    """A message of the store's queue (StaffAnswerError if it cannot be read at all);
    a call in it that cannot be read is left out and logged."""
    document = read_object(
        payload, limit=MAX_QUEUE_BYTES, what="assist queue", error=StaffAnswerError
    )
    if document.get("store") != store_id:
        raise StaffAnswerError("assist queue: expected this store's queue")
    at = _moment(document.get("at"), "assist queue: at")
    calls = document.get("calls")
    if not isinstance(calls, list) or len(calls) > _MAX_CALLS:
        raise StaffAnswerError("assist queue: calls: expected a list")
    parsed = []
    for index, call in enumerate(calls):
        try:
            parsed.append(_call(call, f"assist queue: calls[{index}]"))
        except StaffAnswerError as error:
            log.warning("an advisor call cannot be read, left out: %s", error)
    ordered = tuple(sorted(parsed, key=lambda call: call.since))
    return QueueMessage(at, ordered, skipped=len(calls) - len(parsed))


def parse_assist_queue(payload: bytes, store_id: str) -> tuple[AssistCall, ...]:
    """The open calls of a store's queue message, oldest first (StaffAnswerError)."""
    return read_queue(payload, store_id).calls


class AssistQueue:
    """Follows the store's advisor calls on the uplink's connection (an Inbound)."""

    def __init__(self, store_id: str) -> None:
        self._store_id = store_id
        self._listener: Callable[[tuple[AssistCall, ...]], None] | None = None
        self.calls: tuple[AssistCall, ...] = ()
        self._at: float | None = None  # when the hub made the queue shown
        self.stale = 0  # queues ignored: older than the one shown

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
            message = read_queue(payload, self._store_id)
        except StaffAnswerError as error:
            log.warning("the store's advisor calls cannot be read: %s", error)
            return
        if self._at is not None and message.at < self._at:
            self.stale += 1
            log.info("an older advisor call queue came after a newer one: ignored")
            return
        self._at = message.at
        if message.calls != self.calls:
            self.calls = message.calls
            if self._listener is not None:
                self._listener(message.calls)

    def disconnected(self) -> None:
        """What was received stays shown: the hub's next message replaces it."""
