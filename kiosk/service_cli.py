"""`borne install-service kiosk|hub`: the kiosk or the hub as a systemd service.

The units are the templates in `assets/systemd/`, filled in with absolute paths: the
`borne` script beside this interpreter, the configuration file, cage for the kiosk. The
configuration must load first (a service that cannot start is refused now, not at the
next boot). Written into /etc/systemd/system, the service is then enabled
(`systemctl daemon-reload`, `systemctl enable`); written elsewhere (`--unit-dir`), or
with `--no-enable`, it is only written, for an image being built or for a look.
"""

from __future__ import annotations

import argparse
import os
import pwd
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from edge.config_write import write_private_file
from edge.errors import BorneError

COMMANDS = ("install-service",)  # the `borne` commands this module adds
SYSTEM_UNIT_DIR = Path("/etc/systemd/system")
TEMPLATES = Path(__file__).resolve().parent.parent / "assets" / "systemd"
UNITS = {"kiosk": "borne-kiosk.service", "hub": "borne-hub.service"}
# What systemd would read as a specifier, a variable, a quote or a separator in a path.
_UNSAFE_IN_UNIT = re.compile(r"[\s%$\"'\\;]")


class ServiceInstallError(BorneError):
    """The service cannot be installed as asked; says what to do."""


@dataclass(frozen=True)
class ServicePlan:
    """A unit to write: its file name, its text, and the folders its process writes."""

    unit: str
    text: str
    writable: tuple[Path, ...]


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add this module's commands to the `borne` parser."""
    install = commands.add_parser(
        "install-service",
        help="install the kiosk (in cage, on tty1) or the hub as a systemd service",
    )
    install.add_argument("service", choices=sorted(UNITS), help="which service")
    install.add_argument("--config", type=Path, required=True, help="its TOML configuration")
    install.add_argument(
        "--user", default="", help="the account it runs as (default: the one running sudo)"
    )
    install.add_argument(
        "--unit-dir",
        type=Path,
        default=SYSTEM_UNIT_DIR,
        help=f"where to write the unit (default {SYSTEM_UNIT_DIR}: then enabled)",
    )
    install.add_argument(
        "--no-enable", action="store_true", help="write the unit, do not enable it"
    )


def run(args: argparse.Namespace) -> int:
    """Run one of this module's commands; returns the exit status."""
    try:
        plan = plan_service(args.service, args.config, user=args.user or _default_user())
    except ServiceInstallError as error:
        print(f"borne: {error}", file=sys.stderr)
        return 2
    unit_dir: Path = args.unit_dir
    path = unit_dir / plan.unit
    try:
        unit_dir.mkdir(parents=True, exist_ok=True)
        write_private_file(path, plan.text.encode(), mode=0o644)
        for folder in plan.writable:
            _make_folder(folder, args.user or _default_user())
    except OSError as error:
        print(f"borne: cannot write {path}: {error.strerror}", file=sys.stderr)
        return 1
    print(f"borne: wrote {path}")
    enable = not args.no_enable and unit_dir.resolve() == SYSTEM_UNIT_DIR
    if not enable:
        print(f"borne: not enabled; to start it at boot: systemctl enable --now {plan.unit}")
        return 0
    for command in (["systemctl", "daemon-reload"], ["systemctl", "enable", plan.unit]):
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            said = result.stderr.strip() or f"exit status {result.returncode}"
            print(f"borne: {' '.join(command)} failed: {said}", file=sys.stderr)
            return 1
    print(f"borne: enabled; starts at the next boot, or now: systemctl start {plan.unit}")
    return 0


def plan_service(service: str, config_path: Path, *, user: str) -> ServicePlan:
    """The unit for `service` (kiosk or hub) with `config_path`, run as `user`.

    Raises ServiceInstallError (or ConfigError, for a configuration that does not load)
    when the service could not start as written.
    """
    config = config_path.resolve()
    program = Path(sys.executable).parent / "borne"
    if not os.access(program, os.X_OK):
        raise ServiceInstallError(f"{program} is missing: install Borne into this environment")
    try:
        pwd.getpwnam(user)
    except KeyError:
        raise ServiceInstallError(f"there is no user {user!r} on this machine (--user)") from None
    values = {"@BORNE@": program, "@CONFIG@": config, "@USER@": user}
    if service == "kiosk":
        writable = _kiosk_folders(config)
        cage = shutil.which("cage")
        if cage is None:
            raise ServiceInstallError(
                "cage (the Wayland kiosk compositor) is not installed: apt install cage"
            )
        values["@CAGE@"] = Path(cage)
    else:
        writable = _hub_folders(config)
        values["@WRITABLE@"] = " ".join(str(folder) for folder in writable)
    text = (TEMPLATES / UNITS[service]).read_text()
    for placeholder, value in values.items():
        if isinstance(value, Path):
            _check_path_for_unit(value)
        text = text.replace(placeholder, str(value))
    return ServicePlan(UNITS[service], text, writable)


def _kiosk_folders(config_path: Path) -> tuple[Path, ...]:
    from edge.bootstrap import check_ready, is_enrolled, refuse_simulators
    from edge.config import check_data_dir, load_config

    config = load_config(config_path)
    if is_enrolled(config):
        check_ready(config, simulators_allowed=False)  # the secret, real devices, storage
    else:
        # It boots into its enrolment screen, which writes the rest of the configuration.
        refuse_simulators(config)
        check_data_dir(config)
    return (config.data_dir.resolve(),)


def _hub_folders(config_path: Path) -> tuple[Path, ...]:
    from edge.hub.config import load_hub_config

    config = load_hub_config(config_path)
    folders = [Path(config.store.data_dir).resolve()]
    # The broker's ACL and CRL, rewritten at each enrolment (when the hub manages them).
    if config.enrol.broker_dir:
        folders.append(Path(config.enrol.broker_dir).resolve())
    return tuple(folders)


def _check_path_for_unit(path: Path) -> None:
    if _UNSAFE_IN_UNIT.search(str(path)):
        raise ServiceInstallError(
            f"{str(path)!r} has a space or a character systemd reads as a specifier:"
            " move it to a plain path"
        )


def _make_folder(folder: Path, user: str) -> None:
    """Create a folder the service writes (systemd refuses a missing ReadWritePaths),
    owned by the service's account when we may give it away."""
    if folder.exists():
        return
    folder.mkdir(parents=True, mode=0o750)
    if os.geteuid() == 0:
        account = pwd.getpwnam(user)
        os.chown(folder, account.pw_uid, account.pw_gid)


def _default_user() -> str:
    """The installer's own account under sudo, else whoever runs this."""
    return os.environ.get("SUDO_USER") or pwd.getpwuid(os.geteuid()).pw_name
