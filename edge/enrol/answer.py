"""What the hub answers an enrolment request, read strictly, and the errors of enrolment.

The answer comes from the network: every field is checked before anything is written.
A certificate is accepted only if it carries this kiosk's public key, names the device
the answer names (its CN, which the broker takes as the MQTT user name) and was signed
by the CA the enrolment code vouched for. A refusal (`{"error": CODE, "message": ...}`)
becomes `EnrolRefused`; anything else the kiosk cannot use becomes an `EnrolFailed`.
Both are pure functions of bytes, so they are fuzzed (tests/test_enrol_answer.py).
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_public_key,
)
from cryptography.x509.oid import NameOID

from edge.enrol.wire import REFUSAL_STATUS
from edge.errors import BorneError
from edge.lockdown import is_pin_hash

__all__ = [
    "REFUSAL_REASONS",
    "BadAnswer",
    "EnrolFailed",
    "EnrolRefused",
    "Enrolment",
    "HubNotTrusted",
    "HubUnreachable",
    "NotInstalled",
    "parse_enrolment",
    "parse_refusal",
    "printable",
]

# The hub's refusal codes, and the HTTP status each comes with.
REFUSAL_REASONS = REFUSAL_STATUS
MAX_MESSAGE = 300  # characters of the hub's own words kept for the installer
MAX_STORE_NAME = 200
_TOPIC_LEVEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # as edge.config's ids
_HOST_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})")
_HEX = re.compile(r"(?:[0-9a-fA-F]{2}){16,128}")  # 128 to 1024 bits, whole bytes


class EnrolRefused(BorneError):
    """The hub refused the enrolment; `reason` is its code, `message` its own words."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"the hub refused the enrolment ({reason}): {message}")
        self.reason = reason
        self.message = message


class EnrolFailed(BorneError):
    """The enrolment did not happen and the hub did not refuse it; `problem` says why."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"enrolment failed: {problem}")
        self.problem = problem


class HubUnreachable(EnrolFailed):
    """No answer from the hub (network, TLS, time-out): the same code may be tried again."""

    retryable = True


class HubNotTrusted(EnrolFailed):
    """The hub's CA is not the one the code names: wrong hub, or someone in between."""


class BadAnswer(EnrolFailed):
    """The hub answered something this kiosk cannot use."""


class NotInstalled(EnrolFailed):
    """The enrolment was granted but could not be written on this kiosk."""


@dataclass(frozen=True)
class Enrolment:
    """What the hub granted: who the kiosk is, its certificate, and its secrets."""

    device_id: str
    store_id: str
    store_name: str
    certificate_pem: str
    ca_pem: str
    broker_host: str
    broker_port: int
    pseudonym_key: str  # hex
    command_key_pem: str  # the hub's Ed25519 command-verification key
    installer_pin_hash: str  # empty: no installer PIN
    hub_url: str = ""  # the enrolling hub (the code's), kept for `borne doctor`'s clock check

    def __repr__(self) -> str:  # the pseudonym secret stays out of logs and tracebacks
        return f"Enrolment(device_id={self.device_id!r}, store_id={self.store_id!r})"


def printable(text: str, limit: int = MAX_MESSAGE) -> str:
    """`text` without control characters, cut to `limit`: the hub's words reach a terminal."""
    kept = "".join(character if character.isprintable() else " " for character in text)
    return kept[:limit].strip()


def parse_refusal(status: int, body: bytes) -> EnrolRefused | None:
    """The hub's refusal in `body`, or None when the body is not one."""
    try:
        document = _json_object(body)
    except BadAnswer:
        return None
    reason, message = document.get("error"), document.get("message")
    if not isinstance(reason, str) or reason not in REFUSAL_REASONS:
        return None
    if not isinstance(message, str):
        return None
    return EnrolRefused(reason, printable(message) or f"HTTP {status}")


def parse_enrolment(
    body: bytes,
    *,
    public_key: ec.EllipticCurvePublicKey,
    ca: x509.Certificate,
    store_id: str,
    device_id: str,
    hub_url: str,
) -> Enrolment:
    """Read the hub's 200 answer; raises BadAnswer naming the first field that is wrong.

    `device_id` is the id the kiosk asked for (the code's or its own; empty: any).
    """
    document = _json_object(body)
    answered_device = _topic_level(document, "device_id")
    if device_id and answered_device != device_id:
        raise BadAnswer(f"the hub named the device {answered_device!r}, not {device_id!r}")
    answered_store = _topic_level(document, "store_id")
    if answered_store != store_id:
        raise BadAnswer(f"the hub enrolled store {answered_store!r}, not the code's {store_id!r}")
    store_name = _text(document, "store_name")
    if len(store_name) > MAX_STORE_NAME or not store_name.isprintable():
        raise BadAnswer(f"store_name is not a name of at most {MAX_STORE_NAME} characters")
    answered_ca = _certificate(document, "ca")
    if answered_ca.public_bytes(Encoding.DER) != ca.public_bytes(Encoding.DER):
        raise BadAnswer("the answer's CA is not the one the code names")
    certificate = _certificate(document, "certificate")
    _check_certificate(certificate, public_key=public_key, ca=ca, device_id=answered_device)
    broker = document.get("broker")
    if not isinstance(broker, dict):
        raise BadAnswer("broker is missing or not an object")
    return Enrolment(
        device_id=answered_device,
        store_id=answered_store,
        store_name=store_name,
        certificate_pem=certificate.public_bytes(Encoding.PEM).decode("ascii"),
        ca_pem=ca.public_bytes(Encoding.PEM).decode("ascii"),
        broker_host=_broker_host(broker),
        broker_port=_broker_port(broker),
        pseudonym_key=_pseudonym_key(document),
        command_key_pem=_command_key(document),
        installer_pin_hash=_installer_pin_hash(document),
        hub_url=hub_url,
    )


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body, object_pairs_hook=_no_duplicates)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise BadAnswer("the answer is not JSON") from None
    if not isinstance(document, dict):
        raise BadAnswer("the answer is not a JSON object")
    return document


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        raise ValueError("a key given twice")  # two answers in one: neither is trusted
    return document


def _text(document: dict[str, Any], key: str) -> str:
    value = document.get(key)
    if not isinstance(value, str):
        raise BadAnswer(f"{key} is missing or not a string")
    return value


def _topic_level(document: dict[str, Any], key: str) -> str:
    value = _text(document, key)
    if not _TOPIC_LEVEL.fullmatch(value):
        raise BadAnswer(f"{key} is not 1-64 letters, digits, '.', '_' or '-'")
    return value


def _certificate(document: dict[str, Any], key: str) -> x509.Certificate:
    pem = _text(document, key)
    try:
        certificates = x509.load_pem_x509_certificates(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise BadAnswer(f"{key} is not a PEM certificate") from None
    if len(certificates) != 1:
        raise BadAnswer(f"{key} holds {len(certificates)} certificates, not one")
    return certificates[0]


def _check_certificate(
    certificate: x509.Certificate,
    *,
    public_key: ec.EllipticCurvePublicKey,
    ca: x509.Certificate,
    device_id: str,
) -> None:
    spki = (Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    try:
        theirs = certificate.public_key().public_bytes(*spki)
    except (ValueError, TypeError):  # a key type cryptography cannot read
        raise BadAnswer("the certificate's public key cannot be read") from None
    if theirs != public_key.public_bytes(*spki):
        raise BadAnswer("the certificate is not for this kiosk's key")
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if [name.value for name in names] != [device_id]:
        raise BadAnswer(f"the certificate is not for device {device_id!r} (its CN differs)")
    try:
        certificate.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        raise BadAnswer("the certificate was not signed by the hub's CA") from None


def _broker_host(broker: dict[str, Any]) -> str:
    host = broker.get("host")
    if not isinstance(host, str):
        raise BadAnswer("broker.host is missing or not a string")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not _HOST_NAME.fullmatch(host):
            raise BadAnswer("broker.host is not a host name or an IP address") from None
    return host


def _broker_port(broker: dict[str, Any]) -> int:
    port = broker.get("port")
    if type(port) is not int or not 1 <= port <= 65535:  # bool is an int to Python
        raise BadAnswer("broker.port is not a port number (1-65535)")
    return port


def _pseudonym_key(document: dict[str, Any]) -> str:
    key = _text(document, "pseudonym_key")
    if not _HEX.fullmatch(key):
        raise BadAnswer("pseudonym_key is not 32 to 256 hex digits")
    return key.lower()


def _command_key(document: dict[str, Any]) -> str:
    pem = _text(document, "command_key")
    try:
        key = load_pem_public_key(pem.encode("ascii"))
    except (ValueError, TypeError, UnicodeEncodeError):
        raise BadAnswer("command_key is not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise BadAnswer("command_key is not an Ed25519 public key")
    return key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def _installer_pin_hash(document: dict[str, Any]) -> str:
    value = _text(document, "installer_pin_hash")
    if value and not is_pin_hash(value):
        raise BadAnswer("installer_pin_hash is not a hash made by `borne pin-hash`")
    return value
