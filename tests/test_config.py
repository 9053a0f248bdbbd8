"""The configuration file: defaults, overrides, and one clear message for a broken file."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from edge.config import Config, check_data_dir, load_config
from edge.errors import ConfigError
from tests.conftest import BORNE, write_config


def test_every_key_has_a_default() -> None:
    config = load_config(None, {})
    assert config.mqtt.host == ""  # no broker: events wait in the outbox
    assert config.mqtt.port == 1883
    assert config.storage.data_dir == "/var/lib/borne"
    assert config.mqtt.keepalive == 30
    assert config.data_dir == Path("/var/lib/borne")


def test_file_values_and_environment_overrides(tmp_path: Path) -> None:
    path = tmp_path / "kiosk.toml"
    path.write_text('[device]\nstore_id = "lyon-02"\n[mqtt]\nhost = "broker.local"\nport = 8883\n')

    config = load_config(path, {"BORNE_MQTT__PORT": "1884", "BORNE_DEVICE__DEVICE_ID": "k-9"})

    assert config.device.store_id == "lyon-02"
    assert config.device.device_id == "k-9"
    assert config.mqtt.host == "broker.local"
    assert config.mqtt.port == 1884


@pytest.mark.parametrize(
    ("text", "where", "problem"),
    [
        ('[mqtt]\nhots = "x"\n', "mqtt.hots", "unknown key"),
        ('[mqtt]\nport = "abc"\n', "mqtt.port", "expected an integer"),
        ("[mqtt]\nport = 70000\n", "mqtt.port", "between 1 and 65535"),
        ("[mqtt]\ntls = 1\n", "mqtt.tls", "expected true or false"),
        ('[nfc]\npath = "usb"\n', "nfc", "unknown key"),
        ("mqtt = 3\n", "mqtt", "expected a table"),
        ('[device]\ndevice_id = "a/b"\n', "device.device_id", "one MQTT topic level"),
        ('[device]\ndevice_id = "#"\n', "device.device_id", "one MQTT topic level"),
        ('[storage]\nsynchronous = "off"\n', "storage.synchronous", '"full" or "normal"'),
    ],
)
def test_a_bad_key_is_named_with_its_problem(
    tmp_path: Path, text: str, where: str, problem: str
) -> None:
    path = tmp_path / "kiosk.toml"
    path.write_text(text)

    with pytest.raises(ConfigError) as caught:
        load_config(path, {})

    assert caught.value.where == where
    assert problem in caught.value.problem


def test_unreadable_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config(tmp_path / "missing.toml", {})
    broken = tmp_path / "broken.toml"
    broken.write_text("[mqtt\nhost=")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(broken, {})


def test_a_bad_environment_override_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(None, {"BORNE_MQTT__PORT": "eighty"})
    assert caught.value.where == "BORNE_MQTT__PORT"
    with pytest.raises(ConfigError, match="does not name a configuration key"):
        load_config(None, {"BORNE_MQTT__HOTS": "x"})


@pytest.mark.parametrize("command", [["edge"], ["simulate"], ["outbox", "status"]])
def test_commands_refuse_a_broken_file_with_status_2(tmp_path: Path, command: list[str]) -> None:
    path = tmp_path / "kiosk.toml"
    path.write_text('[mqtt]\nport = "abc"\n')

    result = subprocess.run(
        [*BORNE, *command, "--config", str(path)], capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "borne: configuration error: mqtt.port: expected an integer, got str 'abc'"
    ]
    assert not (tmp_path / "data").exists()


def test_a_store_names_itself_its_loyalty_ranges_and_its_devices(tmp_path: Path) -> None:
    path = tmp_path / "kiosk.toml"
    path.write_text(
        '[device]\nstore_name = "Lyon Part-Dieu"\n'
        '[privacy]\nloyalty_prefixes = ["925", "00471"]\n'
        '[devices]\ncamera = "/dev/video0"\n'
    )

    config = load_config(path, {"BORNE_DEVICES__NFC": "usb"})

    assert config.device.store_name == "Lyon Part-Dieu"
    assert config.privacy.loyalty_prefixes == ("925", "00471")  # leading zeros kept
    assert (config.devices.camera, config.devices.nfc) == ("/dev/video0", "usb")


def test_a_kiosk_runs_no_device_and_no_store_name_unless_configured() -> None:
    config = load_config(None, {})

    assert (config.devices.camera, config.devices.nfc, config.devices.ble) == ("", "", "")
    assert config.devices.hid == ""
    assert config.device.store_name == ""
    assert config.privacy.loyalty_prefixes == ()
    assert config.catalog.source == ""


def test_a_list_key_is_comma_separated_in_the_environment() -> None:
    config = load_config(None, {"BORNE_PRIVACY__LOYALTY_PREFIXES": "925, 926,"})

    assert config.privacy.loyalty_prefixes == ("925", "926")


@pytest.mark.parametrize(
    ("text", "where", "problem"),
    [
        ("[mqtt]\nkeepalive = 65536\n", "mqtt.keepalive", "between 5 and 65535"),
        ("[mqtt]\nkeepalive = 4\n", "mqtt.keepalive", "between 5 and 65535"),
        ("[mqtt]\ninflight = 0\n", "mqtt.inflight", "between 1 and 1000"),
        ("[mqtt]\nreconnect_min = nan\n", "mqtt.reconnect_min", "finite"),
        ("[mqtt]\nreconnect_max = inf\n", "mqtt.reconnect_max", "finite"),
        ("[mqtt]\nreconnect_min = 0.0\n", "mqtt.reconnect_min", "greater than 0"),
        ("[mqtt]\nreconnect_min = 9.0\nreconnect_max = 2.0\n", "mqtt.reconnect_min", "at most"),
        ("[session]\nidle_timeout = -1\n", "session.idle_timeout", "greater than 0"),
        ("[session]\nidle_timeout = inf\n", "session.idle_timeout", "finite"),
        ("[session]\nidle_countdown = 5\n", "session.idle_countdown", "between 20 and"),
        ("[storage]\noutbox_max_bytes = 1000\n", "storage.outbox_max_bytes", "between 1048576"),
        ('[storage]\ndata_dir = ""\n', "storage.data_dir", "must not be empty"),
        ('[devices]\nble = "radio"\n', "devices.ble", '"bleak" or "simulated"'),
        ('[presence]\nstore_app_uuid = "app"\n', "presence.store_app_uuid", "must be a UUID"),
        ('[privacy]\nloyalty_prefixes = ["92a"]\n', "privacy.loyalty_prefixes", "not 1 to 14"),
        ("[privacy]\nloyalty_prefixes = [925]\n", "privacy.loyalty_prefixes", "expected a string"),
        ('[privacy]\nloyalty_prefixes = "925"\n', "privacy.loyalty_prefixes", "expected a list"),
        ('[privacy]\nloyalty_prefixes = ["1234567890123456"]\n', "privacy.loyalty_prefixes", "14"),
        ('[mqtt]\npassword = "s3cret"\n', "mqtt.password", "set mqtt.tls = true"),
        ("[kiosk]\nrotation = 45\n", "kiosk.rotation", "0, 90, 180 or 270"),
        ("[kiosk]\ndisplay_width_mm = 0\n", "kiosk.display_width_mm", "greater than 50"),
    ],
)
def test_a_value_out_of_range_or_inconsistent_is_refused(
    tmp_path: Path, text: str, where: str, problem: str
) -> None:
    test_a_bad_key_is_named_with_its_problem(tmp_path, text, where, problem)


@pytest.mark.parametrize(
    ("variable", "text", "problem"),
    [
        ("BORNE_MQTT__RECONNECT_MIN", "nan", "finite"),
        ("BORNE_SESSION__IDLE_TIMEOUT", "inf", "finite"),
        ("BORNE_MQTT__KEEPALIVE", "70000", "between 5 and 65535"),
        ("BORNE_MQTT__TLS", "maybe", "expected true or false"),
        ("BORNE_PRIVACY__LOYALTY_PREFIXES", "925,x1", "item 2"),
    ],
)
def test_a_bad_environment_value_is_named_by_its_variable(
    variable: str, text: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(None, {variable: text})

    assert caught.value.where == variable
    assert problem in caught.value.problem


def test_the_environment_overrides_the_file_key_by_key(tmp_path: Path) -> None:
    path = tmp_path / "kiosk.toml"
    path.write_text('[mqtt]\nhost = "broker.local"\nport = 8883\n')

    config = load_config(path, {"BORNE_MQTT__PORT": "1884", "BORNE_FUZZ_EXAMPLES": "9"})

    assert (config.mqtt.host, config.mqtt.port) == ("broker.local", 1884)


def test_a_password_is_never_repeated_in_an_error(tmp_path: Path) -> None:
    path = tmp_path / "kiosk.toml"
    path.write_text("[mqtt]\npassword = 424242\n")

    with pytest.raises(ConfigError) as caught:
        load_config(path, {})

    assert caught.value.where == "mqtt.password"
    assert "424242" not in str(caught.value)


def _pki(folder: Path) -> dict[str, Path]:
    files = {name: folder / f"{name}.pem" for name in ("ca", "kiosk", "kiosk-key")}
    for file in files.values():
        file.write_text("-----BEGIN CERTIFICATE-----\n")
    return files


def _tls_file(pki: dict[str, Path], **override: str) -> str:
    keys = {
        "ca_file": str(pki["ca"]),
        "cert_file": str(pki["kiosk"]),
        "key_file": str(pki["kiosk-key"]),
    } | override
    lines = "".join(f'{key} = "{value}"\n' for key, value in keys.items() if value)
    return f'[mqtt]\nhost = "127.0.0.1"\ntls = true\npassword = "s3cret"\n{lines}'


def test_tls_with_its_files_present_loads(tmp_path: Path) -> None:
    path = tmp_path / "kiosk.toml"
    path.write_text(_tls_file(_pki(tmp_path)))

    config = load_config(path, {})

    assert config.mqtt.tls
    assert config.mqtt.key_file == str(tmp_path / "kiosk-key.pem")


@pytest.mark.parametrize(
    ("override", "where", "problem"),
    [
        ({"ca_file": "/nonexistent/ca.pem"}, "mqtt.ca_file", "No such file"),
        ({"cert_file": "/nonexistent/kiosk.pem"}, "mqtt.cert_file", "No such file"),
        ({"key_file": "."}, "mqtt.key_file", "not a regular file"),
        ({"key_file": ""}, "mqtt.key_file", "private key of mqtt.cert_file"),
        ({"cert_file": ""}, "mqtt.cert_file", "certificate of mqtt.key_file"),
    ],
)
def test_tls_files_must_exist_and_go_together(
    tmp_path: Path, override: dict[str, str], where: str, problem: str
) -> None:
    path = tmp_path / "kiosk.toml"
    path.write_text(_tls_file(_pki(tmp_path), **override))

    with pytest.raises(ConfigError) as caught:
        load_config(path, {})

    assert caught.value.where == where
    assert problem in caught.value.problem


def test_certificate_files_without_tls_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "kiosk.toml"
    path.write_text(f'[mqtt]\nca_file = "{_pki(tmp_path)["ca"]}"\n')

    with pytest.raises(ConfigError) as caught:
        load_config(path, {})

    assert caught.value.where == "mqtt.tls"


def _with_data_dir(data_dir: Path) -> Config:
    return load_config(None, {"BORNE_STORAGE__DATA_DIR": str(data_dir)})


def test_a_data_dir_that_can_be_made_is_accepted_and_not_created(tmp_path: Path) -> None:
    wanted = tmp_path / "borne" / "data"

    assert check_data_dir(_with_data_dir(wanted)) == wanted
    assert check_data_dir(_with_data_dir(tmp_path)) == tmp_path
    assert not (tmp_path / "borne").exists()


def test_a_data_dir_that_is_a_file_is_refused_with_the_reason(tmp_path: Path) -> None:
    a_file = tmp_path / "borne"
    a_file.write_text("not a folder")

    for wanted, reason in [(a_file, "is not a folder"), (a_file / "data", "cannot be created")]:
        with pytest.raises(ConfigError) as caught:
            check_data_dir(_with_data_dir(wanted))
        assert caught.value.where == "storage.data_dir"
        assert reason in caught.value.problem
        assert str(a_file) in caught.value.problem


def test_a_data_dir_in_a_read_only_folder_is_refused() -> None:
    # Root writes everywhere (and CI is root): the kiosk's usual service user is not.
    as_a_service_user = (
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
        if os.geteuid() == 0
        else []
    )
    folder = Path(tempfile.mkdtemp(prefix="borne-readonly-"))
    try:
        folder.chmod(0o755)
        locked = folder / "locked"
        locked.mkdir(mode=0o555)
        for wanted in (locked, locked / "data"):
            config = folder / f"{wanted.name}.toml"
            config.write_text(f'[storage]\ndata_dir = "{wanted}"\n')
            config.chmod(0o644)
            result = subprocess.run(
                [*as_a_service_user, *BORNE, "outbox", "status", "--config", str(config)],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert result.returncode == 2, result.stderr
            assert "storage.data_dir" in result.stderr
            assert "not writable" in result.stderr
    finally:
        shutil.rmtree(folder)


@pytest.mark.parametrize("command", [["edge"], ["simulate"], ["outbox", "status"]])
def test_commands_refuse_an_unusable_data_dir_with_status_2(
    tmp_path: Path, command: list[str]
) -> None:
    a_file = tmp_path / "data"
    a_file.write_text("not a folder")
    path = write_config(tmp_path / "kiosk.toml", a_file)

    result = subprocess.run(
        [*BORNE, *command, "--config", str(path)], capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"borne: configuration error: storage.data_dir: {a_file} is not a folder"
    ]


def test_the_hub_s_variables_are_not_the_kiosk_s() -> None:
    # The hub and a kiosk may share a machine (the demo does): each reads its own.
    config = load_config(None, {"BORNE_HUB_MQTT__HOST": "hub.example", "BORNE_MQTT__PORT": "1884"})
    assert config.mqtt.host == ""
    assert config.mqtt.port == 1884
