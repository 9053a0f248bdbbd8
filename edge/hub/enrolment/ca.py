"""The hub's certificate authority: it signs the kiosks' certificates and the broker's.

The folder (`{[store] data_dir}/ca/`) holds `ca.key` (EC P-256, mode 0600), `ca.pem`
(self-signed, 20 years) and `command.key` (Ed25519, 0600: the key that signs remote
commands, whose public half kiosks receive at enrolment). They are made on first use,
under a lock so two hub processes starting together never make two CAs. The CA's
identity for kiosks is the SHA-256 of `ca.pem`'s DER bytes, printed in enrolment codes.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import ipaddress
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from edge.config_write import write_private_file
from edge.hub.enrolment.errors import HubCAError

__all__ = ["Clock", "HubCA", "IssuedPair", "public_key_sha256", "utc_now"]

Clock = Callable[[], datetime]  # the time now, in UTC; tests pass their own
CA_YEARS = 20
CA_NAME = "Borne hub CA"
# Certificates are dated a little in the past: a kiosk or broker whose clock is a few
# minutes behind the hub's must not see them as not yet valid.
BACKDATE = timedelta(minutes=10)


def utc_now() -> datetime:
    """The real clock."""
    return datetime.now(UTC)


def public_key_sha256(key: CertificatePublicKeyTypes) -> str:
    """Hex SHA-256 of a public key's SubjectPublicKeyInfo DER: the key's fingerprint."""
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


@dataclass(frozen=True)
class IssuedPair:
    """A fresh private key and its certificate, both PEM."""

    key_pem: bytes
    certificate_pem: bytes
    certificate: x509.Certificate


class HubCA:
    """The hub's CA, opened from its folder. Build with `HubCA.open`."""

    def __init__(
        self,
        folder: Path,
        key: ec.EllipticCurvePrivateKey,
        certificate: x509.Certificate,
        command_key: ed25519.Ed25519PrivateKey,
        clock: Clock,
    ) -> None:
        self.folder = folder
        self._key = key
        self.certificate = certificate
        self._command_key = command_key
        self._clock = clock

    @classmethod
    def open(cls, folder: Path, *, clock: Clock = utc_now) -> HubCA:
        """Open the CA in `folder`, creating its keys and certificate on first use."""
        folder.mkdir(mode=0o750, parents=True, exist_ok=True)
        with _folder_lock(folder):
            if not (folder / "ca.key").exists():
                _create_ca(folder, clock())
            if not (folder / "command.key").exists():
                command = ed25519.Ed25519PrivateKey.generate()
                write_private_file(folder / "command.key", _private_pem(command))
            key = _load_private(folder / "ca.key")
            command_key = _load_private(folder / "command.key")
            try:
                certificate = x509.load_pem_x509_certificate((folder / "ca.pem").read_bytes())
            except (OSError, ValueError) as error:
                raise HubCAError(f"{folder / 'ca.pem'} cannot be read: {error}") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise HubCAError(f"{folder / 'ca.key'} is not an EC private key")
        if not isinstance(command_key, ed25519.Ed25519PrivateKey):
            raise HubCAError(f"{folder / 'command.key'} is not an Ed25519 private key")
        if public_key_sha256(key.public_key()) != public_key_sha256(certificate.public_key()):
            raise HubCAError(f"{folder / 'ca.key'} is not the key of {folder / 'ca.pem'}")
        return cls(folder, key, certificate, command_key, clock)

    @property
    def certificate_pem(self) -> bytes:
        """The CA certificate, PEM (what kiosks and the broker trust)."""
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the CA certificate's DER bytes (the enrolment code's `ca`)."""
        return hashlib.sha256(self.certificate.public_bytes(serialization.Encoding.DER)).hexdigest()

    def command_signing_key(self) -> ed25519.Ed25519PrivateKey:
        """The Ed25519 key that signs remote commands."""
        return self._command_key

    def command_public_pem(self) -> bytes:
        """The public half of the command-signing key, PEM (handed to kiosks)."""
        return self._command_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign_device(
        self, public_key: ec.EllipticCurvePublicKey, device_id: str, *, days: int
    ) -> x509.Certificate:
        """A kiosk's client certificate: CN = its device id (the broker's username)."""
        return self._sign(public_key, device_id, days=days, client=True)

    def issue(
        self, common_name: str, *, days: int, hosts: Iterable[str] = (), client: bool = False
    ) -> IssuedPair:
        """A new key and its certificate: a server's for `hosts` (its SAN), or a client's."""
        key = ec.generate_private_key(ec.SECP256R1())
        certificate = self._sign(
            key.public_key(), common_name, days=days, client=client, hosts=tuple(hosts)
        )
        return IssuedPair(
            _private_pem(key), certificate.public_bytes(serialization.Encoding.PEM), certificate
        )

    def crl_pem(self, revoked: Iterable[tuple[int, datetime]], *, days: int) -> bytes:
        """The certificate revocation list of `revoked` (serial, when), valid `days`.

        An expired CRL makes OpenSSL refuse every client, so it is written again at each
        enrolment and revocation, and dated to last as long as a certificate.
        """
        now = self._clock()
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.certificate.subject)
            .last_update(now - BACKDATE)
            .next_update(now + timedelta(days=days))
        )
        for serial, when in revoked:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build()
            )
        return builder.sign(self._key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)

    def _sign(
        self,
        public_key: ec.EllipticCurvePublicKey,
        common_name: str,
        *,
        days: int,
        client: bool,
        hosts: tuple[str, ...] = (),
    ) -> x509.Certificate:
        now = self._clock()
        usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self.certificate.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                critical=False,
            )
        )
        if hosts:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([_general_name(host) for host in hosts]),
                critical=False,
            )
        return builder.sign(self._key, hashes.SHA256())


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return x509.DNSName(host)


def _create_ca(folder: Path, now: datetime) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME)])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + timedelta(days=365 * CA_YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    # The key first: a folder with a certificate but no key cannot sign anything.
    write_private_file(folder / "ca.key", _private_pem(key))
    write_private_file(
        folder / "ca.pem", certificate.public_bytes(serialization.Encoding.PEM), mode=0o644
    )


def _private_pem(key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _load_private(path: Path) -> object:
    try:
        return serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as error:
        raise HubCAError(f"{path} cannot be read ({error.strerror})") from None
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise HubCAError(f"{path} is not an unencrypted PEM private key") from None


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    with (folder / ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
