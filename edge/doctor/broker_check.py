"""The broker check: the TLS handshake, a message on the kiosk's own topic accepted,
one under another device's id refused, and the kiosk's certificate ([mqtt] cert_file)
not expired: a warning from 30 days before, so it is re-enrolled in time.

The probe runs in a worker thread with a paho client of its own, under a client id
of its own: a running kiosk keeps its connection (a broker drops the older of two
connections with one client id). Brokers that authorise by the certificate's CN, as
the hub's mosquitto configuration does, see the same device either way.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
import ssl
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from cryptography import x509
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edge.config import MqttConfig
from edge.doctor import messages as m
from edge.doctor.context import CheckContext, result
from edge.doctor.report import CheckResult, Outcome
from edge.events import rfc3339

STEP_TIMEOUT = 5.0  # seconds for each exchange with the broker
# Not a device id anyone is given (the hub names devices "{store}-kNN"): if the ACL
# wrongly lets the probe through, no real kiosk's topic is written.
OTHER_DEVICE = "borne-doctor-isolation-probe"
EXPIRY_WARNING_DAYS = 30  # a kiosk's certificate expiring sooner is re-enrolled now


def probe_topic(device_id: str) -> str:
    """Where the probe publishes: the device's `health` topic.

    The ACL lets a device write it (as its events, state, req and res topics), and
    nothing reads it that a probe could upset: the hub subscribes to events (which it
    would store, and whose sequence it tracks), state (retained: the probe would
    replace the kiosk's birth message) and requests (which it answers); the kiosk
    itself reads its res and cmd topics. A health message is not retained and is
    not stored: the probe goes nowhere. It still says what it is, and expires.
    """
    return f"borne/v1/devices/{device_id}/health"


@dataclass(slots=True)
class Probe:
    """What the broker said, step by step."""

    failure: str = ""  # "refused", "timeout", "name", "tls", "login", "own", "no answer"
    cause: str = ""
    tls_version: str = ""
    own: str = ""  # the reason code of the PUBACK on the kiosk's own topic
    other: str = ""  # ... on another device's
    other_refused: bool = False
    details: dict[str, Any] = field(default_factory=dict)


def _tls_context(config: MqttConfig) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=config.ca_file or None)
    if config.cert_file:
        context.load_cert_chain(config.cert_file, config.key_file or None)
    return context


def _classify(error: BaseException, timeout: float) -> tuple[str, str]:
    """(kind, cause in words) of a connection failure."""
    if isinstance(error, ssl.SSLCertVerificationError):
        return "tls", f"TLS: the broker's certificate is not trusted ({error.verify_message})"
    if isinstance(error, ssl.SSLError):
        return "tls", f"TLS error ({error.reason or error})"
    if isinstance(error, ConnectionRefusedError):
        return "refused", "connection refused"
    if isinstance(error, TimeoutError | socket.timeout):
        return "timeout", f"no answer in {timeout:.0f} s"
    if isinstance(error, socket.gaierror):
        return "name", f"unknown host name ({error.strerror})"
    if isinstance(error, OSError):
        return "timeout", error.strerror or type(error).__name__
    return "tls", str(error)  # ValueError: a certificate or key file paho refused


def handshake(config: MqttConfig, timeout: float = STEP_TIMEOUT) -> str:
    """The TLS version agreed with the broker; raises what the connection raised."""
    context = _tls_context(config)
    with (
        socket.create_connection((config.host, config.port), timeout=timeout) as raw,
        context.wrap_socket(raw, server_hostname=config.host) as tls,
    ):
        return tls.version() or "TLS"


class _Client:
    """A paho client run by its own thread, with each answer waited for."""

    def __init__(self, config: MqttConfig, device_id: str) -> None:
        client_id = f"{device_id}-doctor-{uuid.uuid4().hex[:8]}"
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv5
        )
        if config.username:
            self.client.username_pw_set(config.username, config.password or None)
        if config.tls:
            self.client.tls_set_context(_tls_context(config))
        self.connected = threading.Event()
        self.connack: ReasonCode | None = None
        self.closed: ReasonCode | None = None
        self.acks: dict[int, ReasonCode] = {}
        self._acked = threading.Condition()
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish

    def _on_connect(self, _c: Any, _u: Any, _f: Any, code: ReasonCode, _p: Any) -> None:
        self.connack = code
        self.connected.set()

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, code: ReasonCode, _p: Any) -> None:
        self.closed = code
        self.connected.set()  # whoever waits for the CONNACK hears it will not come

    def _on_publish(self, _c: Any, _u: Any, mid: int, code: ReasonCode, _p: Any) -> None:
        with self._acked:
            self.acks[mid] = code
            self._acked.notify_all()

    def publish(self, topic: str, timeout: float) -> ReasonCode | None:
        """Publish the probe at QoS 1; the PUBACK's reason code (None: none came)."""
        properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        properties.MessageExpiryInterval = 60
        properties.ContentType = "application/json"
        payload = json.dumps({"probe": "borne doctor", "at": rfc3339(time.time())})
        info = self.client.publish(topic, payload, qos=1, properties=properties)
        with self._acked:
            self._acked.wait_for(lambda: info.mid in self.acks, timeout)
            return self.acks.get(info.mid)


def probe_broker(config: MqttConfig, device_id: str, timeout: float = STEP_TIMEOUT) -> Probe:
    """Connect as the kiosk does, publish on its own topic and on another device's."""
    probe = Probe()
    try:
        if config.tls:
            probe.tls_version = handshake(config, timeout)
        session = _Client(config, device_id)
        session.client.connect(config.host, config.port, keepalive=30)
    except (OSError, ssl.SSLError, ValueError) as error:
        probe.failure, probe.cause = _classify(error, timeout)
        return probe
    session.client.loop_start()
    try:
        if not session.connected.wait(timeout):
            probe.failure, probe.cause = "timeout", f"no answer to the login in {timeout:.0f} s"
            return probe
        if session.connack is None or session.connack.is_failure:
            probe.failure = "login"
            code = session.connack or session.closed
            probe.cause = str(code) if code is not None else "the broker closed the connection"
            if session.connack is None and config.tls:  # TLS 1.3: a refused certificate shows here
                probe.cause = (
                    "the broker closed the connection (is this kiosk's certificate accepted?)"
                )
            return probe
        own = session.publish(probe_topic(device_id), timeout)
        if own is None or own.is_failure:
            probe.failure = "own" if own is not None else "no answer"
            probe.own = str(own) if own is not None else ""
            return probe
        probe.own = str(own)
        other = session.publish(probe_topic(OTHER_DEVICE), timeout)
        # A broker may also drop the connection rather than answer (MQTT 3 brokers).
        probe.other_refused = other is None or other.is_failure
        probe.other = str(other) if other is not None else "no answer (dropped)"
        return probe
    finally:
        session.client.disconnect()
        session.client.loop_stop()


def certificate_expiry(cert_file: str) -> datetime | None:
    """When the kiosk's certificate expires; None without one or when it cannot be read
    (the handshake then says what is wrong with it)."""
    if not cert_file:
        return None
    try:
        certificate = x509.load_pem_x509_certificate(Path(cert_file).read_bytes())
    except (OSError, ValueError):
        return None
    return certificate.not_valid_after_utc


async def check_broker(ctx: CheckContext) -> CheckResult:
    """The broker accepts this kiosk and isolates it from the others, and the kiosk's
    certificate is not about to expire."""
    found = await _check_link(ctx)
    not_after = certificate_expiry(ctx.config.mqtt.cert_file)
    if not_after is None:
        return found
    details = {**found.details, "certificate_not_after": not_after.isoformat()}
    left = not_after - datetime.fromtimestamp(ctx.clock(), UTC)
    day = f"{not_after:%Y-%m-%d}"
    device = ctx.config.device.device_id or "ID"
    if left.total_seconds() <= 0:
        # The broker refuses it whatever else it says: the one thing to do is re-enrol.
        return result(
            "broker",
            Outcome.FAIL,
            m.CERTIFICATE_EXPIRED,
            m.CERTIFICATE_FIX,
            details,
            not_after=day,
            device=device,
        )
    if found.outcome is Outcome.PASS and left.days < EXPIRY_WARNING_DAYS:
        return result(
            "broker",
            Outcome.WARN,
            m.CERTIFICATE_EXPIRING,
            m.CERTIFICATE_FIX,
            details,
            **found.params,
            days=left.days,
            not_after=day,
            device=device,
        )
    return dataclasses.replace(found, details=details)


async def _check_link(ctx: CheckContext) -> CheckResult:
    """The broker accepts this kiosk and isolates it from the others."""
    mqtt_config = ctx.config.mqtt
    if not mqtt_config.host:
        return result("broker", Outcome.WARN, m.BROKER_NONE, m.BROKER_NONE_FIX)
    address = f"{mqtt_config.host}:{mqtt_config.port}"
    device = ctx.config.device.device_id
    if not device:
        return result("broker", Outcome.FAIL, m.BROKER_NO_ID, m.BROKER_NONE_FIX)
    probe = await asyncio.to_thread(probe_broker, mqtt_config, device)
    details = {
        "tls_version": probe.tls_version,
        "own_topic": probe.own,
        "other_device": probe.other,
    }
    fixes = {
        "refused": m.BROKER_REFUSED_FIX,
        "timeout": m.BROKER_TIMEOUT_FIX,
        "name": m.BROKER_NAME_FIX,
        "tls": m.BROKER_TLS_FIX,
    }
    if probe.failure in fixes:
        return result(
            "broker",
            Outcome.FAIL,
            m.BROKER_UNREACHABLE,
            fixes[probe.failure],
            details,
            address=address,
            cause=probe.cause,
            host=mqtt_config.host,
        )
    if probe.failure == "login":
        return result(
            "broker",
            Outcome.FAIL,
            m.BROKER_LOGIN_REFUSED,
            m.BROKER_LOGIN_FIX,
            details,
            address=address,
            reason=probe.cause,
        )
    if probe.failure == "own":
        return result(
            "broker",
            Outcome.FAIL,
            m.BROKER_OWN_REFUSED,
            m.BROKER_OWN_FIX,
            details,
            address=address,
            reason=probe.own,
            device=device,
        )
    if probe.failure == "no answer":
        return result(
            "broker",
            Outcome.FAIL,
            m.BROKER_NO_ANSWER,
            m.BROKER_NO_ANSWER_FIX,
            details,
            address=address,
            seconds=round(STEP_TIMEOUT),
        )
    if not probe.other_refused:
        return result(
            "broker", Outcome.WARN, m.BROKER_NOT_ISOLATED, m.BROKER_NOT_ISOLATED_FIX, details
        )
    if not mqtt_config.tls:
        return result(
            "broker", Outcome.WARN, m.BROKER_PLAIN, m.BROKER_PLAIN_FIX, details, address=address
        )
    return result(
        "broker",
        Outcome.PASS,
        m.BROKER_OK,
        "",
        details,
        address=address,
        tls_version=probe.tls_version,
    )
