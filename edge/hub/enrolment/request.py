"""The body of `POST /v1/enrol`, parsed: outside input, refused with a clear typed error.

    {"token": "<the code's token>", "device_id": "<proposed id, or empty>",
     "csr": "-----BEGIN CERTIFICATE REQUEST-----..."}

The CSR must carry a valid self-signature (the kiosk proves it holds the private key)
over an EC P-256 or P-384 key. Keys the hub does not know are ignored, so a newer kiosk
may send more. Nothing here touches the hub's state: a refused body stores nothing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec

from edge.hub.enrolment.ca import public_key_sha256
from edge.hub.enrolment.errors import EnrolmentRefused

__all__ = ["MAX_BODY", "EnrolRequest", "parse_enrol_request"]

MAX_BODY = 64 * 1024
MAX_CSR = 16 * 1024  # an EC CSR is under 1 KiB; room for a few extensions
_TOKEN = re.compile(r"[A-Za-z0-9_-]{22,128}")  # as edge.enrol.code
_TOPIC_LEVEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # as edge.config's ids
_CURVES = (ec.SECP256R1, ec.SECP384R1)


@dataclass(frozen=True)
class EnrolRequest:
    """A well-formed enrolment request, its CSR checked."""

    token: str
    device_id: str  # empty: the code or the hub names the device
    public_key: ec.EllipticCurvePublicKey
    key_sha256: str  # the public key's fingerprint: a retry is recognised by it


def parse_enrol_request(body: bytes) -> EnrolRequest:
    """Parse the request body; raises EnrolmentRefused (bad_request, bad_csr)."""
    if len(body) > MAX_BODY:
        raise EnrolmentRefused("bad_request", f"the request is over {MAX_BODY} bytes")
    try:
        document = json.loads(body.decode("utf-8"), object_pairs_hook=_unique_keys)
    except UnicodeDecodeError:
        raise EnrolmentRefused("bad_request", "the request is not UTF-8 text") from None
    except (ValueError, RecursionError):
        raise EnrolmentRefused("bad_request", "the request is not a JSON document") from None
    if not isinstance(document, dict):
        raise EnrolmentRefused("bad_request", "the request is not a JSON object")
    token = _text(document, "token")
    if not _TOKEN.fullmatch(token):
        raise EnrolmentRefused("bad_request", "'token' is not an enrolment code's token")
    device_id = _text(document, "device_id", required=False)
    if device_id and not _TOPIC_LEVEL.fullmatch(device_id):
        raise EnrolmentRefused(
            "bad_request", "'device_id' must be 1-64 letters, digits, '.', '_' or '-'"
        )
    public_key = _csr_key(_text(document, "csr"))
    return EnrolRequest(token, device_id, public_key, public_key_sha256(public_key))


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            # Two parsers could read two different requests out of one body.
            raise EnrolmentRefused("bad_request", f"the key {key[:20]!r} is given twice")
        document[key] = value
    return document


def _text(document: dict[str, Any], key: str, *, required: bool = True) -> str:
    value = document.get(key, None if required else "")
    if value is None:
        raise EnrolmentRefused("bad_request", f"{key!r} is missing")
    if not isinstance(value, str):
        raise EnrolmentRefused("bad_request", f"{key!r} must be a string")
    return value


def _csr_key(pem: str) -> ec.EllipticCurvePublicKey:
    if len(pem) > MAX_CSR or not pem.isascii():
        raise EnrolmentRefused("bad_csr", "'csr' is not a PEM certificate signing request")
    try:
        csr = x509.load_pem_x509_csr(pem.encode("ascii"))
        key = csr.public_key()
        signed = csr.is_signature_valid
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise EnrolmentRefused(
            "bad_csr", "'csr' is not a PEM certificate signing request"
        ) from None
    if not signed:
        raise EnrolmentRefused("bad_csr", "the CSR's signature is not made by its key")
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, _CURVES):
        raise EnrolmentRefused("bad_csr", "the CSR's key must be EC P-256 or P-384")
    return key
