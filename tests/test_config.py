"""The configuration file: defaults, overrides, and one clear message for a broken file."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from edge.config import load_config
from edge.errors import ConfigError
from tests.conftest import BORNE


def test_every_key_has_a_default() -> None:
    config = load_config(None, {})
    assert config.mqtt.host == ""  # no broker: events wait in the outbox
    assert config.mqtt.port == 1883
    assert config.storage.data_dir == "/var/lib/borne"


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
