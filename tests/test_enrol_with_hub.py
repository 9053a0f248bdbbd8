"""`borne enrol` against the real hub (edge.hub.enrolment), then events over mutual TLS.

The hub runs in the test process as `borne hub serve` runs it (its enroller, registry,
CA and HTTPS endpoint); `borne hub broker-config` writes mosquitto's files, and the
kiosk enrolled by `borne enrol` delivers its events to that mosquitto with the
certificate it was given.
"""

from __future__ import annotations

import dataclasses
import json
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from edge.config import load_config
from edge.enrol.client import enrol
from edge.enrol.code import EnrolCode
from edge.hub.enrolment.broker_files import BrokerFiles
from edge.hub.enrolment.ca import HubCA
from edge.hub.enrolment.enroller import Enroller, HubIdentity
from edge.hub.enrolment.registry import Registry
from edge.hub.enrolment.server import EnrolmentServer, server_tls_context
from tests.conftest import borne, outbox_status
from tests.mosquitto import Broker, free_port

STORE = "paris-01"


@dataclasses.dataclass
class Clock:
    """The hub's clock, moved by the test."""

    now: datetime = dataclasses.field(default_factory=lambda: datetime.now(UTC))

    def __call__(self) -> datetime:
        return self.now


@dataclasses.dataclass
class RunningHub:
    enroller: Enroller
    server: EnrolmentServer

    def code(self, device: str = "") -> EnrolCode:
        """A fresh code, naming the endpoint's real port."""
        code = self.enroller.new_code(STORE, device)
        return dataclasses.replace(code, hub_url=f"https://127.0.0.1:{self.server.port}")


@contextmanager
def hub_serving(
    folder: Path, broker_port: int, broker_dir: Path | None = None, clock: Clock | None = None
) -> Iterator[RunningHub]:
    clock = clock or Clock()
    ca = HubCA.open(folder / "ca", clock=clock)
    identity = HubIdentity(
        public_url="https://127.0.0.1:8443",
        broker_host="127.0.0.1",
        broker_port=broker_port,
        pseudonym_key_hex="5e" * 32,
        store_names=((STORE, "Paris Rivoli"),),
    )
    broker = BrokerFiles(broker_dir, ca) if broker_dir is not None else None
    enroller = Enroller(ca, Registry(folder / "enrolment.sqlite"), identity, broker, clock=clock)
    context = server_tls_context(enroller, "127.0.0.1", folder / "ca", days=2)
    server = EnrolmentServer(enroller, "127.0.0.1", 0, context)
    server.start()
    try:
        yield RunningHub(enroller, server)
    finally:
        server.close()


def kiosk_config(folder: Path) -> Path:
    folder.mkdir(parents=True)
    config = folder / "borne.toml"
    config.write_text(
        f'[storage]\ndata_dir = "{folder / "data"}"\nsynchronous = "normal"\n'
        "[mqtt]\nreconnect_min = 0.1\nreconnect_max = 0.5\n"
    )
    return config


def test_the_hub_enrols_a_kiosk_once_per_code(tmp_path: Path) -> None:
    clock = Clock()
    with hub_serving(tmp_path / "hub", broker_port=8883, clock=clock) as hub:
        code = hub.code()
        late_code = hub.code()
        first = kiosk_config(tmp_path / "kiosk-a")
        second = kiosk_config(tmp_path / "kiosk-b")

        enrolled = borne("enrol", "--code", code.text(), "--config-out", str(first))
        reused = borne("enrol", "--code", code.text(), "--config-out", str(second))
        clock.now += timedelta(minutes=11)
        late = borne("enrol", "--code", late_code.text(), "--config-out", str(second))

    assert enrolled.returncode == 0, enrolled.stderr
    config = load_config(first, environ={})
    assert config.device.store_id == STORE
    assert config.device.store_name == "Paris Rivoli"
    assert config.mqtt.tls
    certificate = x509.load_pem_x509_certificate(Path(config.mqtt.cert_file).read_bytes())
    ca = x509.load_pem_x509_certificate(Path(config.mqtt.ca_file).read_bytes())
    certificate.verify_directly_issued_by(ca)
    assert ca.public_bytes(Encoding.PEM) == hub.enroller.ca.certificate_pem
    assert reused.returncode == 2, reused.stderr
    assert "borne: enrolment refused: this code was already used" in reused.stderr
    assert late.returncode == 2, late.stderr
    expiry = late_code.expires_at.astimezone().strftime("%Y-%m-%d %H:%M")
    assert f"borne: enrolment refused: this code expired at {expiry}" in late.stderr
    assert not (second.parent / "device.key").exists()


def test_enrolling_an_enrolled_kiosk_again_asks_for_its_own_id(tmp_path: Path) -> None:
    """A kiosk enrolled again asks the hub for the id its configuration has, as its
    screen does: never a second name in the store while the first stays enrolled."""
    with hub_serving(tmp_path / "hub", broker_port=8883) as hub:
        config = kiosk_config(tmp_path / "kiosk")
        first = borne("enrol", "--code", hub.code().text(), "--config-out", str(config))
        named = load_config(config, environ={}).device.device_id
        taken = borne("enrol", "--code", hub.code().text(), "--config-out", str(config))
        hub.enroller.revoke(named)  # the hub's operator retired the old certificate
        again = borne("enrol", "--code", hub.code().text(), "--config-out", str(config))

    assert first.returncode == 0, first.stderr
    assert taken.returncode == 2, taken.stderr
    assert f"borne: enrolment refused: {named} is already enrolled" in taken.stderr
    assert f"borne hub enrol-code --config HUB.toml --store {STORE} --device {named}" in (
        taken.stderr
    )
    assert again.returncode == 0, again.stderr
    assert f"Enrolled {named} in store {STORE}" in again.stdout
    assert load_config(config, environ={}).device.device_id == named


def test_a_retried_enrolment_gets_the_same_certificate_from_the_hub(tmp_path: Path) -> None:
    with hub_serving(tmp_path / "hub", broker_port=8883) as hub:
        code = hub.code("kiosk-07")
        first = enrol(code, tmp_path / "kiosk")  # its answer lost: never installed
        again = enrol(code, tmp_path / "kiosk")

    assert again.certificate_pem == first.certificate_pem
    assert again.device_id == "kiosk-07"


@pytest.mark.mqtt
def test_an_enrolled_kiosk_delivers_its_events_over_mutual_tls(tmp_path: Path) -> None:
    port = free_port()
    hub_config = tmp_path / "hub.toml"
    (tmp_path / "pseudonym.key").write_text("5e" * 32)
    hub_config.write_text(
        f'[store]\ndata_dir = "{tmp_path / "hub"}"\n'
        f'[privacy]\npseudonym_key_file = "{tmp_path / "pseudonym.key"}"\n'
        '[mqtt]\nclient_id = "hub-test-1"\n'
        '[enrol]\npublic_url = "https://127.0.0.1:8443"\nbroker_host = "127.0.0.1"\n'
        f'broker_port = {port}\nbroker_dir = "{tmp_path / "broker"}"\n'
    )
    written = borne("hub", "broker-config", "--config", str(hub_config))
    assert written.returncode == 0, written.stderr
    config = kiosk_config(tmp_path / "kiosk")
    with hub_serving(tmp_path / "hub", port, broker_dir=tmp_path / "broker") as hub:
        enrolled = borne("enrol", "--code", hub.code().text(), "--config-out", str(config))
    assert enrolled.returncode == 0, enrolled.stderr
    (tmp_path / "mosquitto").mkdir()
    broker = Broker(
        tmp_path / "mosquitto",
        port,
        persistent=False,
        given_config=tmp_path / "broker" / "mosquitto.conf",
    )
    broker.start()
    try:
        result = borne(
            "simulate",
            "--config",
            str(config),
            "--journeys",
            "2",
            "--wait-delivered",
            "--timeout",
            "60",
        )
    finally:
        broker.kill(signal.SIGTERM)

    assert result.returncode == 0, result.stderr
    status = outbox_status(config)
    assert status["queued"] == 0
    assert status["delivered_total"] == json.loads(result.stdout)["events"] > 0
