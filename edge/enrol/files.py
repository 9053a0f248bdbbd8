"""The kiosk's enrolment on its disk: its private key, what the hub granted, its configuration.

The private key is born here and never leaves: `pending_key` makes it (EC P-256, mode
0600) before the certificate request is sent, and gives the same key back while the
enrolment is not installed, so a retry after a lost answer asks the hub for the same
certificate again. `install_enrolment` then writes, in one folder:

    device.key     the private key (0600)         device.pem   its certificate
    ca.pem         the hub's CA                   command.pub  the hub's command key
    pseudonym.key  the retailer's secret, hex (0600)

and points the configuration at them (absolute paths). Each file is replaced atomically;
the configuration is written last and only after a dry run of the same change has been
accepted, and the pending key is removed only once the configuration names its copy, so
an enrolment interrupted anywhere can be finished by running it again with the same code.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)
from cryptography.x509 import load_pem_x509_certificate

from edge.config import Config
from edge.config_write import update_config, write_private_file
from edge.enrol.answer import Enrolment, NotInstalled
from edge.errors import ConfigError

__all__ = ["EnrolmentFiles", "install_enrolment", "pending_key"]

log = logging.getLogger(__name__)

PUBLIC = 0o644  # certificates and public keys: any local user may read them
PRIVATE = 0o600


@dataclass(frozen=True)
class EnrolmentFiles:
    """Where a kiosk's enrolment lives in `folder`."""

    folder: Path

    @property
    def pending_key(self) -> Path:
        """The key made for an enrolment not yet installed."""
        return self.folder / "device.key.pending"

    @property
    def key(self) -> Path:
        """The installed private key."""
        return self.folder / "device.key"

    @property
    def certificate(self) -> Path:
        """The kiosk's certificate."""
        return self.folder / "device.pem"

    @property
    def ca(self) -> Path:
        """The hub's CA certificate."""
        return self.folder / "ca.pem"

    @property
    def pseudonym_key(self) -> Path:
        """The retailer's pseudonym secret (hex)."""
        return self.folder / "pseudonym.key"

    @property
    def command_key(self) -> Path:
        """The hub's command-verification public key (PEM)."""
        return self.folder / "command.pub"


def pending_key(folder: Path) -> ec.EllipticCurvePrivateKey:
    """The key of the enrolment under way in `folder`: the one already made, or a new one."""
    path = EnrolmentFiles(folder).pending_key
    try:
        key = load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        pass
    except OSError as error:
        raise NotInstalled(f"{path} cannot be read ({error.strerror})") from None
    except (ValueError, TypeError):
        log.warning("%s is not a private key: a new one replaces it", path)
    else:
        if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
            return key
        log.warning("%s is not an EC P-256 key: a new one replaces it", path)
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    _write(path, pem, PRIVATE)
    return key


def install_enrolment(enrolment: Enrolment, folder: Path, config_path: Path) -> Config:
    """Write `enrolment` into `folder` and the configuration at `config_path`; returns it.

    Raises NotInstalled when the key of the enrolment is not in `folder` or a file
    cannot be written, ConfigError when the configuration would not be valid (then
    nothing was changed).
    """
    files = EnrolmentFiles(folder.absolute())
    key_pem = _key_for(enrolment, files)
    contents = {
        files.certificate: (enrolment.certificate_pem.encode("ascii"), PUBLIC),
        files.ca: (enrolment.ca_pem.encode("ascii"), PUBLIC),
        files.command_key: (enrolment.command_key_pem.encode("ascii"), PUBLIC),
        files.pseudonym_key: ((enrolment.pseudonym_key + "\n").encode("ascii"), PRIVATE),
        files.key: (key_pem, PRIVATE),
    }
    _dry_run(enrolment, contents, config_path)
    for path, (data, mode) in contents.items():
        _write(path, data, mode)
    try:
        config = update_config(config_path, _changes(enrolment, files))
    except OSError as error:
        raise NotInstalled(f"{config_path} cannot be written ({error.strerror})") from None
    files.pending_key.unlink(missing_ok=True)
    return config


def _key_for(enrolment: Enrolment, files: EnrolmentFiles) -> bytes:
    """The private key (PEM) that the enrolment's certificate certifies."""
    wanted = load_pem_x509_certificate(enrolment.certificate_pem.encode("ascii")).public_key()
    spki = (Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    # The pending key, or the installed one when the same enrolment is installed again.
    for path in (files.pending_key, files.key):
        try:
            pem = path.read_bytes()
            key = load_pem_private_key(pem, password=None)
        except FileNotFoundError:
            continue
        except OSError as error:
            raise NotInstalled(f"{path} cannot be read ({error.strerror})") from None
        except (ValueError, TypeError):
            continue
        if key.public_key().public_bytes(*spki) == wanted.public_bytes(*spki):
            return pem
    raise NotInstalled(f"the private key of this enrolment is not in {files.folder}")


def _changes(enrolment: Enrolment, files: EnrolmentFiles) -> dict[str, dict[str, Any]]:
    return {
        "device": {
            "store_id": enrolment.store_id,
            "device_id": enrolment.device_id,
            "store_name": enrolment.store_name or None,
            "hub_url": enrolment.hub_url or None,
        },
        "mqtt": {
            "host": enrolment.broker_host,
            "port": enrolment.broker_port,
            "tls": True,
            "ca_file": str(files.ca),
            "cert_file": str(files.certificate),
            "key_file": str(files.key),
            # The certificate is the kiosk's identity now: a user name and password
            # written by hand before would be a second, stale one.
            "username": None,
            "password": None,
        },
        "privacy": {"pseudonym_key_file": str(files.pseudonym_key)},
        "commands": {"verify_key_file": str(files.command_key)},
        "kiosk": {"installer_pin_hash": enrolment.installer_pin_hash or None},
    }


def _dry_run(enrolment: Enrolment, contents: dict[Path, tuple[bytes, int]], config: Path) -> None:
    """Make the same change to a copy in a scratch folder: ConfigError before anything
    real is touched when the configuration would be refused (a key of the installer's
    own that the kiosk does not accept, say)."""
    with tempfile.TemporaryDirectory(prefix=".borne-enrol-") as scratch:
        copy = Path(scratch) / "config.toml"
        try:
            shutil.copyfile(config, copy)
        except FileNotFoundError:
            pass
        except OSError as error:
            raise ConfigError("config", f"{config} cannot be read ({error.strerror})") from None
        for path, (data, mode) in contents.items():
            # Secrets stay out of the scratch folder: only whether a file is there counts.
            _write(Path(scratch) / path.name, data if mode == PUBLIC else b"", mode)
        update_config(copy, _changes(enrolment, EnrolmentFiles(Path(scratch))))


def _write(path: Path, data: bytes, mode: int) -> None:
    try:
        write_private_file(path, data, mode=mode)
    except OSError as error:
        raise NotInstalled(f"{path} cannot be written ({error.strerror})") from None
