"""`borne install-service kiosk|hub`: the kiosk or the hub as a systemd service.

The units are the templates in `assets/systemd/`, filled in with absolute paths: the
`borne` script beside this interpreter, the configuration file, cage for the kiosk. The
configuration must load first (a service that cannot start is refused now, not at the
next boot). Written into /etc/systemd/system, the service is then enabled
(`systemctl daemon-reload`, `systemctl enable`); written elsewhere (`--unit-dir`), or
with `--no-enable`, it is only written, for an image being built or for a look.

The folders the service writes are created, or (run as root) handed with all they
hold to the service's account: `sudo borne hub broker-config` run before leaves the
CA, the registry and the broker's files to root otherwise. The hub's broker folder
goes to mosquitto's group with the setgid bit (2750), so the ACL and CRL the hub
rewrites stay readable by mosquitto.
"""

from __future__ import annotations

import argparse
import grp
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
BROKER_GROUP = "mosquitto"  # the account Debian's mosquitto drops to reads through it
# What systemd would read as a specifier, a variable, a quote or a separator in a path.
_UNSAFE_IN_UNIT = re.compile(r"[\s%$\"'\\;]")


class ServiceInstallError(BorneError):
    """The service cannot be installed as asked; says what to do."""


@dataclass(frozen=True)
class ServicePlan:
    """A unit to write: its file name, its text, and the folders its process writes
    (`shared_with_broker`: those of them mosquitto reads too)."""

    unit: str
    text: str
    writable: tuple[Path, ...]
    shared_with_broker: tuple[Path, ...] = ()


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
    except OSError as error:
        print(f"borne: cannot write {path}: {error.strerror}", file=sys.stderr)
        return 1
    print(f"borne: wrote {path}")
    user = args.user or _default_user()
    for folder in plan.writable:
        try:
            said = _hand_over(folder, user, broker=folder in plan.shared_with_broker)
        except OSError as error:
            print(f"borne: cannot prepare {folder}: {error.strerror}", file=sys.stderr)
            return 1
        if said:
            print(f"borne: {said}")
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
        writable, shared = _hub_folders(config)
        values["@WRITABLE@"] = " ".join(str(folder) for folder in writable)
    text = (TEMPLATES / UNITS[service]).read_text()
    for placeholder, value in values.items():
        if isinstance(value, Path):
            _check_path_for_unit(value)
        text = text.replace(placeholder, str(value))
    if service == "kiosk":
        return ServicePlan(UNITS[service], text, writable)
    return ServicePlan(UNITS[service], text, writable, shared)


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


def _hub_folders(config_path: Path) -> tuple[tuple[Path, ...], tuple[Path, ...]]:
    """The hub's writable folders, and which of them mosquitto reads."""
    from edge.hub.config import load_hub_config

    config = load_hub_config(config_path)
    folders = [Path(config.store.data_dir).resolve()]
    # The broker's ACL and CRL, rewritten at each enrolment (when the hub manages them).
    if not config.enrol.broker_dir:
        return tuple(folders), ()
    broker_dir = Path(config.enrol.broker_dir).resolve()
    return (*folders, broker_dir), (broker_dir,)


def _check_path_for_unit(path: Path) -> None:
    if _UNSAFE_IN_UNIT.search(str(path)):
        raise ServiceInstallError(
            f"{str(path)!r} has a space or a character systemd reads as a specifier:"
            " move it to a plain path"
        )


def _hand_over(folder: Path, user: str, *, broker: bool) -> str:
    """Create a folder the service writes (systemd refuses a missing ReadWritePaths)
    and, run as root, give it and all it holds to the service's account; a folder
    mosquitto reads goes to its group, setgid, so the files written there later stay
    in that group. Returns what was done, for the installer ('' when nothing)."""
    folder.mkdir(parents=True, mode=0o750, exist_ok=True)
    if os.geteuid() != 0:
        return ""
    account = pwd.getpwnam(user)
    group_id, group = account.pw_gid, ""
    if broker:
        try:
            group_id, group = grp.getgrnam(BROKER_GROUP).gr_gid, BROKER_GROUP
        except KeyError:
            group = ""  # no mosquitto account here: mosquitto runs as another one
    for place, folders, files in os.walk(folder):  # symbolic links are not followed
        os.chown(place, account.pw_uid, group_id)
        for name in (*folders, *files):
            os.chown(Path(place) / name, account.pw_uid, group_id, follow_symlinks=False)
    if group:
        os.chmod(folder, 0o2750)  # noqa: S103 - group read only: mosquitto, no write
        return f"{folder} now belongs to {user}, group {group} (setgid: mosquitto reads it)"
    return f"{folder} now belongs to {user}"


def _default_user() -> str:
    """The installer's own account under sudo, else whoever runs this."""
    return os.environ.get("SUDO_USER") or pwd.getpwuid(os.geteuid()).pw_name
