"""What the broker allows this connection, read from its CONNACK (MQTT 5).

A broker announces its limits in the CONNACK properties, and a client that exceeds
them is disconnected (an oversize packet) or starves the broker (more messages in
flight than its Receive Maximum). paho honours Server Keep Alive itself but not the
others, so the uplink reads them here. The properties come from the network: every
value is treated as outside input and clamped into what the protocol can carry.
"""

from __future__ import annotations

from dataclasses import dataclass

from paho.mqtt.properties import Properties

MQTT_MAX_KEEPALIVE = 65535  # CONNECT carries the keep alive in two bytes
_MAX_RECEIVE = 65535  # Receive Maximum is a two-byte integer too
_MAX_PACKET = 268_435_455 + 5  # the largest remaining length, plus the fixed header


def clamp_keepalive(seconds: int) -> int:
    """A keep alive MQTT can carry: a config may say more (0 turns pings off)."""
    return max(0, min(int(seconds), MQTT_MAX_KEEPALIVE))


@dataclass(frozen=True, slots=True)
class BrokerLimits:
    """The limits this connection runs under."""

    window: int  # QoS 1 messages unacknowledged at once
    keepalive: int  # seconds between pings
    max_packet: int | None  # largest packet the broker accepts (None: no limit said)
    topic_aliases: int  # topic aliases the broker accepts from us (0: none)

    @classmethod
    def configured(cls, *, inflight: int, keepalive: int) -> BrokerLimits:
        """Before any CONNACK: what the configuration asks for, made valid."""
        return cls(max(1, min(inflight, _MAX_RECEIVE)), clamp_keepalive(keepalive), None, 0)

    @classmethod
    def from_connack(
        cls, properties: Properties | None, *, inflight: int, keepalive: int
    ) -> BrokerLimits:
        """The configured limits, narrowed by what the broker's CONNACK said."""
        limits = cls.configured(inflight=inflight, keepalive=keepalive)
        receive_maximum = _int_property(properties, "ReceiveMaximum")
        server_keepalive = _int_property(properties, "ServerKeepAlive")
        max_packet = _int_property(properties, "MaximumPacketSize")
        aliases = _int_property(properties, "TopicAliasMaximum")
        return cls(
            window=min(limits.window, receive_maximum) if receive_maximum else limits.window,
            keepalive=limits.keepalive
            if server_keepalive is None
            else clamp_keepalive(server_keepalive),
            max_packet=min(max_packet, _MAX_PACKET) if max_packet else None,
            topic_aliases=max(0, min(aliases or 0, _MAX_RECEIVE)),
        )


def _int_property(properties: Properties | None, name: str) -> int | None:
    value = getattr(properties, name, None)
    # A zero Receive Maximum or Maximum Packet Size is a protocol error: read as absent.
    return value if isinstance(value, int) and value >= 0 else None


def publish_size(topic: bytes, payload: bytes, properties_size: int) -> int:
    """Bytes of a QoS 1 PUBLISH packet: fixed header, topic, packet id, properties, payload.

    `properties_size` counts the encoded properties with their length prefix.
    """
    remaining = 2 + len(topic) + 2 + properties_size + len(payload)
    return 1 + _varint_size(remaining) + remaining


def _varint_size(value: int) -> int:
    size = 1
    while value >= 128:
        value //= 128
        size += 1
    return size
