"""The enrolment authority of a hub, opened from its configuration."""

from __future__ import annotations

from pathlib import Path

from edge.errors import ConfigError
from edge.hub.config import HubConfig
from edge.hub.enrolment.broker_files import BrokerFiles
from edge.hub.enrolment.ca import Clock, HubCA, utc_now
from edge.hub.enrolment.enroller import Enroller, HubIdentity
from edge.hub.enrolment.registry import Registry
from edge.pseudonym import load_secret

__all__ = ["ca_folder", "open_broker_files", "open_enroller", "registry_path"]


def ca_folder(config: HubConfig) -> Path:
    """Where the hub's CA lives: `{[store] data_dir}/ca`."""
    return Path(config.store.data_dir) / "ca"


def registry_path(config: HubConfig) -> Path:
    """The enrolment records: `{[store] data_dir}/enrolment.sqlite`."""
    return Path(config.store.data_dir) / "enrolment.sqlite"


def open_broker_files(config: HubConfig, ca: HubCA) -> BrokerFiles | None:
    """The broker's files the hub keeps up to date (None: `[enrol] broker_dir` unset)."""
    if not config.enrol.broker_dir:
        return None
    return BrokerFiles(
        Path(config.enrol.broker_dir),
        ca,
        reload=config.enrol.broker_reload,
        crl_days=config.enrol.certificate_days,
    )


def open_enroller(config: HubConfig, *, clock: Clock = utc_now) -> Enroller:
    """The hub's enroller. Raises ConfigError when enrolment is off or cannot work
    (no pseudonym secret to hand the kiosks), HubCAError for a broken CA folder."""
    enrol = config.enrol
    if not enrol.enabled:
        raise ConfigError("enrol.public_url", "is empty: enrolment is off on this hub")
    if not config.privacy.pseudonym_key_file:
        raise ConfigError(
            "privacy.pseudonym_key_file",
            "is required to enrol kiosks: they receive the retailer's pseudonym secret",
        )
    secret = load_secret(config.privacy.pseudonym_key_file)
    ca = HubCA.open(ca_folder(config), clock=clock)
    identity = HubIdentity(
        public_url=enrol.public_url,
        broker_host=enrol.broker_host,
        broker_port=enrol.broker_port,
        pseudonym_key_hex=secret.hex(),
        installer_pin_hash=enrol.installer_pin_hash,
        store_names=tuple(enrol.store_names.items()),
        certificate_days=enrol.certificate_days,
        code_minutes=enrol.code_minutes,
        hub_client_id=config.mqtt.effective_client_id,
    )
    return Enroller(
        ca, Registry(registry_path(config)), identity, open_broker_files(config, ca), clock=clock
    )
