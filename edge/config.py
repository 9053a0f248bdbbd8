"""The kiosk's configuration: one TOML file, every key optional, environment overrides.

Environment variables override the file key by key as `BORNE_<SECTION>__<KEY>`, for
example `BORNE_MQTT__HOST=broker.example` or `BORNE_PRIVACY__LOYALTY_PREFIXES=925,926`
(a list is written comma-separated). The schema below is checked by pydantic: types,
ranges, and the keys that only make sense together. A broken configuration is refused
whole, with one `ConfigError` naming the key (or the environment variable) and the
problem; `check_data_dir` tells whether the storage folder is usable.
"""

from __future__ import annotations

import os
import re
import stat
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from edge.config_sources import (
    EnvironmentSource,
    FileSource,
    KeyProblem,
    ReadBySources,
    describe,
    read_toml,
)
from edge.errors import ConfigError
from edge.lockdown import check_pin_hash

__all__ = [
    "CatalogConfig",
    "CommandsConfig",
    "Config",
    "DeviceConfig",
    "DevicesConfig",
    "KioskConfig",
    "MqttConfig",
    "PresenceConfig",
    "PrivacyConfig",
    "SessionConfig",
    "StaffConfig",
    "StorageConfig",
    "check_data_dir",
    "load_config",
]

_TOPIC_LEVEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_LOYALTY_PREFIX = re.compile(r"[0-9]{1,14}")
MIB = 1024 * 1024


def _topic_level(value: str) -> str:
    if value and not _TOPIC_LEVEL.fullmatch(value):  # empty: not set (see DeviceConfig)
        raise ValueError(
            "must be 1-64 letters, digits, '.', '_' or '-' (it is one MQTT topic level)"
        )
    return value


def _canonical_uuid(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ValueError("must be a UUID") from None


def _loyalty_prefix(value: str) -> str:
    if not _LOYALTY_PREFIX.fullmatch(value):
        raise ValueError(f"{value[:20]!r} is not 1 to 14 digits")
    return value


def _folder_name(value: str) -> str:
    if not value:
        raise ValueError("must not be empty")
    if "\0" in value:
        raise ValueError("is not a folder name (it holds a NUL character)")
    return value


def _pin_hash(value: str) -> str:
    try:
        check_pin_hash(value, "")
    except ConfigError as error:
        raise ValueError(error.problem) from None
    return value


# Types that carry their own rule, so that each key's line says what it accepts.
TopicLevel = Annotated[str, AfterValidator(_topic_level)]
Port = Annotated[int, Field(ge=1, le=65535)]
# Finite and positive: NaN and infinity are valid TOML floats, never valid delays.
Seconds = Annotated[float, Field(gt=0, le=86_400, allow_inf_nan=False)]
Backoff = Annotated[float, Field(gt=0, le=3600, allow_inf_nan=False)]  # between reconnections
LoyaltyPrefix = Annotated[str, AfterValidator(_loyalty_prefix)]


class _Section(BaseModel):
    """A table of the file: frozen, unknown keys refused, no silent type coercion."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class DeviceConfig(_Section):
    """Who this kiosk is: its store, its own id (the TLS certificate's CN), its store's name."""

    # Empty until provisioned: the commands a store runs refuse to start without them
    # (edge.bootstrap.check_ready); the demo names its own.
    store_id: TopicLevel = ""
    device_id: TopicLevel = ""
    store_name: str = ""  # shown on screen; empty: the kiosk shows none
    # The hub that enrolled this kiosk (https://host:port, from enrolment): `borne doctor`
    # checks the clock against it. Empty: a kiosk provisioned by hand.
    hub_url: str = ""


class MqttConfig(_Section):
    """The retailer's broker. No host: events wait in the outbox."""

    host: str = ""
    port: Port = 1883
    keepalive: Annotated[int, Field(ge=5, le=65535)] = 30  # MQTT's field is 16 bits
    username: str = ""
    password: str = ""
    tls: bool = False
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    inflight: Annotated[int, Field(ge=1, le=1000)] = 20
    reconnect_min: Backoff = 0.5
    reconnect_max: Backoff = 10.0  # what a kiosk waits at most once the broker is back

    @model_validator(mode="after")
    def _keys_agree(self) -> MqttConfig:
        if self.reconnect_min > self.reconnect_max:
            raise KeyProblem("reconnect_min", "must be at most mqtt.reconnect_max")
        if self.password and not self.tls:
            raise KeyProblem("password", "would cross the network in clear: set mqtt.tls = true")
        if self.cert_file and not self.key_file:
            raise KeyProblem("key_file", "must name the private key of mqtt.cert_file")
        if self.key_file and not self.cert_file:
            raise KeyProblem("cert_file", "must name the certificate of mqtt.key_file")
        files = {"ca_file": self.ca_file, "cert_file": self.cert_file, "key_file": self.key_file}
        named = [key for key, path in files.items() if path]
        if named and not self.tls:
            raise KeyProblem(
                "tls", f"must be true when mqtt.{named[0]} is set (it would be unused)"
            )
        for key in named:
            problem = _unreadable_file(files[key])
            if problem:
                raise KeyProblem(key, problem)
        return self


class StorageConfig(_Section):
    """Where the outbox and the catalog cache live, and how hard commits are."""

    data_dir: Annotated[str, AfterValidator(_folder_name)] = "/var/lib/borne"
    outbox_max_bytes: Annotated[int, Field(ge=MIB, le=1024 * 1024 * MIB)] = 64 * MIB
    # "full": an accepted event survives a power cut. "normal": it survives a crash
    # of the process (kill -9) but the last commits may roll back on power loss.
    synchronous: Literal["full", "normal"] = "full"
    # Seconds an event the broker acknowledged is still kept, so the platform can ask
    # for it again if it never reached its store (a broker may lose QoS 1 messages).
    keep_delivered: Annotated[float, Field(ge=0, le=30 * 86_400, allow_inf_nan=False)] = 86_400.0
    # Free bytes the outbox leaves on its disk: below it, it sheds as if full (presence
    # samples first, never card taps, scans or assist requests) rather than grow.
    disk_margin_bytes: Annotated[int, Field(ge=0, le=1024 * 1024 * MIB)] = 16 * MIB
    # The outbox's write-ahead log is checkpointed and truncated to stay under this.
    wal_max_bytes: Annotated[int, Field(ge=64 * 1024, le=1024 * MIB)] = 4 * MIB


class PrivacyConfig(_Section):
    """The per-retailer secret behind pseudonyms, and which card numbers are loyalty cards."""

    pseudonym_key_file: str = ""  # hex in a file, from provisioning
    # The retailer's loyalty card ranges as number prefixes; a list in the file (lax
    # only about list versus tuple), comma-separated in the environment.
    loyalty_prefixes: Annotated[tuple[LoyaltyPrefix, ...], Field(strict=False)] = ()


class SessionConfig(_Section):
    """Shopper sessions."""

    idle_timeout: Seconds = 60.0  # quiet seconds before "are you still there?"
    # Seconds the warning counts down before the wipe: a shopper needs time to answer.
    idle_countdown: Annotated[float, Field(ge=20, le=3600, allow_inf_nan=False)] = 20.0


class StaffConfig(_Section):
    """Staff mode: badge and PIN, its lock, and how long the hub is waited for."""

    lock_after: Seconds = 90.0  # quiet seconds before staff mode locks by itself
    answer_within: Annotated[float, Field(gt=0, le=10, allow_inf_nan=False)] = 5.0
    max_failures: Annotated[int, Field(ge=1, le=20)] = 5  # wrong PINs in a row lock a badge
    lockout_minutes: Annotated[float, Field(gt=0, le=1440, allow_inf_nan=False)] = 15.0
    # A staff feed file (JSON Lines, docs/feeds.md) for a kiosk the platform does not
    # feed; empty: the directory the platform sends (kept for when it is away).
    directory_file: str = ""


class DevicesConfig(_Section):
    """Which backend each device uses: "" for none, "simulated", or the real device's address."""

    camera: str = ""
    nfc: str = ""
    ble: Literal["", "bleak", "simulated"] = ""  # "bleak" for the adapter
    # A wedge scanner: its /dev/input path, "name:PART OF ITS NAME", or "simulated".
    hid: str = ""
    hid_layout: Literal["us", "fr"] = "us"  # the layout the scanner was programmed for


class PresenceConfig(_Section):
    """Shoppers near the kiosk, from the store app's iBeacon."""

    store_app_uuid: Annotated[str, AfterValidator(_canonical_uuid)] = (
        "b0a1e5e0-57a0-4b2e-9d1f-2c0b0e000001"
    )
    passive_scan: bool = True
    # The store app's signal at 1 m as this kiosk's adapter hears it (dBm), measured by
    # `borne doctor` with a phone held at 1 m; unset: the power the beacon advertises.
    power_at_1m: Annotated[int, Field(ge=-120, le=0)] | None = None


class CatalogConfig(_Section):
    """The product data: a source file, or the platform's streams when [mqtt] names a broker."""

    source: str = ""  # empty: what the platform sends, or an empty catalog without a broker
    # Product pictures, `<gtin-13>.png` in this folder; empty: products show no picture.
    pictures: str = ""
    # Names shown for the other stores' codes in "stock nearby" (code -> name).
    store_names: dict[TopicLevel, str] = Field(default_factory=dict)


class SyncConfig(_Section):
    """The platform's streams coming down to the kiosk."""

    # Stock last confirmed longer ago than this is shown with its time ("Stock à 10:42").
    stale_after: Seconds = 600.0
    # Seconds to wait for the answer to a resync before asking again.
    answer_within: Seconds = 15.0
    # While connected, how often each stream is checked with the platform: silence
    # from a broker that lost the platform must not pass for "nothing changed".
    check_every: Seconds = 60.0


class KioskConfig(_Section):
    """The kiosk's lock, and its display."""

    # Hash of the staff PIN that closes the fullscreen kiosk (`borne pin-hash`); empty:
    # the kiosk cannot be closed from its screen.
    exit_pin_hash: Annotated[str, AfterValidator(_pin_hash)] = ""
    # Hash of the installer's PIN that opens the installer screen from the staff corner
    # (enrolment and the self-test); from enrolment. Empty: no installer screen once enrolled.
    installer_pin_hash: Annotated[str, AfterValidator(_pin_hash)] = ""
    # A display mounted turned (a landscape panel hung as a portrait totem): the picture
    # is turned by this many degrees; the layouts then follow the turned window.
    rotation: Literal[0, 90, 180, 270] = 0
    # The display's visible width in millimetres, as mounted at rotation 0. When given,
    # buttons are sized in millimetres for a finger at arm's length (see kiosk/theme.py).
    display_width_mm: Annotated[float, Field(gt=50, le=5000, allow_inf_nan=False)] | None = None


class CommandsConfig(_Section):
    """Commands the platform sends the kiosk, signed by the hub (Ed25519)."""

    # The hub's command-verification public key (PEM), from enrolment; empty: every
    # command is refused.
    verify_key_file: str = ""


class Config(ReadBySources):
    """The whole configuration. `Config()` is the defaults; `load_config` reads a kiosk's."""

    device: DeviceConfig = Field(default_factory=DeviceConfig)
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    session: SessionConfig = Field(default_factory=SessionConfig)
    staff: StaffConfig = Field(default_factory=StaffConfig)
    devices: DevicesConfig = Field(default_factory=DevicesConfig)
    catalog: CatalogConfig = Field(default_factory=CatalogConfig)
    sync: SyncConfig = Field(default_factory=SyncConfig)
    presence: PresenceConfig = Field(default_factory=PresenceConfig)
    kiosk: KioskConfig = Field(default_factory=KioskConfig)
    commands: CommandsConfig = Field(default_factory=CommandsConfig)

    @property
    def data_dir(self) -> Path:
        """The storage folder as a path."""
        return Path(self.storage.data_dir)


def load_config(path: str | Path | None, environ: Mapping[str, str] | None = None) -> Config:
    """Read `path` (None: defaults only), apply `environ` (None: os.environ), validate."""
    file = FileSource(Config, read_toml(path) if path is not None else {})
    environment = EnvironmentSource(Config, os.environ if environ is None else environ)
    try:
        # `_build_sources` is BaseSettings' documented way to hand it ready sources (the
        # environment first: it wins); mypy knows it only through pydantic's plugin.
        return Config(_build_sources=((environment, file), {}))
    except ValidationError as error:
        where, problem = describe(Config, error, environment.variables)
        raise ConfigError(where, problem) from None


def _unreadable_file(path: str) -> str | None:
    """Why `path` is not a readable regular file, or None if it is."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError) as error:  # ValueError: a NUL or an unencodable character
        reason = error.strerror if isinstance(error, OSError) else "not a file name"
        return f"{path!r} cannot be read ({reason})"
    if not stat.S_ISREG(mode):
        return f"{path!r} is not a regular file"
    if not os.access(path, os.R_OK):
        return f"{path!r} cannot be read by this user"
    return None


def check_data_dir(config: Config) -> Path:
    """The storage folder, if it is or can become a writable folder; creates nothing.

    Raises ConfigError("storage.data_dir", reason) when it exists but is not a folder or
    is not writable, or when its nearest existing parent is not a writable folder.
    """
    wanted = config.data_dir
    for candidate in (wanted, *wanted.absolute().parents):
        try:
            mode = os.stat(candidate).st_mode
        except (FileNotFoundError, NotADirectoryError):
            continue  # not there yet (or under a file, which the parent's turn reports)
        except (OSError, ValueError) as error:
            reason = error.strerror if isinstance(error, OSError) else "not a folder name"
            problem = f"{candidate} cannot be reached ({reason})"
            raise ConfigError("storage.data_dir", problem) from None
        if candidate == wanted:
            subject = f"{wanted}"
        else:
            subject = f"{wanted} cannot be created: its parent {candidate}"
        if not stat.S_ISDIR(mode):
            raise ConfigError("storage.data_dir", f"{subject} is not a folder")
        if not os.access(candidate, os.W_OK | os.X_OK):
            raise ConfigError("storage.data_dir", f"{subject} is not writable by this user")
        return wanted
    raise ConfigError("storage.data_dir", f"{wanted} has no existing parent folder")
