"""Enrolment, the kiosk's side: trust the hub the code names, send a CSR, keep the answer.

A kiosk that was never set up trusts nobody yet, so the first request (`GET /v1/ca`)
is made without verifying the hub; what it returns is trusted only if its SHA-256
matches the code the installer scanned (compared in constant time). The enrolment
itself (`POST /v1/enrol`) then goes over a connection that trusts exactly that CA and
checks the hub's host name. Every answer is bounded in size and in time; the answer is
read strictly (edge.enrol.answer) and nothing is written before it is accepted.

    enrolment = enrol(parse_enrol_code(text), folder)
    install_enrolment(enrolment, folder, config_path)
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import socket
import ssl
import time
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from edge.enrol.answer import (
    BadAnswer,
    EnrolFailed,
    Enrolment,
    EnrolRefused,
    HubNotTrusted,
    HubUnreachable,
    parse_enrolment,
    parse_refusal,
)
from edge.enrol.code import EnrolCode
from edge.enrol.files import install_enrolment, pending_key

__all__ = [
    "EnrolFailed",
    "EnrolRefused",
    "Enrolment",
    "HubNotTrusted",
    "HubUnreachable",
    "enrol",
    "install_enrolment",
]

MAX_CA_BYTES = 64 * 1024  # one CA certificate in PEM
MAX_ANSWER_BYTES = 256 * 1024  # certificates, keys and a few names
_READ_CHUNK = 16 * 1024


def enrol(
    code: EnrolCode, folder: Path, *, device_id: str = "", timeout: float = 10.0
) -> Enrolment:
    """Ask the hub of `code` to enrol this kiosk; `device_id` is the id it proposes.

    Nothing is written but the pending key in `folder` (see edge.enrol.files).
    Raises EnrolRefused when the hub says no, HubNotTrusted when its CA is not the
    code's, HubUnreachable when it cannot be reached, BadAnswer for an answer the
    kiosk cannot use.
    """
    hub = _Hub(code.hub_url, timeout)
    ca = hub.certificate_authority(code.ca_sha256)
    key = pending_key(folder)
    # The kiosk proposes its own id (a re-enrolment keeps it), else the code's; the hub
    # refuses a code made for another device (device_mismatch).
    proposed = device_id or code.device_id
    expected = code.device_id or device_id
    request = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, proposed)] if proposed else [])
    )
    csr = request.sign(key, hashes.SHA256()).public_bytes(Encoding.PEM).decode("ascii")
    body = json.dumps({"token": code.token, "device_id": proposed, "csr": csr}).encode()
    status, answer = hub.post_enrol(ca, body)
    if status != http.client.OK:
        refusal = parse_refusal(status, answer)
        if refusal is not None:
            raise refusal
        if status >= http.client.INTERNAL_SERVER_ERROR:
            raise HubUnreachable(f"the hub at {code.hub_url} answered HTTP {status}")
        raise BadAnswer(f"the hub at {code.hub_url} answered HTTP {status} without a reason")
    return parse_enrolment(
        answer,
        public_key=key.public_key(),
        ca=ca,
        store_id=code.store_id,
        device_id=expected,
        hub_url=code.hub_url,
    )


class _Hub:
    """The hub's HTTPS endpoint, one bounded request at a time."""

    def __init__(self, url: str, timeout: float) -> None:
        parts = urlsplit(url)
        self.url = url
        self.host = parts.hostname or ""
        self.port = parts.port or 443
        self.timeout = timeout

    def certificate_authority(self, expected_sha256: str) -> x509.Certificate:
        """The hub's CA, if it is the one the code names."""
        blind = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        blind.minimum_version = ssl.TLSVersion.TLSv1_2
        blind.check_hostname = False  # nobody is trusted yet: the hash below decides
        blind.verify_mode = ssl.CERT_NONE
        status, body = self._request(blind, "GET", "/v1/ca", b"", MAX_CA_BYTES)
        if status != http.client.OK:
            raise BadAnswer(f"the hub at {self.url} answered HTTP {status} for its CA")
        try:
            certificates = x509.load_pem_x509_certificates(body)
        except ValueError:
            raise BadAnswer(f"the hub at {self.url} sent no PEM certificate as its CA") from None
        if len(certificates) != 1:
            raise BadAnswer(
                f"the hub at {self.url} sent {len(certificates)} certificates as its CA"
            )
        ca = certificates[0]
        seen = hashlib.sha256(ca.public_bytes(Encoding.DER)).hexdigest()
        if not hmac.compare_digest(seen, expected_sha256):
            raise HubNotTrusted(
                f"the hub's CA does not match the code: {self.url} shows a CA whose SHA-256"
                f" begins {seen[:12]}, the code names one that begins {expected_sha256[:12]}"
                " (a code for another hub, or someone between the kiosk and the hub)"
            )
        return ca

    def post_enrol(self, ca: x509.Certificate, body: bytes) -> tuple[int, bytes]:
        """POST /v1/enrol to the hub, trusting `ca` alone."""
        trusting = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # checks the host name
        trusting.minimum_version = ssl.TLSVersion.TLSv1_2
        trusting.load_verify_locations(cadata=ca.public_bytes(Encoding.DER))
        return self._request(trusting, "POST", "/v1/enrol", body, MAX_ANSWER_BYTES)

    def _request(
        self, context: ssl.SSLContext, method: str, path: str, body: bytes, limit: int
    ) -> tuple[int, bytes]:
        deadline = time.monotonic() + self.timeout
        connection = http.client.HTTPSConnection(
            self.host, self.port, timeout=self.timeout, context=context
        )
        headers = {"Accept": "application/json, application/x-pem-file"}
        if body:
            headers["Content-Type"] = "application/json"
        try:
            connection.request(method, path, body=body or None, headers=headers)
            with connection.getresponse() as response:
                return response.status, _read_bounded(connection, response, limit, deadline)
        except ssl.SSLCertVerificationError as error:
            raise HubUnreachable(
                f"the hub at {self.url} is not the one its CA certified ({error.verify_message})"
            ) from None
        except (OSError, http.client.HTTPException) as error:
            raise HubUnreachable(
                f"the hub at {self.url} cannot be reached ({_why(error)})"
            ) from None
        finally:
            connection.close()

    def __repr__(self) -> str:
        return f"_Hub({self.url!r})"


def _read_bounded(
    connection: http.client.HTTPSConnection,
    response: http.client.HTTPResponse,
    limit: int,
    deadline: float,
) -> bytes:
    """The answer's body, refused past `limit` bytes or `deadline` (a hub that drips
    a byte a second would otherwise hold the installer for ever)."""
    declared = response.getheader("Content-Length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BadAnswer(f"the answer is more than {limit} bytes ({declared})")
    chunks: list[bytes] = []
    size = 0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise HubUnreachable("the hub did not finish its answer in time")
        if connection.sock is not None:
            connection.sock.settimeout(remaining)
        chunk = response.read1(_READ_CHUNK)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise BadAnswer(f"the answer is more than {limit} bytes")
        chunks.append(chunk)


def _why(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return "no answer in time"
    if isinstance(error, socket.gaierror):
        return f"unknown host: {error.strerror}"
    if isinstance(error, ssl.SSLError):
        return f"TLS: {error.reason or error}"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.lower()
    return type(error).__name__
