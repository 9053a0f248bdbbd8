"""The hub's side: sign a command and publish it to one kiosk (`borne hub command`)."""

from __future__ import annotations

import base64
import secrets
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edge.commands.wire import Command, command_topic, sign_command
from edge.errors import UplinkError
from edge.hub.config import HubMqttConfig
from edge.hub.errand_client import errand_client


class CommandNotSent(UplinkError):
    """The broker could not be reached or did not take the command."""

    retryable = True


def new_command(
    name: str,
    device: str,
    *,
    lifetime: int,
    args: Mapping[str, Any] | None = None,
    clock: Callable[[], float] = time.time,
) -> Command:
    """A command issued now, valid for `lifetime` seconds, with a fresh nonce."""
    now = int(clock())
    nonce = base64.urlsafe_b64encode(secrets.token_bytes(18)).decode()  # 24 characters
    return Command(name, device, now, now + lifetime, nonce, dict(args or {}))


def publish_command(
    config: HubMqttConfig, command: Command, key: Ed25519PrivateKey, *, timeout: float = 10.0
) -> None:
    """Sign `command` and publish it at QoS 1, kept by the broker until it expires.

    Returns once the broker acknowledged it; CommandNotSent otherwise. A client id of
    its own: the serving hub's persistent session must not be taken over.
    """
    try:
        client = errand_client(config, "command")
    except (ssl.SSLError, OSError) as error:
        raise CommandNotSent(f"the MQTT TLS files cannot be used: {error}") from error
    connected, acknowledged = threading.Event(), threading.Event()
    outcome: dict[str, ReasonCode] = {}

    def on_connect(_: mqtt.Client, __: Any, ___: Any, reason: ReasonCode, ____: Any) -> None:
        outcome["connect"] = reason
        connected.set()

    def on_publish(_: mqtt.Client, __: Any, ___: int, reason: ReasonCode, ____: Any) -> None:
        outcome["publish"] = reason
        acknowledged.set()

    client.on_connect = on_connect
    client.on_publish = on_publish
    try:
        client.connect(config.host, config.port, keepalive=30)
    except (OSError, ValueError) as error:
        raise CommandNotSent(
            f"cannot reach the broker {config.host}:{config.port}: {error}"
        ) from None
    client.loop_start()
    try:
        if not connected.wait(timeout) or outcome["connect"].is_failure:
            said = outcome.get("connect", "no answer")
            raise CommandNotSent(f"the broker refused the connection: {said}")
        properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        properties.MessageExpiryInterval = max(1, command.expires_at - int(time.time()))
        client.publish(
            command_topic(command.device, command.name),
            sign_command(command, key),
            qos=1,
            properties=properties,
        )
        if not acknowledged.wait(timeout):
            raise CommandNotSent("the broker did not acknowledge the command")
        if outcome["publish"].is_failure:  # 135: this hub may not write there (the ACL)
            raise CommandNotSent(f"the broker refused the command: {outcome['publish']}")
    finally:
        client.disconnect()
        client.loop_stop()
