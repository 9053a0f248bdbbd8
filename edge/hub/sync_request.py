"""A kiosk's resync request, parsed strictly from what the broker delivered.

The kiosk publishes `{"store", "stream", "epoch", "version"}` on
`borne/v1/devices/{device}/req/sync` with the MQTT 5 Response Topic and Correlation
Data properties. The answer may only go to the device's own response topics
(`borne/v1/devices/{device}/res/...`): the hub may publish anywhere, so a request
naming another device's topic would let one kiosk write into another's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from edge.hub.request_reply import (
    MAX_CORRELATION_BYTES,
    HubRequestError,
    is_own_response_topic,
    open_request,
)
from edge.staff.wire import TOPIC_LEVEL
from edge.sync.messages import Stream

__all__ = [
    "MAX_CORRELATION_BYTES",
    "REQUEST_TOPIC",
    "SyncRequest",
    "SyncRequestError",
    "is_own_response_topic",
    "is_sync_request_topic",
    "parse_sync_request",
    "shared_sync_topic",
]

REQUEST_TOPIC = "borne/v1/devices/+/req/sync"
MAX_REQUEST_BYTES = 4096  # four short fields; anything bigger is not a request
_EPOCH = re.compile(r"[A-Za-z0-9._-]{0,64}")  # empty: the kiosk holds nothing yet


class SyncRequestError(HubRequestError):
    """A resync request the hub will not answer: malformed, or not the device's to ask."""


@dataclass(frozen=True, slots=True)
class SyncRequest:
    """What a device holds of one stream, and where it wants the answer."""

    device_id: str
    store_id: str
    stream: Stream
    epoch: str
    version: int
    response_topic: str
    correlation: bytes


def shared_sync_topic(group: str) -> str:
    """The shared subscription the hub processes of `group` answer resyncs on."""
    return f"$share/{group}/{REQUEST_TOPIC}"


def is_sync_request_topic(topic: str) -> bool:
    """`borne/v1/devices/{device}/req/sync`, whatever the device is called."""
    levels = topic.split("/")
    return (
        len(levels) == 6
        and levels[:3] == ["borne", "v1", "devices"]
        and levels[4:]
        == [
            "req",
            "sync",
        ]
    )


def parse_sync_request(
    topic: str, payload: bytes, response_topic: str | None, correlation: bytes | None
) -> SyncRequest:
    """The request in a message, or `SyncRequestError` saying what is wrong."""
    if not is_sync_request_topic(topic):
        raise SyncRequestError("not a resync request topic")
    envelope = open_request(
        topic,
        payload,
        response_topic,
        correlation,
        max_bytes=MAX_REQUEST_BYTES,
        error=SyncRequestError,
    )
    document = envelope.document
    store_id = document.get("store")
    if not isinstance(store_id, str) or not TOPIC_LEVEL.fullmatch(store_id):
        raise SyncRequestError("store: expected a store id")
    try:
        stream = Stream(str(document.get("stream")))
    except ValueError:
        raise SyncRequestError("stream: unknown") from None
    epoch = document.get("epoch")
    if not isinstance(epoch, str) or not _EPOCH.fullmatch(epoch):
        raise SyncRequestError("epoch: 0-64 letters, digits, '.', '_' or '-'")
    version = document.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or not 0 <= version < 2**63:
        raise SyncRequestError("version: expected a whole number from 0")
    return SyncRequest(
        envelope.device_id,
        store_id,
        stream,
        epoch,
        version,
        envelope.response_topic,
        envelope.correlation,
    )
