"""The kiosk's configuration: one TOML file, every key optional, environment overrides.

Environment variables override the file as `BORNE_<SECTION>__<KEY>`, for example
`BORNE_MQTT__HOST=broker.example` or `BORNE_DEVICE__STORE_ID=lyon-02`.
A broken file is refused whole, with one message naming the key and the problem.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

from edge.errors import ConfigError
from edge.lockdown import check_pin_hash

_TOPIC_LEVEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True, slots=True)
class DeviceConfig:
    """Who this kiosk is: its store and its own id (the TLS certificate's CN)."""

    store_id: str = "demo-store"
    device_id: str = "kiosk-01"


@dataclass(frozen=True, slots=True)
class MqttConfig:
    """The retailer's broker. No host: events wait in the outbox."""

    host: str = ""
    port: int = 1883
    keepalive: int = 30
    username: str = ""
    password: str = ""
    tls: bool = False
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    inflight: int = 20
    reconnect_min: float = 0.5
    reconnect_max: float = 60.0


@dataclass(frozen=True, slots=True)
class StorageConfig:
    """Where the outbox and the catalog cache live, and how hard commits are."""

    data_dir: str = "/var/lib/borne"
    outbox_max_bytes: int = 64 * 1024 * 1024
    # "full": an accepted event survives a power cut. "normal": it survives a crash
    # of the process (kill -9) but the last commits may roll back on power loss.
    synchronous: str = "full"


@dataclass(frozen=True, slots=True)
class PrivacyConfig:
    """The per-retailer secret behind loyalty pseudonyms (hex in a file, from provisioning)."""

    pseudonym_key_file: str = ""


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """Shopper sessions."""

    idle_timeout: float = 60.0  # quiet seconds before "are you still there?"
    idle_countdown: float = 20.0  # seconds the warning counts down before the wipe


@dataclass(frozen=True, slots=True)
class DevicesConfig:
    """Which backend each device uses: "simulated", or the real device's address."""

    camera: str = "simulated"
    nfc: str = "simulated"
    ble: str = ""  # "bleak" for the adapter, "simulated" for replayed shopper visits
    # A wedge scanner: its /dev/input path, "name:PART OF ITS NAME", or "simulated".
    hid: str = ""
    hid_layout: str = "us"  # the layout the scanner was programmed for: "us" or "fr"


@dataclass(frozen=True, slots=True)
class PresenceConfig:
    """Shoppers near the kiosk, from the store app's iBeacon."""

    store_app_uuid: str = "b0a1e5e0-57a0-4b2e-9d1f-2c0b0e000001"
    passive_scan: bool = True


@dataclass(frozen=True, slots=True)
class CatalogConfig:
    """The product data the catalog cache is loaded from until the platform sends its own."""

    source: str = ""


@dataclass(frozen=True, slots=True)
class KioskConfig:
    """The kiosk's lock."""

    # Hash of the staff PIN that closes the fullscreen kiosk (`borne pin-hash`); empty:
    # the kiosk cannot be closed from its screen.
    exit_pin_hash: str = ""


@dataclass(frozen=True, slots=True)
class Config:
    """The whole configuration."""

    device: DeviceConfig = field(default_factory=DeviceConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    session: SessionConfig = field(default_factory=SessionConfig)
    devices: DevicesConfig = field(default_factory=DevicesConfig)
    catalog: CatalogConfig = field(default_factory=CatalogConfig)
    presence: PresenceConfig = field(default_factory=PresenceConfig)
    kiosk: KioskConfig = field(default_factory=KioskConfig)

    @property
    def data_dir(self) -> Path:
        """The storage folder as a path."""
        return Path(self.storage.data_dir)


def load_config(path: str | Path | None, environ: Mapping[str, str] | None = None) -> Config:
    """Read `path` (None: defaults only), apply environment overrides, validate."""
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            with open(path, "rb") as file:
                raw = tomllib.load(file)
        except OSError as error:
            raise ConfigError(str(path), f"cannot be read ({error.strerror})") from None
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(str(path), f"is not valid TOML ({error})") from None
        except UnicodeDecodeError:
            raise ConfigError(str(path), "is not UTF-8 text") from None
    config = _build(Config, raw, prefix="")
    config = _apply_environment(config, os.environ if environ is None else environ)
    _validate(config)
    return config


def _build(cls: type[Any], raw: Any, prefix: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(prefix.rstrip(".") or "file", "expected a table")
    hints = get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in known:
            raise ConfigError(f"{prefix}{key}", f"unknown key (known: {', '.join(sorted(known))})")
    values = {}
    for name in known & raw.keys():
        kind = hints[name]
        if isinstance(kind, type) and dataclasses.is_dataclass(kind):
            values[name] = _build(kind, raw[name], f"{prefix}{name}.")
        else:
            values[name] = _check_type(f"{prefix}{name}", raw[name], kind)
    return cls(**values)


def _check_type(where: str, value: Any, kind: type[Any]) -> Any:
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}
    raise ConfigError(where, f"expected {names[kind]}, got {type(value).__name__} {value!r}")


def _apply_environment(config: Config, environ: Mapping[str, str]) -> Config:
    sections = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    for variable, text in environ.items():
        if not variable.startswith("BORNE_") or "__" not in variable:
            continue
        section_name, _, key = variable.removeprefix("BORNE_").lower().partition("__")
        section = sections.get(section_name)
        if section is None or key not in {f.name for f in dataclasses.fields(section)}:
            raise ConfigError(variable, "does not name a configuration key")
        kind = get_type_hints(type(section))[key]
        sections[section_name] = dataclasses.replace(
            section, **{key: _parse_text(variable, text, kind)}
        )
    return Config(**sections)


def _parse_text(where: str, text: str, kind: type[Any]) -> Any:
    try:
        if kind is bool:
            if text.lower() not in {"1", "0", "true", "false", "yes", "no"}:
                raise ValueError(text)
            return text.lower() in {"1", "true", "yes"}
        return kind(text)
    except ValueError:
        raise ConfigError(where, f"expected {kind.__name__}, got {text!r}") from None


def _validate(config: Config) -> None:
    for key in ("store_id", "device_id"):
        if not _TOPIC_LEVEL.match(getattr(config.device, key)):
            raise ConfigError(
                f"device.{key}",
                "must be 1-64 letters, digits, '.', '_' or '-' (it is one MQTT topic level)",
            )
    if not 1 <= config.mqtt.port <= 65535:
        raise ConfigError("mqtt.port", "must be between 1 and 65535")
    if not 1 <= config.mqtt.inflight <= 1000:
        raise ConfigError("mqtt.inflight", "must be between 1 and 1000")
    if config.mqtt.keepalive < 5:
        raise ConfigError("mqtt.keepalive", "must be at least 5 seconds")
    if not 0 < config.mqtt.reconnect_min <= config.mqtt.reconnect_max:
        raise ConfigError("mqtt.reconnect_min", "must be > 0 and <= mqtt.reconnect_max")
    if config.storage.synchronous not in ("full", "normal"):
        raise ConfigError("storage.synchronous", 'must be "full" or "normal"')
    if config.storage.outbox_max_bytes < 1024 * 1024:
        raise ConfigError("storage.outbox_max_bytes", "must be at least 1 MiB")
    if not config.storage.data_dir:
        raise ConfigError("storage.data_dir", "must not be empty")
    try:
        uuid.UUID(config.presence.store_app_uuid)
    except ValueError:
        raise ConfigError("presence.store_app_uuid", "must be a UUID") from None
    if config.devices.hid_layout not in ("us", "fr"):
        raise ConfigError("devices.hid_layout", 'must be "us" or "fr"')
    if config.devices.ble not in ("", "bleak", "simulated"):
        raise ConfigError("devices.ble", 'must be "bleak", "simulated" or empty')
    if config.session.idle_countdown < 20:
        raise ConfigError("session.idle_countdown", "must give the shopper at least 20 seconds")
    check_pin_hash(config.kiosk.exit_pin_hash, "kiosk.exit_pin_hash")
    if config.session.idle_timeout <= 0:
        raise ConfigError("session.idle_timeout", "must be a positive number of seconds")
