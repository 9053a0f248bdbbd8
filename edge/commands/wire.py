"""A signed command on the wire: pure functions from bytes to a `Command`, and back.

See the package's docstring for the format. Parsing is strict: a field of the wrong
type, an unknown field, a name or nonce outside its alphabet is a `CommandRefused`.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from edge.errors import BorneError

MAX_PAYLOAD = 8192  # bytes of a whole message: commands are small, anything bigger is refused
MAX_LIFETIME = 86_400  # seconds between issue and expiry, at most
NAME = re.compile(r"[a-z][a-z0-9-]{0,31}")  # one topic level, no wildcard
NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")
DEVICE = re.compile(r"[^/+#\x00-\x1f]{1,128}")  # one topic level, as the CN is
FIELDS = frozenset({"name", "device", "issued_at", "expires_at", "nonce", "args"})


class Refusal(StrEnum):
    """Why a command was not run (the reason in logs, counters and events)."""

    OVERSIZED = "oversized"
    MALFORMED = "malformed"
    BAD_SIGNATURE = "bad_signature"
    NO_KEY = "no_verify_key"  # the kiosk has no key to verify with: nothing can be run
    OTHER_DEVICE = "other_device"
    WRONG_NAME = "wrong_name"  # the signed name is not the topic's
    EXPIRED = "expired"
    FROM_THE_FUTURE = "issued_in_the_future"
    TOO_LONG_LIVED = "too_long_lived"
    REPLAYED = "replayed"
    UNKNOWN_COMMAND = "unknown_command"
    FLOODED = "too_many_at_once"


class CommandRefused(BorneError):
    """A command that is not run, and why; `detail` never holds the message's content."""

    def __init__(self, reason: Refusal, detail: str = "") -> None:
        super().__init__(f"command refused: {reason.value}" + (f" ({detail})" if detail else ""))
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Command:
    """What the hub signed."""

    name: str
    device: str
    issued_at: int  # Unix seconds
    expires_at: int
    nonce: str
    args: Mapping[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The signed document."""
        return {
            "name": self.name,
            "device": self.device,
            "issued_at": self.issued_at,
            "expires_at": self.expires_at,
            "nonce": self.nonce,
            "args": dict(self.args),
        }


def command_topic(device: str, name: str) -> str:
    """Where the command `name` for `device` is published."""
    return f"borne/v1/devices/{device}/cmd/{name}"


def topic_name(topic: str) -> str:
    """The command's name as its topic gives it ("" if the topic is not a command's)."""
    levels = topic.split("/")
    if len(levels) != 6 or levels[:3] != ["borne", "v1", "devices"] or levels[4] != "cmd":
        return ""
    return levels[5] if NAME.fullmatch(levels[5]) else ""


def canonical(command: Command) -> bytes:
    """The bytes that are signed: sorted keys, no spaces, UTF-8."""
    text = json.dumps(command.as_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode()


def sign_command(command: Command, key: Ed25519PrivateKey) -> bytes:
    """The message the hub publishes for `command`."""
    signed = canonical(command)
    document = {
        "command": base64.b64encode(signed).decode(),
        "signature": base64.b64encode(key.sign(signed)).decode(),
    }
    return json.dumps(document, separators=(",", ":")).encode()


def open_envelope(payload: bytes) -> tuple[bytes, bytes]:
    """The signed bytes and their signature, from a message; nothing is trusted yet."""
    if len(payload) > MAX_PAYLOAD:
        raise CommandRefused(Refusal.OVERSIZED, f"{len(payload)} bytes")
    try:
        document = json.loads(payload, parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError):
        raise CommandRefused(Refusal.MALFORMED, "not JSON") from None
    if not isinstance(document, dict) or set(document) != {"command", "signature"}:
        raise CommandRefused(Refusal.MALFORMED, "not a signed command")
    signed, signature = document["command"], document["signature"]
    if not isinstance(signed, str) or not isinstance(signature, str):
        raise CommandRefused(Refusal.MALFORMED, "command and signature must be base64 text")
    try:
        return base64.b64decode(signed, validate=True), base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise CommandRefused(Refusal.MALFORMED, "not base64") from None


def check_signature(signed: bytes, signature: bytes, key: Ed25519PublicKey) -> None:
    """Raise CommandRefused(BAD_SIGNATURE) unless `key` signed `signed`."""
    try:
        key.verify(signature, signed)
    except InvalidSignature:
        raise CommandRefused(Refusal.BAD_SIGNATURE) from None


def parse_command(signed: bytes) -> Command:
    """The command in the signed bytes; CommandRefused(MALFORMED) if they are not one."""
    try:
        document = json.loads(signed, parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError):
        raise CommandRefused(Refusal.MALFORMED, "the signed command is not JSON") from None
    if not isinstance(document, dict) or set(document) != FIELDS:
        raise CommandRefused(Refusal.MALFORMED, "the signed command lacks or adds fields")
    name, device, nonce = document["name"], document["device"], document["nonce"]
    issued_at, expires_at, args = document["issued_at"], document["expires_at"], document["args"]
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise CommandRefused(Refusal.MALFORMED, "name")
    if not isinstance(device, str) or not DEVICE.fullmatch(device):
        raise CommandRefused(Refusal.MALFORMED, "device")
    if not isinstance(nonce, str) or not NONCE.fullmatch(nonce):
        raise CommandRefused(Refusal.MALFORMED, "nonce")
    for moment in (issued_at, expires_at):
        # bool is an int to Python, not to the contract; the bound keeps datetime happy.
        if type(moment) is not int or not 0 <= moment < 2**40:
            raise CommandRefused(Refusal.MALFORMED, "issued_at and expires_at are Unix seconds")
    if not isinstance(args, dict):
        raise CommandRefused(Refusal.MALFORMED, "args must be an object")
    return Command(name, device, issued_at, expires_at, nonce, args)


def _no_constant(name: str) -> Any:
    """NaN and Infinity are not JSON: Python's reader would take them."""
    raise ValueError(f"{name} is not JSON")
