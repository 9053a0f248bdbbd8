"""The hub's configuration: one TOML file, every key optional, environment overrides.

The same rules as the kiosk's (`edge.config`): pydantic checks types, ranges and the
keys that only make sense together, and a broken configuration is refused whole with
one `ConfigError` naming the key. Environment variables override the file key by key
as `BORNE_HUB_<SECTION>__<KEY>` (for example `BORNE_HUB_STORE__URL`), so a hub and a
kiosk on one machine never read each other's.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, ValidationError, model_validator

from edge.config import MqttConfig, Port, TopicLevel, _pin_hash, _Section
from edge.config_sources import (
    HUB_ENV_PREFIX,
    EnvironmentSource,
    FileSource,
    KeyProblem,
    ReadBySources,
    describe,
    read_toml,
)
from edge.errors import ConfigError
from edge.hub.store import EventStore, PostgresEventStore, SqliteEventStore
from edge.hub.streams import StreamStore

__all__ = [
    "HUB_ENV_PREFIX",
    "HubConfig",
    "HubEnrolConfig",
    "HubMqttConfig",
    "HubStoreConfig",
    "load_hub_config",
]

SQLITE_SCHEME = "sqlite:///"
POSTGRES_SCHEMES = ("postgresql://", "postgres://")
# MQTT 5 shared subscription names: one topic level, no wildcard.
_SHARE_GROUP_FORBIDDEN = frozenset("/+#")


def _share_group(value: str) -> str:
    if not value or any(char in _SHARE_GROUP_FORBIDDEN or ord(char) < 32 for char in value):
        raise ValueError("must be one MQTT topic level (no '/', '+', '#' or control character)")
    return value


def _store_url(value: str) -> str:
    if value.startswith(SQLITE_SCHEME):
        if not value.removeprefix(SQLITE_SCHEME) or "\0" in value:
            raise ValueError("must name a file: sqlite:///path/to/events.sqlite")
        return value
    if value and not value.startswith(POSTGRES_SCHEMES):
        raise ValueError("must be sqlite:///path, postgresql://..., or empty for the default")
    return value


def _public_url(value: str) -> str:
    """`https://host[:port]`, the address printed in enrolment codes (or empty: off)."""
    if not value:
        return value
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError when out of range or not a number
    except ValueError:
        raise ValueError("must be https://host[:port]") from None
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError("must be https://host[:port] (kiosks enrol over TLS only)")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ValueError("must be https://host[:port] only, no path")
    return value.rstrip("/")


def _argv(value: tuple[str, ...]) -> tuple[str, ...]:
    if value and not value[0]:
        raise ValueError("must start with the program to run")
    return value


def _folder_name(value: str) -> str:
    if not value or "\0" in value:
        raise ValueError("must name a folder")
    return value


class HubMqttConfig(MqttConfig):
    """The broker the kiosks publish to, with the kiosk's rules for credentials and TLS.

    `inflight` is the Receive Maximum the hub announces: how many events the broker
    may hand it before it has acknowledged the first.
    """

    client_id: str = ""  # empty: borne-hub-{host name}; each hub process needs its own
    share_group: Annotated[str, AfterValidator(_share_group)] = "borne-hub"
    # How long the broker keeps a stopped hub's session and queues its events.
    session_expiry: Annotated[int, Field(ge=60, le=2**32 - 1)] = 7 * 86_400

    @property
    def effective_client_id(self) -> str:
        """The client id sent to the broker."""
        return self.client_id or f"borne-hub-{socket.gethostname()}"


class HubStoreConfig(_Section):
    """Where the hub keeps the kiosks' events."""

    data_dir: Annotated[str, AfterValidator(_folder_name)] = "/var/lib/borne-hub"
    # sqlite:///path, postgresql://user@host/db; empty: events.sqlite under data_dir.
    url: Annotated[str, AfterValidator(_store_url)] = ""

    @property
    def streams_path(self) -> Path:
        """Where the hub keeps what it imported, as the stores' versioned streams."""
        return Path(self.data_dir) / "streams.sqlite"

    def open_streams(self) -> StreamStore:
        """Open (and create if needed) the store of the imported streams.

        In the PostgreSQL database of `url` when it names one (beside the events, in
        tables of their own), else in streams.sqlite under `data_dir`.
        """
        if self.url.startswith(POSTGRES_SCHEMES):
            from edge.hub.streams.postgres import PostgresStreamDatabase

            return StreamStore(PostgresStreamDatabase(self.url))
        self.streams_path.parent.mkdir(parents=True, exist_ok=True)
        return StreamStore(self.streams_path)

    def open(self) -> EventStore:
        """Open (and create if needed) the configured event store."""
        if self.url.startswith(POSTGRES_SCHEMES):
            return PostgresEventStore(self.url)
        if self.url:
            path = Path(self.url.removeprefix(SQLITE_SCHEME))
        else:
            path = Path(self.data_dir) / "events.sqlite"
        path.parent.mkdir(parents=True, exist_ok=True)
        return SqliteEventStore(path)


class HubGapsConfig(_Section):
    """Asking devices again for events that never arrived."""

    # Seconds a missing range stays open before its device is asked for it (events
    # overtaken on the way arrive meanwhile), and between two asks of the same range.
    ask_after: Annotated[float, Field(gt=0, le=86_400, allow_inf_nan=False)] = 30.0
    ask_every: Annotated[float, Field(gt=0, le=86_400, allow_inf_nan=False)] = 300.0


class HubPrivacyConfig(_Section):
    """The retailer's pseudonym secret, shared with its kiosks: a loyalty feed that lists
    card numbers is keyed by their pseudonyms at import, and the numbers are not kept."""

    pseudonym_key_file: str = ""  # empty: a loyalty feed must give pseudonyms


class HubEnrolConfig(_Section):
    """The hub as the kiosks' enrolment authority (`borne hub enrol-code`, `borne enrol`).

    `public_url` is the `https://host:port` kiosks reach, printed in every enrolment code;
    empty, enrolment is off (no code is made, no HTTPS endpoint runs). `borne hub serve`
    answers enrolments on `listen_host:listen_port` (behind a port forward, this need
    not be the public port). The CA, its keys and the enrolment records live under
    `[store] data_dir` (`ca/`, `enrolment.sqlite`).
    """

    public_url: Annotated[str, AfterValidator(_public_url)] = ""
    listen_host: str = "127.0.0.1"  # "0.0.0.0" (or "::") to serve the shop's network
    listen_port: Port = 8443
    # The broker's TLS listener, as kiosks reach it (handed to them at enrolment); the
    # broker certificate names broker_host. broker_listen is the address mosquitto binds
    # ("" = broker_host).
    broker_host: str = ""
    broker_port: Port = 8883
    broker_listen: str = ""
    # Where `borne hub broker-config` writes mosquitto.conf and its files; the ACL and
    # the CRL there are rewritten at each enrolment and revocation. Empty: not managed.
    broker_dir: str = ""
    # Run after the ACL or CRL changed, e.g. ["systemctl", "reload", "mosquitto"] (a
    # reload re-reads the ACL and the CRL; only a restart cuts a revoked kiosk's open link).
    broker_reload: Annotated[tuple[str, ...], Field(strict=False), AfterValidator(_argv)] = ()
    code_minutes: Annotated[int, Field(ge=1, le=7 * 24 * 60)] = 10  # an enrolment code's life
    certificate_days: Annotated[int, Field(ge=1, le=3650)] = 397  # a device certificate's
    # The installer PIN handed to every kiosk at enrolment (a `borne pin-hash` hash).
    installer_pin_hash: Annotated[str, AfterValidator(_pin_hash)] = ""
    # The names kiosks show for their store (store code -> name); a store not named
    # here is shown without a name.
    store_names: dict[TopicLevel, str] = Field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        """Whether the hub enrols kiosks at all."""
        return bool(self.public_url)

    @property
    def public_host(self) -> str:
        """The host of `public_url` (its TLS certificate names it)."""
        return urlsplit(self.public_url).hostname or ""

    @property
    def broker_bind(self) -> str:
        """The address mosquitto's TLS listener binds."""
        return self.broker_listen or self.broker_host

    @model_validator(mode="after")
    def _keys_agree(self) -> HubEnrolConfig:
        if self.public_url and not self.broker_host:
            raise KeyProblem("broker_host", "must name the broker kiosks connect to")
        return self


class HubConfig(ReadBySources):
    """The hub's whole configuration. `HubConfig()` is the defaults.

    `devices` names the store of each kiosk the hub serves (device id -> store code),
    so that a brand-new kiosk is answered before the hub has any event of it; a kiosk
    not named there is known by the store its events name.
    """

    mqtt: HubMqttConfig = Field(default_factory=HubMqttConfig)
    store: HubStoreConfig = Field(default_factory=HubStoreConfig)
    gaps: HubGapsConfig = Field(default_factory=HubGapsConfig)
    privacy: HubPrivacyConfig = Field(default_factory=HubPrivacyConfig)
    devices: dict[TopicLevel, TopicLevel] = Field(default_factory=dict)
    enrol: HubEnrolConfig = Field(default_factory=HubEnrolConfig)


def load_hub_config(path: str | Path | None, environ: Mapping[str, str] | None = None) -> HubConfig:
    """Read `path` (None: defaults only), apply `environ` (None: os.environ), validate."""
    file = FileSource(HubConfig, read_toml(path) if path is not None else {})
    environment = EnvironmentSource(
        HubConfig, os.environ if environ is None else environ, prefix=HUB_ENV_PREFIX, others=()
    )
    try:
        return HubConfig(_build_sources=((environment, file), {}))
    except ValidationError as error:
        where, problem = describe(HubConfig, error, environment.variables)
        raise ConfigError(where, problem) from None
