"""Why the link to the broker dropped, in words an installer can act on.

paho hands every disconnect a reason code. One the broker sent in a DISCONNECT
packet (MQTT 5) says what happened: another connection took the session over, the
server is shutting down, we broke the protocol. A socket that failed gets paho's
"Unspecified error", which says nothing: the OS error paho logged just before is
what happened then, so it is said instead.
"""

from __future__ import annotations

from paho.mqtt.reasoncodes import ReasonCode

SESSION_TAKEN_OVER = 0x8E  # another client connected with the same client id
SERVER_SHUTTING_DOWN = 0x8B
PROTOCOL_ERROR = 0x82

_SAID_BY_BROKER = {
    SESSION_TAKEN_OVER: "session taken over by another connection with this device id",
    SERVER_SHUTTING_DOWN: "the broker is shutting down",
    PROTOCOL_ERROR: "the broker saw a protocol error",
}


def disconnect_reason(reason: ReasonCode, *, from_broker: bool, socket_error: str = "") -> str:
    """What a disconnect means: the broker's reason when it gave one, else the socket's."""
    if from_broker:
        words = _SAID_BY_BROKER.get(reason.value, str(reason))
        return f"the broker disconnected us: {words} (reason {reason.value:#04x})"
    if socket_error:
        return f"connection lost: {socket_error}"
    return "connection lost: the broker closed the socket"
