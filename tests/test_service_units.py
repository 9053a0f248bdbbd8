"""`borne install-service` writes systemd units that systemd accepts as they are.

The units are written into a temporary folder (`--unit-dir`: nothing is enabled) and
checked with `systemd-analyze verify`, which needs what ExecStart names to exist: the
`borne` script beside this interpreter and Debian's cage (installed by the Makefile).
They run as root here: `systemd-analyze verify` does not look accounts up, but
`install-service` refuses a user the machine does not have, and root is the one user every
test machine has. verify exits 0 on warnings (an unknown key, a bad value), so the test
also wants its output silent about our files.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import BORNE, write_config


def _install(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*BORNE, "install-service", *args], capture_output=True, text=True, timeout=120
    )


def _verify(unit: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=120
    )


def _hub_config(tmp_path: Path) -> Path:
    path = tmp_path / "hub.toml"
    path.write_text(
        f'[mqtt]\nhost = "127.0.0.1"\n[store]\ndata_dir = "{tmp_path / "hub"}"\n'
        f'[enrol]\nbroker_dir = "{tmp_path / "broker"}"\n'
    )
    return path


def test_the_kiosk_unit_runs_borne_in_cage_on_tty1_and_systemd_accepts_it(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path / "kiosk.toml", tmp_path / "data")
    units = tmp_path / "units"
    result = _install("kiosk", "--config", str(config), "--user", "root", "--unit-dir", str(units))
    assert result.returncode == 0, result.stderr
    assert "not enabled" in result.stdout
    unit = units / "borne-kiosk.service"
    text = unit.read_text()
    assert "@" not in text.replace("getty@tty1", "")  # every placeholder filled in
    exec_start = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    program, _, rest = exec_start.removeprefix("ExecStart=").partition(" -s -- ")
    assert Path(program).name == "cage"
    assert Path(program).is_absolute()
    assert rest.endswith(f"kiosk --config {config.resolve()}")
    assert Path(rest.split()[0]).is_file()  # the borne script, by its absolute path
    for line in ("Type=notify", "NotifyAccess=all", "TTYPath=/dev/tty1", "Restart=always"):
        assert line in text.splitlines()
    verified = _verify(unit)
    assert verified.returncode == 0, verified.stderr
    assert str(unit) not in verified.stderr + verified.stdout, verified.stderr


def test_a_kiosk_not_enrolled_yet_is_installed_to_boot_into_its_enrolment_screen(
    tmp_path: Path,
) -> None:
    # What an installer's image ships: devices and storage, no identity nor secret yet.
    config = tmp_path / "kiosk.toml"
    config.write_text(f'[devices]\ncamera = "0"\n[storage]\ndata_dir = "{tmp_path / "data"}"\n')
    units = tmp_path / "units"
    result = _install("kiosk", "--config", str(config), "--user", "root", "--unit-dir", str(units))
    assert result.returncode == 0, result.stderr
    assert (units / "borne-kiosk.service").is_file()
    # ...but a simulated device is refused there as anywhere in a store.
    config.write_text('[devices]\ncamera = "simulated"\n')
    refused = _install("kiosk", "--config", str(config), "--user", "root", "--unit-dir", str(units))
    assert refused.returncode == 2
    assert "devices.camera" in refused.stderr


def test_the_hub_unit_writes_only_its_own_folders_and_systemd_accepts_it(
    tmp_path: Path,
) -> None:
    units = tmp_path / "units"
    result = _install(
        "hub", "--config", str(_hub_config(tmp_path)), "--user", "root", "--unit-dir", str(units)
    )
    assert result.returncode == 0, result.stderr
    unit = units / "borne-hub.service"
    lines = unit.read_text().splitlines()
    # Its data, and the broker's ACL and CRL it rewrites at each enrolment.
    assert f"ReadWritePaths={tmp_path / 'hub'} {tmp_path / 'broker'}" in lines
    assert (tmp_path / "hub").is_dir()  # systemd refuses a ReadWritePaths that is missing
    for line in ("Type=notify", "ProtectSystem=strict", "NoNewPrivileges=yes"):
        assert line in lines
    verified = _verify(unit)
    assert verified.returncode == 0, verified.stderr
    assert str(unit) not in verified.stderr + verified.stdout, verified.stderr


def test_a_configuration_that_does_not_load_is_refused_and_nothing_is_written(
    tmp_path: Path,
) -> None:
    broken = tmp_path / "kiosk.toml"
    broken.write_text("[device\n")
    units = tmp_path / "units"
    result = _install("kiosk", "--config", str(broken), "--user", "root", "--unit-dir", str(units))
    assert result.returncode == 2
    assert "configuration error" in result.stderr
    assert not (units / "borne-kiosk.service").exists()


@pytest.mark.parametrize("service", ["kiosk", "hub"])
def test_an_unknown_account_is_refused_by_name(tmp_path: Path, service: str) -> None:
    config = (
        write_config(tmp_path / "kiosk.toml", tmp_path / "data")
        if service == "kiosk"
        else _hub_config(tmp_path)
    )
    result = _install(
        service, "--config", str(config), "--user", "no-such-kiosk-user",
        "--unit-dir", str(tmp_path / "units"),
    )  # fmt: skip
    assert result.returncode == 2
    assert "no-such-kiosk-user" in result.stderr


def test_the_kiosk_is_refused_without_cage(tmp_path: Path) -> None:
    config = write_config(tmp_path / "kiosk.toml", tmp_path / "data")
    bare = tmp_path / "bin"  # a PATH with no cage on it
    bare.mkdir()
    result = subprocess.run(
        [*BORNE, "install-service", "kiosk", "--config", str(config), "--user", "root",
         "--unit-dir", str(tmp_path / "units")],
        capture_output=True, text=True, timeout=120, env={"PATH": str(bare)},
    )  # fmt: skip
    assert result.returncode == 2
    assert "apt install cage" in result.stderr
    assert not (tmp_path / "units" / "borne-kiosk.service").exists()
