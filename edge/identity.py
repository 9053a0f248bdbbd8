"""Who this kiosk is on the broker: its configured device id, and its certificate's.

With mutual TLS the broker knows a kiosk by its certificate's common name (mosquitto's
`use_identity_as_username`), and its ACL lets it write only under that id: a device id
configured otherwise has every event refused. There is no default id (two kiosks left
on one would take the broker session from each other): a kiosk without one is told
which its certificate names; one whose id differs from it says so at start.
"""

from __future__ import annotations

import logging
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

from edge.config import Config
from edge.errors import ConfigError

log = logging.getLogger(__name__)


def certificate_name(cert_file: Path) -> str | None:
    """The common name of the certificate in `cert_file` (PEM); None without one."""
    try:
        certificate = x509.load_pem_x509_certificate(cert_file.read_bytes())
    except OSError as error:
        raise ConfigError("mqtt.cert_file", f"{cert_file} cannot be read: {error}") from error
    except ValueError as error:
        raise ConfigError("mqtt.cert_file", f"{cert_file} is not a PEM certificate") from error
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else None


def check_identity(config: Config) -> None:
    """The device id is configured (ConfigError); say if it is not the one the kiosk's
    certificate names."""
    named = certificate_name(Path(config.mqtt.cert_file)) if config.mqtt.cert_file else None
    device_id = config.device.device_id
    if not device_id:
        hint = f" (its certificate names {named!r})" if named else ""
        raise ConfigError(
            "device.device_id", f"is required: who this kiosk is, on the broker{hint}"
        )
    if named is not None and named != device_id:
        # Said, not refused: the kiosk still serves its shoppers, its events wait in the
        # outbox (refused by the broker, never deleted) until the id is put right.
        log.error(
            "[device] device_id is %r but the certificate %s names %r: the broker refuses "
            "every event under another id; they wait in the outbox until it is put right",
            device_id,
            config.mqtt.cert_file,
            named,
        )
