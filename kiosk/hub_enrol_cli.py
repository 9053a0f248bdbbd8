"""`borne hub enrol-code | broker-config | revoke | enrolled`: the hub enrols kiosks.

- `enrol-code --store S [--device D] [--png FILE]`: a one-time code for a kiosk of store
  S, printed as a line, as a QR code in the terminal, and as a PNG if asked.
- `broker-config`: mosquitto's configuration, certificates, ACL and CRL in
  `[enrol] broker_dir` (edge.hub.enrolment.broker_files).
- `revoke --device D`: D's certificates go into the CRL; the broker must be restarted
  (a reload refuses new connections, but one already open stays open).
- `enrolled [--json]`: the enrolled kiosks, their store and certificate.

The enrolment modules (cryptography, OpenCV) are imported inside the commands.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edge.hub.config import HubConfig

COMMANDS: tuple[str, ...] = ("enrol-code", "broker-config", "revoke", "enrolled")
_TOPIC_LEVEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # as edge.config's ids


def add_commands(hub_commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add this module's commands to the `borne hub` parser."""
    code = hub_commands.add_parser(
        "enrol-code", help="a one-time code (and QR code) that enrols one kiosk of a store"
    )
    code.add_argument("--config", type=Path, required=True)
    code.add_argument("--store", required=True, help="the store code the kiosk belongs to")
    code.add_argument("--device", default="", help="the kiosk's id (default: the hub names it)")
    code.add_argument("--png", type=Path, help="also write the QR code to this PNG file")
    broker = hub_commands.add_parser(
        "broker-config",
        help="write mosquitto's TLS configuration, ACL and CRL into [enrol] broker_dir",
    )
    broker.add_argument("--config", type=Path, required=True)
    revoke = hub_commands.add_parser(
        "revoke", help="revoke a kiosk's certificates (a stolen or retired kiosk)"
    )
    revoke.add_argument("--config", type=Path, required=True)
    revoke.add_argument("--device", required=True)
    enrolled = hub_commands.add_parser("enrolled", help="the enrolled kiosks")
    enrolled.add_argument("--config", type=Path, required=True)
    enrolled.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    """Run one of this module's commands; returns the exit status."""
    from edge.hub.config import load_hub_config

    config = load_hub_config(args.config)
    if args.hub_command == "enrol-code":
        return _enrol_code(config, args.store, args.device, args.png)
    if args.hub_command == "broker-config":
        return _broker_config(config, args.config)
    if args.hub_command == "revoke":
        return _revoke(config, args.device)
    return _enrolled(config, as_json=args.json)


def _enrol_code(config: HubConfig, store_id: str, device_id: str, png: Path | None) -> int:
    from edge.hub.enrolment.setup import open_enroller
    from edge.hub.enrolment.terminal_qr import terminal_qr, write_qr_png

    for what, value in (("store", store_id), ("device", device_id)):
        if (value or what == "store") and not _TOPIC_LEVEL.fullmatch(value):
            print(
                f"borne: --{what} must be 1-64 letters, digits, '.', '_' or '-'"
                " (it is one MQTT topic level)",
                file=sys.stderr,
            )
            return 2
    enroller = open_enroller(config)  # ConfigError (exit 2) when enrolment is off
    code = enroller.new_code(store_id, device_id)
    text = code.text()
    if png is not None:
        write_qr_png(text, png)
    minutes = config.enrol.code_minutes
    print(text)
    print()
    print(terminal_qr(text, colours=sys.stdout.isatty()))
    print()
    who = f"kiosk {device_id}" if device_id else "one kiosk"
    print(f"Enrols {who} of store {store_id} at {code.hub_url}, once.")
    local = code.expires_at.astimezone()
    print(f"Expires at {local:%H:%M:%S %Z} ({code.expires_at:%Y-%m-%dT%H:%M:%SZ}),")
    print(f"in {minutes} minute{'s' if minutes != 1 else ''}.")
    print(f"Hub CA SHA-256: {code.ca_sha256}")
    if png is not None:
        print(f"QR code written to {png}")
    return 0


def _broker_config(config: HubConfig, config_path: Path) -> int:
    from edge.errors import ConfigError
    from edge.hub.enrolment.ca import HubCA
    from edge.hub.enrolment.registry import Registry
    from edge.hub.enrolment.setup import ca_folder, open_broker_files, registry_path

    enrol = config.enrol
    if not enrol.broker_host:
        raise ConfigError("enrol.broker_host", "must name the broker kiosks connect to")
    ca = HubCA.open(ca_folder(config))
    broker = open_broker_files(config, ca)
    if broker is None:
        raise ConfigError("enrol.broker_dir", "must name the folder to write mosquitto's files")
    written = broker.write_all(
        Registry(registry_path(config)),
        broker_host=enrol.broker_host,
        broker_port=enrol.broker_port,
        listen=enrol.broker_bind,
        hub_client_id=config.mqtt.effective_client_id,
        certificate_days=enrol.certificate_days,
    )
    folder = broker.folder.resolve()
    for path in written:
        print(f"wrote {path}")
    print()
    print(_ownership_follow_up(config, config_path))
    print()
    print(_reload_follow_up())
    print()
    print(f"Run mosquitto with: mosquitto -c {broker.config_path.resolve()}")
    print("The hub connects with its own certificate; in this file's [mqtt]:")
    print(f'  host = "{enrol.broker_host}"\n  port = {enrol.broker_port}\n  tls = true')
    print(f'  ca_file = "{folder / "ca.pem"}"')
    print(f'  cert_file = "{folder / "hub.pem"}"\n  key_file = "{folder / "hub.key"}"')
    print(f'  client_id = "{config.mqtt.effective_client_id}"')
    return 0


def _ownership_follow_up(config: HubConfig, config_path: Path) -> str:
    """What to run so the hub's account owns its files and mosquitto reads its own."""
    data_dir = Path(config.store.data_dir).resolve()
    broker_dir = Path(config.enrol.broker_dir).resolve()
    return (
        "Next, hand the hub's account its files (run it again after any broker-config\n"
        "run as root):\n"
        f"  sudo borne install-service hub --config {config_path.resolve()} --user ACCOUNT\n"
        f"ACCOUNT then owns {data_dir} (the CA, the registry) and {broker_dir};\n"
        "the broker folder gets group mosquitto and the setgid bit, so mosquitto reads\n"
        "the files the hub rewrites (mode 0640); the hub's key and the CA's stay 0600."
    )


def _reload_follow_up() -> str:
    """How the hub's account may reload mosquitto after each ACL or CRL change."""
    return (
        "After each enrolment and revocation the hub runs [enrol] broker_reload. The hub's\n"
        "unit has NoNewPrivileges=yes, so sudo cannot work there. Either:\n"
        '  - broker_reload = ["systemctl", "reload", "mosquitto"], with a polkit rule\n'
        "    (/etc/polkit-1/rules.d/50-borne-hub.rules) letting the hub's account reload\n"
        "    mosquitto.service only:\n"
        "      polkit.addRule(function (action, subject) {\n"
        '        if (action.id == "org.freedesktop.systemd1.manage-units" &&\n'
        '            action.lookup("unit") == "mosquitto.service" &&\n'
        '            action.lookup("verb") == "reload" && subject.user == "ACCOUNT")\n'
        "          return polkit.Result.YES;\n"
        "      });\n"
        '  - or broker_reload = ["pkill", "-HUP", "-x", "mosquitto"], which works only when\n'
        "    mosquitto runs as the hub's own account (a process may signal only its own\n"
        "    account's processes).\n"
        "A failed reload is shown by `borne hub enrolled` until one succeeds."
    )


def _revoke(config: HubConfig, device_id: str) -> int:
    from edge.hub.enrolment.ca import HubCA
    from edge.hub.enrolment.enroller import revoke_device
    from edge.hub.enrolment.registry import Registry
    from edge.hub.enrolment.setup import ca_folder, open_broker_files, registry_path

    registry = Registry(registry_path(config))
    known = registry.store_of(device_id) is not None
    broker = open_broker_files(config, HubCA.open(ca_folder(config)))
    serials = revoke_device(registry, broker, device_id, datetime.now(UTC))
    if not serials and not known:
        print(f"borne: no kiosk {device_id!r} is enrolled on this hub", file=sys.stderr)
        return 1
    listed = ", ".join(f"{serial:x}" for serial in serials) or "none live"
    print(f"Revoked the certificates of {device_id} (serials: {listed}).")
    if broker is not None:
        print(f"The CRL and the ACL in {broker.folder} are written again.")
        print(
            "Restart mosquitto now: a kiosk connected with a revoked certificate"
            " stays connected until the broker restarts."
        )
    else:
        print("No [enrol] broker_dir: give the broker the new CRL yourself, then restart it.")
    return 0


def _enrolled(config: HubConfig, *, as_json: bool) -> int:
    from edge.hub.enrolment.registry import Registry
    from edge.hub.enrolment.setup import registry_path

    registry = Registry(registry_path(config))
    devices = registry.devices()
    failure = registry.last_reload_failure()
    if as_json:
        if failure is not None:
            # A line of its own, told apart from the devices' by its key.
            failed = {"at": failure.failed_at.isoformat(), "problem": failure.problem}
            print(json.dumps({"broker_reload_failed": failed}))
        for device in devices:
            certificate = device.certificate
            print(
                json.dumps(
                    {
                        "device_id": device.device_id,
                        "store_id": device.store_id,
                        "enrolled_at": device.enrolled_at.isoformat(),
                        "serial": f"{certificate.serial:x}" if certificate else None,
                        "not_after": certificate.not_after.isoformat() if certificate else None,
                    }
                )
            )
        return 0
    print(f"{'device':<24} {'store':<16} {'enrolled':<20} {'certificate until':<20}")
    for device in devices:
        until = f"{device.certificate.not_after:%Y-%m-%d %H:%M}" if device.certificate else "-"
        print(
            f"{device.device_id:<24} {device.store_id:<16}"
            f" {device.enrolled_at:%Y-%m-%d %H:%M}     {until}"
        )
    if failure is not None:
        print()
        print(
            f"The broker reload failed at {failure.failed_at:%Y-%m-%d %H:%M:%S}Z: {failure.problem}"
        )
        print(
            "Until a reload succeeds, mosquitto enforces an older ACL and CRL: reload it"
            " (systemctl reload mosquitto), and see `borne hub broker-config` for letting"
            " the hub do so."
        )
    return 0
