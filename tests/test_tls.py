"""A real kiosk set-up: TLS with a client certificate whose CN is the device id.

The broker maps the certificate's CN to the username and lets each device publish
under its own topic only (ACL pattern with %u), as a retailer's broker would.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import borne, outbox_status
from tests.mosquitto import Broker, free_port

pytestmark = pytest.mark.mqtt


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


def make_pki(folder: Path, client_cn: str) -> None:
    """A throw-away CA, a broker certificate for 127.0.0.1 and a kiosk certificate."""
    curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl(
        "req",
        "-x509",
        *curve,
        "-keyout",
        str(folder / "ca.key"),
        "-out",
        str(folder / "ca.pem"),
        "-subj",
        "/CN=Borne test CA",
        "-days",
        "2",
    )
    for name, cn, extension in (
        ("broker", "127.0.0.1", "subjectAltName=IP:127.0.0.1"),
        ("kiosk", client_cn, "extendedKeyUsage=clientAuth"),
    ):
        (folder / f"{name}.ext").write_text(extension + "\n")
        openssl(
            "req",
            *curve,
            "-keyout",
            str(folder / f"{name}.key"),
            "-out",
            str(folder / f"{name}.csr"),
            "-subj",
            f"/CN={cn}",
        )
        openssl(
            "x509",
            "-req",
            "-in",
            str(folder / f"{name}.csr"),
            "-CA",
            str(folder / "ca.pem"),
            "-CAkey",
            str(folder / "ca.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            str(folder / f"{name}.ext"),
            "-out",
            str(folder / f"{name}.pem"),
        )


def tls_broker(tmp_path: Path, client_cn: str) -> Broker:
    pki = tmp_path / "pki"
    pki.mkdir()
    make_pki(pki, client_cn)
    acl = tmp_path / "acl"
    acl.write_text("pattern write borne/v1/devices/%u/#\ntopic read borne/#\n")
    directory = tmp_path / "broker"
    directory.mkdir()
    broker = Broker(
        directory,
        free_port(),
        persistent=False,
        listener_options=(
            f"cafile {pki / 'ca.pem'}\n"
            f"certfile {pki / 'broker.pem'}\nkeyfile {pki / 'broker.key'}\n"
            f"require_certificate true\nuse_identity_as_username true\nacl_file {acl}\n"
        ),
    )
    broker.start()
    return broker


def tls_config(tmp_path: Path, port: int, pki: Path) -> Path:
    """A kiosk config that connects with its certificate."""
    path = tmp_path / "kiosk.toml"
    path.write_text(
        '[device]\nstore_id = "paris-01"\ndevice_id = "kiosk-07"\n'
        f'[storage]\ndata_dir = "{tmp_path / "data"}"\nsynchronous = "normal"\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {port}\ntls = true\n'
        f'ca_file = "{pki / "ca.pem"}"\ncert_file = "{pki / "kiosk.pem"}"\n'
        f'key_file = "{pki / "kiosk.key"}"\nreconnect_min = 0.1\nreconnect_max = 0.5\n'
    )
    return path


def simulate_over_tls(
    tmp_path: Path, client_cn: str, timeout: float
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """Two journeys against a TLS broker that knows the kiosk as `client_cn`."""
    broker = tls_broker(tmp_path, client_cn)
    try:
        config = tls_config(tmp_path, broker.port, tmp_path / "pki")
        result = borne(
            "simulate",
            "--config",
            str(config),
            "--journeys",
            "2",
            "--wait-delivered",
            "--timeout",
            str(timeout),
        )
    finally:
        broker.kill()
    return config, result


def test_events_travel_over_mutual_tls(tmp_path: Path) -> None:
    config, result = simulate_over_tls(tmp_path, "kiosk-07", timeout=60)

    assert result.returncode == 0, result.stderr
    status = outbox_status(config)
    assert status["queued"] == 0
    assert status["delivered_total"] == json.loads(result.stdout)["events"]


def test_events_the_broker_refuses_stay_in_the_outbox(tmp_path: Path) -> None:
    # The certificate says kiosk-99, the configuration kiosk-07: the broker's ACL
    # refuses every event (PUBACK reason 135, not authorized). None may be deleted.
    config, result = simulate_over_tls(tmp_path, "kiosk-99", timeout=8)

    assert result.returncode == 1
    assert "not authorized" in result.stderr.lower()
    status = outbox_status(config)
    assert status["delivered_total"] == 0
    assert status["queued"] == status["last_sequence"] > 0
