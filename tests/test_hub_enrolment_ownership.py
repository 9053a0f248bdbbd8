"""The hub's files after the README's order: `sudo borne hub broker-config`, then
`sudo borne install-service hub --user ACCOUNT`.

The hub's account owns its CA, its registry and the broker's folder; mosquitto's group
reads what mosquitto needs (the folder is setgid, so the ACL and CRL the hub writes
later stay readable by it), and the hub's key and the CA's stay private. Runs as root
(chown), with `nobody` as the hub's account.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
import subprocess
from pathlib import Path

from tests.conftest import BORNE, borne

ACCOUNT = "nobody"
BROKER_GROUP = "mosquitto"  # Debian's mosquitto package makes it (the Makefile installs it)


def hub_config(tmp_path: Path) -> Path:
    (tmp_path / "pseudonym.key").write_text("5e" * 32)
    config = tmp_path / "hub.toml"
    config.write_text(
        f'[store]\ndata_dir = "{tmp_path / "hub"}"\n'
        f'[privacy]\npseudonym_key_file = "{tmp_path / "pseudonym.key"}"\n'
        '[mqtt]\nclient_id = "hub-test-1"\n'
        '[enrol]\npublic_url = "https://127.0.0.1:8443"\nbroker_host = "127.0.0.1"\n'
        f'broker_dir = "{tmp_path / "broker"}"\n'
    )
    return config


def owner(path: Path) -> tuple[str, str, int]:
    status = path.stat()
    return (
        pwd.getpwuid(status.st_uid).pw_name,
        grp.getgrgid(status.st_gid).gr_name,
        stat.S_IMODE(status.st_mode),
    )


def test_install_service_hands_the_hub_its_files_and_mosquitto_what_it_reads(
    tmp_path: Path,
) -> None:
    assert os.geteuid() == 0, "chown needs root"
    config = hub_config(tmp_path)
    written = borne("hub", "broker-config", "--config", str(config))
    assert written.returncode == 0, written.stderr
    assert f"sudo borne install-service hub --config {config} --user ACCOUNT" in written.stdout
    assert "NoNewPrivileges=yes, so sudo cannot work" in written.stdout
    made = borne("hub", "enrol-code", "--config", str(config), "--store", "paris-01")
    assert made.returncode == 0, made.stderr  # the registry exists, root's for now

    installed = subprocess.run(
        [*BORNE, "install-service", "hub", "--config", str(config), "--user", ACCOUNT,
         "--unit-dir", str(tmp_path / "units"), "--no-enable"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip

    assert installed.returncode == 0, installed.stderr
    hub, broker = tmp_path / "hub", tmp_path / "broker"
    nobody_group = grp.getgrgid(pwd.getpwnam(ACCOUNT).pw_gid).gr_name
    assert owner(hub)[:2] == (ACCOUNT, nobody_group)
    for private in (hub / "ca" / "ca.key", hub / "ca" / "command.key", broker / "hub.key"):
        assert owner(private)[0] == ACCOUNT
        assert owner(private)[2] == 0o600, private
    assert owner(hub / "enrolment.sqlite")[0] == ACCOUNT
    assert owner(broker) == (ACCOUNT, BROKER_GROUP, 0o2750)
    for read_by_mosquitto in ("mosquitto.conf", "ca.pem", "broker.pem", "broker.key", "acl",
                              "crl.pem"):  # fmt: skip
        assert owner(broker / read_by_mosquitto) == (ACCOUNT, BROKER_GROUP, 0o640)
    assert f"{broker} now belongs to {ACCOUNT}, group {BROKER_GROUP}" in installed.stdout

    # Files written there later (the ACL and CRL at each enrolment) join mosquitto's
    # group through the setgid folder, whoever writes them.
    rewritten = borne("hub", "broker-config", "--config", str(config))
    assert rewritten.returncode == 0, rewritten.stderr
    for name in ("acl", "crl.pem", "broker.key"):
        assert owner(broker / name)[1:] == (BROKER_GROUP, 0o640)
