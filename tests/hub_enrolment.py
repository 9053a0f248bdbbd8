"""A hub's enrolment authority on loopback, and a kiosk's side made by hand (tests).

The kiosk's key and CSR are made here with `cryptography`, as any client would, so the
hub's endpoint is tested over real HTTPS without depending on the kiosk's client.
"""

from __future__ import annotations

import http.client
import json
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from edge.hub.enrolment.broker_files import BrokerFiles
from edge.hub.enrolment.broker_upkeep import UPKEEP_EVERY
from edge.hub.enrolment.ca import HubCA
from edge.hub.enrolment.enroller import Enroller, HubIdentity
from edge.hub.enrolment.registry import Registry
from edge.hub.enrolment.server import (
    CONNECTION_DEADLINE,
    MAX_CONNECTIONS,
    EnrolmentServer,
    server_tls_context,
)

PSEUDONYM_KEY = "5e" * 32


@dataclass
class Clock:
    """A clock the test moves by hand."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Kiosk:
    """A kiosk's private key, and its CSRs."""

    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )

    def csr(self, common_name: str = "kiosk") -> str:
        request = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .sign(self.key, hashes.SHA256())
        )
        return request.public_bytes(serialization.Encoding.PEM).decode()

    def write(self, folder: Path, certificate_pem: str) -> tuple[Path, Path]:
        """The key and certificate as files, for an MQTT client."""
        folder.mkdir(parents=True, exist_ok=True)
        key = folder / "device.key"
        key.write_bytes(
            self.key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        certificate = folder / "device.pem"
        certificate.write_text(certificate_pem)
        return certificate, key


@dataclass
class Hub:
    """An enroller and its HTTPS endpoint on 127.0.0.1."""

    enroller: Enroller
    server: EnrolmentServer
    clock: Clock
    folder: Path

    @property
    def ca(self) -> HubCA:
        return self.enroller.ca

    def trust(self) -> ssl.SSLContext:
        return ssl.create_default_context(cadata=self.ca.certificate_pem.decode())

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        connection = http.client.HTTPSConnection(
            "127.0.0.1", self.server.port, context=self.trust(), timeout=10
        )
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def enrol(self, token: str, kiosk: Kiosk, device_id: str = "") -> tuple[int, dict[str, Any]]:
        body = json.dumps({"token": token, "device_id": device_id, "csr": kiosk.csr()})
        status, answer = self.request("POST", "/v1/enrol", body.encode())
        document: dict[str, Any] = json.loads(answer)
        return status, document


@contextmanager
def running_hub(
    folder: Path,
    *,
    broker_dir: Path | None = None,
    broker_reload: tuple[str, ...] = (),
    clock: Clock | None = None,
    hub_client_id: str = "",
    max_connections: int = MAX_CONNECTIONS,
    deadline: float = CONNECTION_DEADLINE,
    upkeep_every: float = UPKEEP_EVERY,
) -> Iterator[Hub]:
    """A hub's enrolment endpoint on a free loopback port, stopped afterwards."""
    clock = clock or Clock()
    ca = HubCA.open(folder / "ca", clock=clock)
    identity = HubIdentity(
        public_url="https://127.0.0.1:8443",
        broker_host="127.0.0.1",
        broker_port=8883,
        pseudonym_key_hex=PSEUDONYM_KEY,
        store_names=(("paris-01", "Paris Rivoli"),),
        hub_client_id=hub_client_id,
    )
    broker = (
        BrokerFiles(broker_dir, ca, broker_reload, clock=clock) if broker_dir is not None else None
    )
    enroller = Enroller(ca, Registry(folder / "enrolment.sqlite"), identity, broker, clock=clock)
    context = server_tls_context(enroller, "127.0.0.1", folder / "ca", days=2)
    server = EnrolmentServer(
        enroller,
        "127.0.0.1",
        0,
        context,
        max_connections=max_connections,
        deadline=deadline,
        upkeep_every=upkeep_every,
    )
    server.start()
    try:
        yield Hub(enroller, server, clock, folder)
    finally:
        server.close()
