"""A kiosk's resync request, parsed strictly from what the broker delivered.

The kiosk publishes `{"store", "stream", "epoch", "version"}` on
`borne/v1/devices/{device}/req/sync` with the MQTT 5 Response Topic and Correlation
Data properties. The answer may only go to the device's own response topics
(`borne/v1/devices/{device}/res/...`): the hub may publish anywhere, so a request
naming another device's topic would let one kiosk write into another's.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from edge.errors import BorneError
from edge.sync.messages import Stream

REQUEST_TOPIC = "borne/v1/devices/+/req/sync"
MAX_REQUEST_BYTES = 4096  # four short fields; anything bigger is not a request
MAX_CORRELATION_BYTES = 256
_EPOCH = re.compile(r"[A-Za-z0-9._-]{0,64}")  # empty: the kiosk holds nothing yet
_LEVEL = re.compile(r"[^\x00-\x1f\x7f/+#]{1,64}")


class SyncRequestError(BorneError):
    """A resync request the hub will not answer: malformed, or not the device's to ask."""

    retryable = False  # sending the same request again cannot make it valid


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
    device_id = topic.split("/")[3]
    if not _LEVEL.fullmatch(device_id):
        raise SyncRequestError("device id: not one topic level")
    if not response_topic or not is_own_response_topic(response_topic, device_id):
        raise SyncRequestError("response topic: must be borne/v1/devices/{device}/res/...")
    if correlation is None or len(correlation) > MAX_CORRELATION_BYTES:
        raise SyncRequestError(f"correlation data: required, {MAX_CORRELATION_BYTES} bytes at most")
    if len(payload) > MAX_REQUEST_BYTES:
        raise SyncRequestError(f"request of {len(payload)} bytes, over {MAX_REQUEST_BYTES}")
    try:
        document = json.loads(payload)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise SyncRequestError("not JSON") from None
    if not isinstance(document, dict):
        raise SyncRequestError("not a JSON object")
    store_id = document.get("store")
    if not isinstance(store_id, str) or not _LEVEL.fullmatch(store_id):
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
    return SyncRequest(device_id, store_id, stream, epoch, version, response_topic, correlation)


def is_own_response_topic(topic: str, device_id: str) -> bool:
    """Whether `topic` is one of the device's own response topics (`.../res/...`)."""
    levels = topic.split("/")
    return (
        len(levels) >= 6
        and levels[:5] == ["borne", "v1", "devices", device_id, "res"]
        and all(levels[5:])
        and not any(char in topic for char in "+#")
    )
