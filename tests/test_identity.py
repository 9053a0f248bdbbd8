"""A kiosk is who its certificate says: no default device id, a mismatch said at start."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from edge.bootstrap import check_ready
from edge.config import load_config
from edge.errors import ConfigError
from tests.conftest import write_config
from tests.test_tls import make_pki


def kiosk_config(tmp_path: Path, device: str) -> Path:
    pki = tmp_path / "pki"
    pki.mkdir()
    make_pki(pki, "kiosk-07")
    return write_config(
        tmp_path / "kiosk.toml",
        tmp_path / "data",
        device=device,
        mqtt=(
            f'host = "127.0.0.1"\ntls = true\nca_file = "{pki / "ca.pem"}"\n'
            f'cert_file = "{pki / "kiosk.pem"}"\nkey_file = "{pki / "kiosk.key"}"'
        ),
    )


def test_a_kiosk_without_a_device_id_is_told_the_one_its_certificate_names(
    tmp_path: Path,
) -> None:
    config = load_config(kiosk_config(tmp_path, 'store_id = "paris-01"'), environ={})

    with pytest.raises(ConfigError, match=r"device\.device_id.*certificate names 'kiosk-07'"):
        check_ready(config, simulators_allowed=True)


def test_a_device_id_other_than_the_certificates_is_said_at_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = kiosk_config(tmp_path, 'store_id = "paris-01"\ndevice_id = "kiosk-08"')

    with caplog.at_level(logging.ERROR, logger="edge.identity"):
        check_ready(load_config(path, environ={}), simulators_allowed=True)

    (said,) = [record.getMessage() for record in caplog.records]
    assert "'kiosk-08'" in said
    assert "names 'kiosk-07'" in said


def test_an_unreadable_certificate_is_a_configuration_error(tmp_path: Path) -> None:
    path = kiosk_config(tmp_path, 'store_id = "paris-01"\ndevice_id = "kiosk-07"')
    (tmp_path / "pki" / "kiosk.pem").write_text("not a certificate")

    with pytest.raises(ConfigError, match=r"mqtt\.cert_file.*not a PEM certificate"):
        check_ready(load_config(path, environ={}), simulators_allowed=True)
