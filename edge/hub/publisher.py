"""After an import, the hub publishes each store's new change sets to its kiosks.

One message per change set on `borne/v1/stores/{store}/{stream}/changes`, QoS 1,
MQTT 5, not retained (a kiosk that was away resyncs: a retained change set would be
one version among many, not a state). Publishing is done when every PUBACK is in and
says success, within a bounded time. An import never depends on it: a kiosk that
misses a change set sees a gap at the next one and resyncs.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode

from edge.errors import BorneError
from edge.hub.config import HubMqttConfig
from edge.hub.errand_client import errand_client
from edge.hub.streams import StreamStore
from edge.sync.messages import Stream

PUBLISH_TIMEOUT = 10.0  # seconds for connecting and for every PUBACK to come back


class ChangePublishError(BorneError):
    """The change sets could not all be published; `published` of them were acknowledged.

    The import they come from is committed: kiosks catch up by resyncing.
    """

    retryable = True

    def __init__(self, reason: str, published: int) -> None:
        super().__init__(f"{reason} ({published} change sets published)")
        self.reason = reason
        self.published = published


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One change set message and its topic."""

    topic: str
    payload: bytes


def changes_topic(store_id: str, stream: str) -> str:
    """Where a store's kiosks receive a stream's change sets."""
    return f"borne/v1/stores/{store_id}/{stream}/changes"


def new_change_sets(
    streams: StreamStore, versions: Mapping[tuple[str, Stream], int]
) -> list[Outgoing]:
    """The messages of the change sets an import made (`ImportReport.versions`).

    A change set too big for one message is not sent: the kiosks see a gap at the next
    one and resync.
    """
    outgoing = []
    for (store_id, stream), version in sorted(versions.items()):
        documents = streams.changes_since(store_id, stream, version - 1) or []
        for document in documents:
            if document["version"] == version:
                payload = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
                outgoing.append(Outgoing(changes_topic(store_id, stream), payload.encode()))
    return outgoing


class _Acknowledgements:
    """PUBACKs as paho's thread reports them, awaited by the publishing thread."""

    def __init__(self) -> None:
        self.connected = threading.Event()
        self.refused: str | None = None
        self._condition = threading.Condition()
        self._acked: set[int] = set()
        self._failed: dict[int, str] = {}

    def on_connect(self, _: mqtt.Client, __: Any, ___: Any, reason: ReasonCode, ____: Any) -> None:
        if reason.is_failure:
            self.refused = str(reason)
        self.connected.set()

    def on_publish(self, _: mqtt.Client, __: Any, mid: int, reason: ReasonCode, ___: Any) -> None:
        with self._condition:
            # 16 "no matching subscribers" is a success: no kiosk of that store is up.
            if reason.is_failure:
                self._failed[mid] = str(reason)
            else:
                self._acked.add(mid)
            self._condition.notify_all()

    def wait(self, mids: Sequence[int], deadline: float) -> int:
        """How many of `mids` succeeded; ChangePublishError on a refusal or the deadline."""
        with self._condition:
            while not all(mid in self._acked or mid in self._failed for mid in mids):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._condition.wait(left)
            published = sum(mid in self._acked for mid in mids)
            if self._failed:
                refusal = next(iter(self._failed.values()))
                raise ChangePublishError(f"the broker refused a change set: {refusal}", published)
            if published < len(mids):
                raise ChangePublishError("the broker did not acknowledge in time", published)
            return published


def publish_change_sets(
    config: HubMqttConfig, messages: Sequence[Outgoing], timeout: float = PUBLISH_TIMEOUT
) -> int:
    """Publish `messages` in order and wait for their PUBACKs; how many were published.

    Blocking (meant for `borne hub import`). ChangePublishError when the broker cannot
    be reached, refuses, or does not acknowledge within `timeout`.
    """
    if not messages:
        return 0
    deadline = time.monotonic() + timeout
    acknowledgements = _Acknowledgements()
    client = _client(config, acknowledgements)
    try:
        client.connect(config.host, config.port, keepalive=config.keepalive)
    except (OSError, ValueError) as error:  # ValueError: paho's bad host or port
        raise ChangePublishError(f"cannot reach the broker: {error}", 0) from error
    client.loop_start()
    try:
        if not acknowledgements.connected.wait(max(0.0, deadline - time.monotonic())):
            raise ChangePublishError("the broker did not answer the connection", 0)
        if acknowledgements.refused is not None:
            raise ChangePublishError(f"the broker refused: {acknowledgements.refused}", 0)
        mids = []
        for message in messages:
            info = client.publish(message.topic, message.payload, qos=1, retain=False)
            if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                raise ChangePublishError(f"the link dropped: {info.rc.name}", 0)
            mids.append(info.mid)
        return acknowledgements.wait(mids, deadline)
    finally:
        client.disconnect()
        client.loop_stop()


def _client(config: HubMqttConfig, acknowledgements: _Acknowledgements) -> mqtt.Client:
    try:
        client = errand_client(config, "import")
    except (ssl.SSLError, OSError) as error:
        raise ChangePublishError(f"the MQTT TLS files cannot be used: {error}", 0) from error
    client.max_inflight_messages_set(config.inflight)
    client.connect_timeout = PUBLISH_TIMEOUT
    client.on_connect = acknowledgements.on_connect
    client.on_publish = acknowledgements.on_publish
    return client
