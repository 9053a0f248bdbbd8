"""The broker's side of enrolment: mosquitto's configuration, ACL and CRL.

`borne hub broker-config` writes into `[enrol] broker_dir`:
- `mosquitto.conf`: one TLS listener (`broker_port` on `broker_listen`) that requires a
  client certificate from the hub's CA, takes its CN as the username
  (`use_identity_as_username`), checks the CRL and the ACL;
- `ca.pem`, `broker.pem`/`broker.key` (the broker's certificate, SAN `broker_host`),
  `hub.pem`/`hub.key` (the hub's own client certificate, CN = its MQTT client id);
- `acl` and `crl.pem`, rewritten by the hub at each enrolment and revocation, and
  the CRL again when `borne hub serve` starts and every day (`broker_upkeep`).

What mosquitto reads is written 0640 and the hub's own key 0600: with the folder in
mosquitto's group and setgid (`borne install-service hub` does so), the files the hub
rewrites stay readable by mosquitto and by no one else.

The ACL lets a device (its username is its certificate's CN) publish only under
`borne/v1/devices/<its id>/` and on the hubs' replay answer topics, read only its own
device topics and its own store's `borne/v1/stores/<store>/`; the hub reads and writes
`borne/#`. Mosquitto 2 re-reads the ACL and the CRL on SIGHUP (`broker_reload`), so a
revoked certificate cannot connect again; a connection it already has stays open until
the broker restarts: after a revocation the broker must be restarted. A reload that
fails is remembered in the registry until one succeeds (`borne hub enrolled` shows it).
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

from edge.config_write import write_private_file
from edge.hub.enrolment.ca import Clock, HubCA, utc_now
from edge.hub.enrolment.errors import HubCAError
from edge.hub.enrolment.registry import Registry

__all__ = ["BROKER_READS", "RESERVED_PREFIX", "BrokerFiles", "acl_text"]

log = logging.getLogger(__name__)

RELOAD_TIMEOUT = 30.0  # seconds `broker_reload` may take
# What a kiosk publishes under its own id (docs/asyncapi.yaml): events, its retained
# state and Last Will, health telemetry, requests to the hub, and answers.
DEVICE_WRITES = ("events/#", "state", "health", "req/#", "res/#")
# Hub client ids default to `borne-hub-<host name>` (edge.hub.config): no kiosk is named
# so, and the ACL never gives a device of such a name a `user` block.
RESERVED_PREFIX = "borne-hub"
# Mode of the files mosquitto reads (through its group); the hub's key stays 0600.
BROKER_READS = 0o640


def acl_text(hub_user: str, devices: Mapping[str, str]) -> str:
    """The ACL file for the hub's username and the enrolled devices (id -> store)."""
    lines = [
        "# Written by the Borne hub (borne hub broker-config, enrolment, revocation).",
        "# Rewritten at each enrolment: edits here are lost.",
        "",
        "# Every device, known by its certificate's CN (%u):",
    ]
    lines += [f"pattern write borne/v1/devices/%u/{topic}" for topic in DEVICE_WRITES]
    lines += [
        "pattern read borne/v1/devices/%u/#",
        "# A device answers a hub's replay request on that hub's own topic.",
        "pattern write borne/v1/hub/+/res/replay",
        "",
        "# The hub:",
        f"user {hub_user}",
        "topic readwrite borne/#",
    ]
    for device_id, store_id in sorted(devices.items()):
        if device_id == hub_user or device_id.lower().startswith(RESERVED_PREFIX):
            continue  # a device named like a hub gets no more than the patterns
        lines += ["", f"user {device_id}", f"topic read borne/v1/stores/{store_id}/#"]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class BrokerFiles:
    """The files of `folder` (`[enrol] broker_dir`) for the hub's CA."""

    folder: Path
    ca: HubCA
    reload: Sequence[str] = ()  # `[enrol] broker_reload`
    crl_days: int = 397
    clock: Clock = utc_now  # when a failed reload is recorded

    @property
    def config_path(self) -> Path:
        """mosquitto.conf."""
        return self.folder / "mosquitto.conf"

    def write_all(
        self,
        registry: Registry,
        *,
        broker_host: str,
        broker_port: int,
        listen: str,
        hub_client_id: str,
        certificate_days: int,
    ) -> list[Path]:
        """Write every file mosquitto needs (and the hub's client certificate)."""
        folder = self.folder.resolve()
        folder.mkdir(mode=0o750, parents=True, exist_ok=True)
        write_private_file(folder / "ca.pem", self.ca.certificate_pem, mode=BROKER_READS)
        broker = self.ca.issue(broker_host, days=certificate_days, hosts=[broker_host])
        write_private_file(folder / "broker.key", broker.key_pem, mode=BROKER_READS)
        write_private_file(folder / "broker.pem", broker.certificate_pem, mode=BROKER_READS)
        hub = self.ca.issue(hub_client_id, days=certificate_days, client=True)
        write_private_file(folder / "hub.key", hub.key_pem)
        write_private_file(folder / "hub.pem", hub.certificate_pem, mode=BROKER_READS)
        self._write_acl_and_crl(registry)
        config = (
            "# Written by `borne hub broker-config`: mosquitto's TLS listener for the kiosks.\n"
            "per_listener_settings true\n"
            f"listener {broker_port} {listen}\n"
            "allow_anonymous false\n"
            f"cafile {folder / 'ca.pem'}\n"
            f"certfile {folder / 'broker.pem'}\n"
            f"keyfile {folder / 'broker.key'}\n"
            "require_certificate true\n"
            "use_identity_as_username true\n"
            f"crlfile {folder / 'crl.pem'}\n"
            f"acl_file {folder / 'acl'}\n"
        )
        write_private_file(self.config_path, config.encode(), mode=BROKER_READS)
        return [
            self.config_path,
            folder / "ca.pem",
            folder / "broker.pem",
            folder / "broker.key",
            folder / "hub.pem",
            folder / "hub.key",
            folder / "acl",
            folder / "crl.pem",
        ]

    def update(self, registry: Registry) -> bool:
        """Rewrite the ACL and the CRL from `registry`, then run `reload` if set.

        Returns False when the reload command failed: the enrolment itself stands, the
        broker learns of it at its next reload or restart; the failure is logged and
        kept in `registry` (shown by `borne hub enrolled`) until a reload succeeds.
        """
        self._write_acl_and_crl(registry)
        if not self.reload:
            return True
        problem = self._run_reload()
        if problem is None:
            registry.reload_succeeded()
            return True
        log.warning("enrolment: the broker reload command %s", problem)
        registry.reload_failed(self.clock(), f"{' '.join(self.reload)} {problem}")
        return False

    def _run_reload(self) -> str | None:
        """Run `reload`; None when it worked, else what went wrong."""
        try:
            done = subprocess.run(
                list(self.reload), capture_output=True, timeout=RELOAD_TIMEOUT, check=False
            )
        except subprocess.TimeoutExpired:
            return f"did not finish in {RELOAD_TIMEOUT:.0f} s"
        except OSError as error:
            return f"cannot run ({error.strerror or error})"
        if done.returncode != 0:
            said = done.stderr.decode(errors="replace").strip()[:200]
            return f"exited {done.returncode}" + (f": {said}" if said else "")
        return None

    def hub_user(self) -> str:
        """The hub's broker username: the CN of `hub.pem` as broker-config wrote it."""
        path = self.folder / "hub.pem"
        try:
            certificate = x509.load_pem_x509_certificate(path.read_bytes())
        except (OSError, ValueError) as error:
            raise HubCAError(
                f"{path} cannot be read ({error}): run `borne hub broker-config` first"
            ) from None
        names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return str(names[0].value)

    def written_hub_user(self) -> str | None:
        """The hub's broker username if broker-config has written `hub.pem`, else None."""
        if not (self.folder / "hub.pem").exists():
            return None
        return self.hub_user()

    def _write_acl_and_crl(self, registry: Registry) -> None:
        acl = acl_text(self.hub_user(), registry.stores())
        write_private_file(self.folder / "acl", acl.encode(), mode=BROKER_READS)
        crl = self.ca.crl_pem(registry.revoked(), days=self.crl_days)
        write_private_file(self.folder / "crl.pem", crl, mode=BROKER_READS)
