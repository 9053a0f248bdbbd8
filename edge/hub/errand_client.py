"""The MQTT client of a hub command run beside `borne hub serve` (an import's changes, a
signed command): one errand, then it disconnects."""

from __future__ import annotations

import secrets
import ssl

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from edge.hub.config import HubMqttConfig

__all__ = ["errand_client"]


def errand_client(config: HubMqttConfig, errand: str) -> mqtt.Client:
    """A client for `errand` ("import", "command") with the hub's credentials and TLS.

    Its client id is its own: the serving hub's persistent session must not be taken
    over. Raises ssl.SSLError or OSError when the TLS files cannot be used (the caller
    says so in its own words).
    """
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"{config.effective_client_id}-{errand}-{secrets.token_hex(4)}",
        protocol=MQTTProtocolVersion.MQTTv5,
        reconnect_on_failure=False,
    )
    if config.username:
        client.username_pw_set(config.username, config.password or None)
    if config.tls:
        client.tls_set(
            ca_certs=config.ca_file or None,
            certfile=config.cert_file or None,
            keyfile=config.key_file or None,
            cert_reqs=ssl.CERT_REQUIRED,
        )
    return client
