"""The enrolment code: what the hub prints as a QR code and the installer scans.

One line of text, so a camera, a terminal and a shell argument all carry it alike:

    borne-enrol:1?hub=https%3A%2F%2Fhub.example%3A8443&store=PARIS-01&ca=<sha256 hex>
        &token=<single-use token>&exp=<unix seconds>[&device=<device id>]

`ca` is the SHA-256 of the hub CA certificate's DER bytes: the kiosk trusts the hub
only once the CA it is shown hashes to it, so a code read from a poster on the wrong
network enrols nowhere. The hub alone decides whether the token is valid; `exp` is
only shown to the installer (a kiosk that was never set up may have a wrong clock).
Anything else read by the camera is refused with `EnrolCodeError`, a typed error that
says what was wrong, never echoing more than a few characters of hostile text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qsl, quote, urlsplit

from edge.errors import BorneError

__all__ = ["CODE_PREFIX", "EnrolCode", "EnrolCodeError", "is_enrol_code", "parse_enrol_code"]

CODE_PREFIX = "borne-enrol:1?"
MAX_CODE_TEXT = 1024  # a QR code the installer scans at arm's length stays small
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_TOKEN = re.compile(r"[A-Za-z0-9_-]{22,128}")  # secrets.token_urlsafe: 128 bits at least
_TOPIC_LEVEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # as edge.config's ids
_HOST = re.compile(r"[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\]")
_KEYS = frozenset({"hub", "store", "ca", "token", "exp", "device"})


class EnrolCodeError(BorneError):
    """The text is not an enrolment code this kiosk can use; `problem` says why."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"not an enrolment code: {problem}")
        self.problem = problem


@dataclass(frozen=True)
class EnrolCode:
    """A parsed enrolment code."""

    hub_url: str  # https://host[:port], no path
    store_id: str
    ca_sha256: str  # 64 lowercase hex digits
    token: str
    expires_at: datetime  # UTC
    device_id: str = ""  # empty: the hub names the device

    def text(self) -> str:
        """The code as one line, for the QR code and the command line."""
        fields = [
            ("hub", self.hub_url),
            ("store", self.store_id),
            ("ca", self.ca_sha256),
            ("token", self.token),
            ("exp", str(int(self.expires_at.timestamp()))),
        ]
        if self.device_id:
            fields.append(("device", self.device_id))
        return CODE_PREFIX + "&".join(f"{key}={quote(value, safe='')}" for key, value in fields)


def is_enrol_code(text: str) -> bool:
    """Whether `text` claims to be an enrolment code (it may still be a broken one)."""
    return text.startswith(CODE_PREFIX)


def parse_enrol_code(text: str) -> EnrolCode:
    """Parse a scanned or typed code; raises EnrolCodeError naming the first problem."""
    if not isinstance(text, str):
        raise EnrolCodeError("not text")
    text = text.strip()
    if len(text) > MAX_CODE_TEXT:
        raise EnrolCodeError(f"{len(text)} characters, more than an enrolment code holds")
    if not is_enrol_code(text):
        raise EnrolCodeError(f"it does not start with {CODE_PREFIX!r}")
    try:
        pairs = parse_qsl(
            text.removeprefix(CODE_PREFIX),
            keep_blank_values=True,
            strict_parsing=True,
            errors="strict",
            max_num_fields=len(_KEYS),
        )
    except (ValueError, UnicodeDecodeError):
        raise EnrolCodeError("its fields are not key=value pairs") from None
    fields: dict[str, str] = {}
    for key, value in pairs:
        if key not in _KEYS:
            raise EnrolCodeError(f"unknown field {key[:20]!r}")
        if key in fields:
            raise EnrolCodeError(f"field {key!r} given twice")
        fields[key] = value
    for key in ("hub", "store", "ca", "token", "exp"):
        if not fields.get(key):
            raise EnrolCodeError(f"field {key!r} is missing")
    return EnrolCode(
        hub_url=_hub_url(fields["hub"]),
        store_id=_topic_level("store", fields["store"]),
        ca_sha256=_matching("ca", fields["ca"], _SHA256_HEX, "64 lowercase hex digits"),
        token=_matching("token", fields["token"], _TOKEN, "22-128 URL-safe characters"),
        expires_at=_expiry(fields["exp"]),
        device_id=_topic_level("device", fields["device"]) if fields.get("device") else "",
    )


def _matching(key: str, value: str, pattern: re.Pattern[str], what: str) -> str:
    if not pattern.fullmatch(value):
        raise EnrolCodeError(f"field {key!r} must be {what}")
    return value


def _topic_level(key: str, value: str) -> str:
    return _matching(key, value, _TOPIC_LEVEL, "1-64 letters, digits, '.', '_' or '-'")


def _hub_url(value: str) -> str:
    try:
        parts = urlsplit(value)
        port = parts.port  # ValueError when out of range or not a number
    except ValueError:
        raise EnrolCodeError("field 'hub' is not a URL") from None
    if parts.scheme != "https":
        raise EnrolCodeError("field 'hub' must be an https:// address")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise EnrolCodeError("field 'hub' must be https://host[:port] only")
    if parts.path not in ("", "/"):
        raise EnrolCodeError("field 'hub' must be https://host[:port] only")
    if port == 0:  # urlsplit takes 0 for a port; nothing listens there
        raise EnrolCodeError("field 'hub' has a port out of 1-65535")
    host = parts.netloc.rsplit(":", 1)[0] if port is not None else parts.netloc
    if not _HOST.fullmatch(host):
        raise EnrolCodeError("field 'hub' has no valid host name")
    # The port as a number ("https://hub:08443" is the hub at 8443): one hub, one address.
    return f"https://{host}" + (f":{port}" if port is not None else "")


def _expiry(value: str) -> datetime:
    if not value.isascii() or not value.isdigit() or len(value) > 12:
        raise EnrolCodeError("field 'exp' must be a time in Unix seconds")
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (ValueError, OverflowError, OSError):  # past the year 9999
        raise EnrolCodeError("field 'exp' is not a time this kiosk can hold") from None
