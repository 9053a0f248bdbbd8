"""`borne enrol`: enrol this kiosk with the hub, headless, from the code the hub printed.

Exit status: 0 enrolled; 2 the code cannot be used (malformed, refused by the hub,
or for another hub); 1 the hub cannot be reached or its answer cannot be used (the
same code may work once that is fixed).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cryptography import x509

from edge.config_sources import read_toml
from edge.enrol.answer import EnrolFailed, Enrolment, EnrolRefused, HubNotTrusted
from edge.enrol.client import enrol, install_enrolment
from edge.enrol.code import EnrolCode, EnrolCodeError, parse_enrol_code
from edge.enrol.files import EnrolmentFiles
from edge.errors import ConfigError

COMMANDS = ("enrol",)  # the `borne` commands this module adds

# What the command line says for each of the hub's refusals; {new_code} is the command
# that makes a new code at the hub.
REFUSALS = {
    "used_code": "this code was already used{said}. Ask for a new code: {new_code}",
    "expired_code": "this code expired at {expired}{said}. Ask for a new code: {new_code}",
    "unknown_code": "this code is not one the hub issued{said}. Ask for a new code: {new_code}",
    "device_mismatch": "this code is for another device{said}. Enrol without --device,"
    " or ask for a code for this kiosk: {new_code}",
    "device_taken": "{device} is already enrolled{said}. To enrol this kiosk again as"
    " {device}, ask for a code made for it: {new_code}",
    "not_enrolling": "the hub does not enrol kiosks at the moment{said}. Its [enrol]"
    " public_url must be set",
    "bad_request": "the hub could not read the request{said}",
    "bad_csr": "the hub could not read the certificate request{said}",
}


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add this module's commands to the `borne` parser."""
    command = commands.add_parser(
        "enrol",
        help="enrol this kiosk with the hub from an enrolment code (borne hub enrol-code)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    command.add_argument(
        "--code", required=True, help="the enrolment code, or - to read it from standard input"
    )
    command.add_argument(
        "--config-out", type=Path, required=True, help="the kiosk's configuration to write"
    )
    command.add_argument(
        "--folder", type=Path, help="where the key and certificates go (default: the config's)"
    )
    command.add_argument(
        "--device",
        default="",
        help="the device id to ask for (default: the one --config-out already names, else"
        " the code's, else the hub's choice)",
    )
    command.add_argument("--timeout", type=float, default=10.0, help="seconds per hub answer")


def run(args: argparse.Namespace) -> int:
    """Run one of this module's commands; returns the exit status."""
    text = sys.stdin.readline() if args.code == "-" else args.code
    try:
        code = parse_enrol_code(text)
    except EnrolCodeError as error:
        return _fail(2, f"not an enrolment code: {error.problem}")
    config_path: Path = args.config_out.absolute()
    folder: Path = (args.folder or config_path.parent).absolute()
    try:
        # A code made for one device names it: the hub's operator chose (and the hub
        # refuses another id). Otherwise an enrolled kiosk keeps its id, as on its screen.
        device_id = args.device or ("" if code.device_id else enrolled_device(config_path))
    except ConfigError as error:
        return _fail(2, f"cannot enrol into {config_path}: {error}")
    try:
        enrolment = enrol(code, folder, device_id=device_id, timeout=args.timeout)
        install_enrolment(enrolment, folder, config_path)
    except EnrolRefused as refused:
        return _fail(2, f"enrolment refused: {_refusal(refused, code, device_id)}")
    except HubNotTrusted as failed:
        return _fail(2, f"enrolment refused: {failed.problem}")
    except EnrolFailed as failed:
        return _fail(1, f"enrolment failed: {failed.problem}")
    except ConfigError as error:
        return _fail(2, f"enrolment not saved: {config_path}: {error}")
    _summary(enrolment, folder, config_path)
    return 0


def enrolled_device(config_path: Path) -> str:
    """The `[device] device_id` the configuration at `config_path` already has ("" when
    the file or the key is missing); ConfigError when the file cannot be read.

    Read as TOML, not validated: a configuration half written by hand still names its
    kiosk, and the enrolment completes it.
    """
    if not config_path.exists():
        return ""
    device = read_toml(config_path).get("device", {})
    found = device.get("device_id", "") if isinstance(device, dict) else ""
    return found if isinstance(found, str) else ""


def _refusal(refused: EnrolRefused, code: EnrolCode, device_id: str) -> str:
    new_code = f"borne hub enrol-code --config HUB.toml --store {code.store_id}"
    named = code.device_id or (device_id if refused.reason == "device_taken" else "")
    if named:
        new_code += f" --device {named}"
    expired = code.expires_at.astimezone().strftime("%Y-%m-%d %H:%M %Z")
    said = f" (the hub says: {refused.message})" if refused.message else ""
    template = REFUSALS.get(refused.reason, "the hub refused ({reason}){said}")
    return template.format(
        said=said, new_code=new_code, expired=expired, reason=refused.reason, device=device_id
    )


def _summary(enrolment: Enrolment, folder: Path, config_path: Path) -> None:
    files = EnrolmentFiles(folder)
    certificate = x509.load_pem_x509_certificate(enrolment.certificate_pem.encode("ascii"))
    store = enrolment.store_id
    if enrolment.store_name:
        store += f" ({enrolment.store_name})"
    lines = (
        f"Enrolled {enrolment.device_id} in store {store} with the hub at {enrolment.hub_url}.",
        f"  broker:        {enrolment.broker_host}:{enrolment.broker_port}, mutual TLS"
        f" as {enrolment.device_id}",
        f"  certificate:   {files.certificate} (until {certificate.not_valid_after_utc:%Y-%m-%d})",
        f"  private key:   {files.key} (made on this kiosk, never sent)",
        f"  configuration: {config_path}",
        f"Next: borne doctor --config {config_path}",
    )
    print("\n".join(lines))


def _fail(status: int, message: str) -> int:
    print(f"borne: {message}", file=sys.stderr)
    return status
