"""A small enrolment hub for the kiosk's enrolment tests, on loopback HTTPS.

It follows the wire format of issue 12's contract (GET /v1/ca, POST /v1/enrol, the
error codes) with a CA made by `cryptography`, so the kiosk's client is tested against
real TLS, real certificates and real refusals. It also misbehaves on request, the
ways a real network does: an answer lost after the enrolment was recorded, an answer
that never ends, a certificate for someone else.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from edge.enrol.code import EnrolCode
from edge.lockdown import hash_pin

INSTALLER_PIN = "7391"
STATUS = {
    "unknown_code": 403,
    "expired_code": 403,
    "used_code": 409,
    "device_mismatch": 403,
    "bad_request": 400,
    "bad_csr": 400,
    "not_enrolling": 503,
}


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class Authority:
    """A CA: its key and self-signed certificate."""

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    @classmethod
    def create(cls, name: str = "Borne test hub CA") -> Authority:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now() - dt.timedelta(minutes=5))
            .not_valid_after(now() + dt.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(key, hashes.SHA256())
        )
        return cls(key, certificate)

    @property
    def pem(self) -> bytes:
        return self.certificate.public_bytes(Encoding.PEM)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.certificate.public_bytes(Encoding.DER)).hexdigest()

    def sign(
        self,
        public_key: ec.EllipticCurvePublicKey,
        common_name: str,
        *,
        server_ip: str = "",
    ) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self.certificate.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now() - dt.timedelta(minutes=5))
            .not_valid_after(now() + dt.timedelta(days=397))
        )
        if server_ip:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ip_address(server_ip))]),
                critical=False,
            )
        else:
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
            )
        return builder.sign(self.key, hashes.SHA256())


@dataclass
class IssuedCode:
    store: str
    device: str
    expires_at: dt.datetime
    used_by: tuple[str, bytes] | None = None  # device, public key
    used_at: dt.datetime | None = None
    certificate: x509.Certificate | None = None


@dataclass
class Answer:
    """What the hub sends back, before any misbehaviour."""

    status: int
    document: dict[str, Any]


@dataclass
class EnrolHub:
    """The hub's enrolment endpoint; `start()` it inside `running()`."""

    folder: Path
    authority: Authority = field(default_factory=Authority.create)
    server_ip: str = "127.0.0.1"  # where it listens
    certificate_ip: str = ""  # what its certificate names (default: server_ip)
    broker: tuple[str, int] = ("127.0.0.1", 8883)
    pseudonym_key: str = field(default_factory=lambda: secrets.token_hex(32))
    command_key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    installer_pin_hash: str = field(default_factory=lambda: hash_pin(INSTALLER_PIN))
    enrolling: bool = True
    codes: dict[str, IssuedCode] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)  # "GET /v1/ca", ...
    # Misbehaviours, each used once then cleared.
    lose_next_answer: bool = False
    tamper: Callable[[Answer], Answer | bytes] | None = None
    stall_answer: threading.Event | None = None
    issued: list[x509.Certificate] = field(default_factory=list)
    port: int = 0
    _named: int = 0

    def issue(self, store: str, device: str = "", minutes: float = 10) -> EnrolCode:
        token = secrets.token_urlsafe(24)
        expires_at = (now() + dt.timedelta(minutes=minutes)).replace(microsecond=0)
        self.codes[hashlib.sha256(token.encode()).hexdigest()] = IssuedCode(
            store, device, expires_at
        )
        return EnrolCode(
            hub_url=f"https://{self.server_ip}:{self.port}",
            store_id=store,
            ca_sha256=self.authority.sha256,
            token=token,
            expires_at=expires_at,
            device_id=device,
        )

    def enrol(self, request: Any) -> Answer:
        """The contract's rules for POST /v1/enrol."""
        if not self.enrolling:
            return refusal("not_enrolling", "enrolment is off at this hub")
        if not isinstance(request, dict) or not all(
            isinstance(request.get(key), str) for key in ("token", "device_id", "csr")
        ):
            return refusal("bad_request", "token, device_id and csr are required")
        record = self.codes.get(hashlib.sha256(request["token"].encode()).hexdigest())
        if record is None:
            return refusal("unknown_code", "this code was not issued by this hub")
        try:
            csr = x509.load_pem_x509_csr(request["csr"].encode())
        except ValueError:
            return refusal("bad_csr", "the CSR cannot be read")
        key = csr.public_key()
        assert isinstance(key, ec.EllipticCurvePublicKey)
        fingerprint = key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        device = record.device or request["device_id"]
        if record.device and request["device_id"] not in ("", record.device):
            return refusal("device_mismatch", f"this code is for {record.device}")
        if record.used_by is not None:
            if record.used_by[1] != fingerprint or record.certificate is None:
                used_at = record.used_at or now()
                return refusal(
                    "used_code",
                    f"this code was already used by {record.used_by[0]} at {used_at:%H:%M}",
                )
        elif now() > record.expires_at:
            return refusal("expired_code", f"this code expired at {record.expires_at:%H:%M}")
        else:
            if not device:
                self._named += 1
                device = f"{record.store}-k{self._named:02d}"
            record.used_by = (device, fingerprint)
            record.used_at = now()
            record.certificate = self.authority.sign(key, device)
            self.issued.append(record.certificate)
        certificate = record.certificate
        assert certificate is not None
        assert record.used_by is not None
        return Answer(
            200,
            {
                "device_id": record.used_by[0],
                "store_id": record.store,
                "store_name": f"Store {record.store}",
                "certificate": certificate.public_bytes(Encoding.PEM).decode(),
                "ca": self.authority.pem.decode(),
                "broker": {"host": self.broker[0], "port": self.broker[1]},
                "pseudonym_key": self.pseudonym_key,
                "command_key": self.command_key.public_key()
                .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
                .decode(),
                "installer_pin_hash": self.installer_pin_hash,
            },
        )

    @contextmanager
    def running(self) -> Iterator[EnrolHub]:
        """Serve on loopback until the block ends."""
        server_key = ec.generate_private_key(ec.SECP256R1())
        server_certificate = self.authority.sign(
            server_key.public_key(), "hub", server_ip=self.certificate_ip or self.server_ip
        )
        (self.folder / "server.pem").write_bytes(server_certificate.public_bytes(Encoding.PEM))
        (self.folder / "server.key").write_bytes(
            server_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.folder / "server.pem", self.folder / "server.key")
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet tests
                pass

            def do_GET(self) -> None:
                hub.requests.append(f"GET {self.path}")
                if self.path != "/v1/ca":
                    self.send_error(404)
                    return
                self._send(200, "application/x-pem-file", hub.authority.pem)

            def do_POST(self) -> None:
                hub.requests.append(f"POST {self.path}")
                length = int(self.headers.get("Content-Length", "0"))
                if self.path != "/v1/enrol" or length > 64 * 1024:
                    self.send_error(404 if self.path != "/v1/enrol" else 413)
                    return
                try:
                    request = json.loads(self.rfile.read(length))
                except ValueError:
                    request = None
                answer = hub.enrol(request)
                if hub.lose_next_answer:  # recorded at the hub, never heard by the kiosk
                    hub.lose_next_answer = False
                    self.close_connection = True
                    return
                if hub.stall_answer is not None:
                    self.send_response(200)
                    self.send_header("Content-Length", "100000")
                    self.end_headers()
                    self.wfile.write(b"{")
                    self.wfile.flush()
                    hub.stall_answer.wait(30)
                    self.close_connection = True
                    return
                sent = answer if hub.tamper is None else hub.tamper(answer)
                hub.tamper = None
                if isinstance(sent, bytes):
                    self._send(200, "application/json", sent)
                else:
                    self._send(sent.status, "application/json", json.dumps(sent.document).encode())

            def _send(self, status: int, kind: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        server = ThreadingHTTPServer((self.server_ip, self.port), Handler)
        server.daemon_threads = True
        server.socket = context.wrap_socket(server.socket, server_side=True)
        self.port = server.server_address[1]
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            if self.stall_answer is not None:
                self.stall_answer.set()
            server.shutdown()
            server.server_close()
            thread.join(10)


def refusal(code: str, message: str) -> Answer:
    return Answer(STATUS[code], {"error": code, "message": message})
