"""Issue 12's acceptance, run as an installer runs it: every step a `borne` command.

One hub on loopback (`borne hub broker-config`, then a real mosquitto on the files it
wrote, then `borne hub serve` with the `[mqtt]` lines broker-config printed), kiosks
enrolled by `borne enrol` from the codes `borne hub enrol-code` printed, `borne simulate`
delivering over mutual TLS to the hub, `borne hub revoke`, and `borne doctor` on an
enrolled kiosk. The steps share the hub and the broker; each test checks one claim a
user notices, and only the revocation changes what the others see (it needs nothing
after it: the first kiosk's delivery is done by its fixture, whatever the order).
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from edge.config import Config, load_config
from edge.enrol.code import parse_enrol_code
from edge.hub.config import load_hub_config
from edge.hub.enrolment.setup import open_enroller
from tests.conftest import BORNE, borne
from tests.mosquitto import Broker, free_port, wait_for_port
from tests.test_hub_enrolment_broker import Client

pytestmark = pytest.mark.mqtt

WAIT = 20.0  # seconds before a step gives up on what should happen
HUB_ID = "hub-acceptance"


@dataclasses.dataclass
class Estate:
    """The hub's configuration, its mosquitto, and `borne hub serve` running."""

    folder: Path
    config: Path
    broker: Broker
    hub: subprocess.Popen[str] | None = None

    @property
    def broker_dir(self) -> Path:
        return self.folder / "broker"

    def enrol_code(self, store: str) -> str:
        """The code line `borne hub enrol-code` prints first."""
        made = borne("hub", "enrol-code", "--config", str(self.config), "--store", store)
        assert made.returncode == 0, made.stderr
        return made.stdout.splitlines()[0]

    def enrol(self, name: str, code: str) -> tuple[subprocess.CompletedProcess[str], Path]:
        """`borne enrol` into a kiosk folder of its own (its storage already set, as an
        installer's base configuration would have it)."""
        folder = self.folder / name
        folder.mkdir()
        config = folder / "borne.toml"
        config.write_text(
            f'[storage]\ndata_dir = "{folder / "data"}"\nsynchronous = "normal"\n'
            "[mqtt]\nreconnect_min = 0.1\nreconnect_max = 0.5\n"
        )
        reloads = self.reloads()
        result = borne("enrol", "--code", code, "--config-out", str(config))
        if result.returncode == 0:
            # The hub ran its broker_reload (a SIGHUP): wait until mosquitto read the ACL.
            deadline = time.monotonic() + WAIT
            while self.reloads() == reloads and time.monotonic() < deadline:
                time.sleep(0.05)
        return result, config

    def reloads(self) -> int:
        """How many times mosquitto has read its configuration again."""
        return (self.broker.directory / "mosquitto.log").read_text().count("Reloading config")

    def client(self, kiosk: Config, client_id: str = "") -> Client:
        """A paho MQTT 5 client with a kiosk's certificate (not connected)."""
        mqtt = kiosk.mqtt
        return Client(
            self.broker.port,
            Path(mqtt.ca_file),
            Path(mqtt.cert_file),
            Path(mqtt.key_file),
            client_id or f"{kiosk.device.device_id}-probe",
        )

    def platform_client(self) -> Client:
        """The hub's certificate under another client id (`borne hub serve` keeps its own)."""
        folder = self.broker_dir
        return Client(
            self.broker.port, folder / "ca.pem", folder / "hub.pem", folder / "hub.key", "platform"
        )

    def restart_broker(self) -> None:
        self.broker.kill(signal.SIGTERM)
        self.broker.start()
        write_pid(self.broker)

    def hub_status(self) -> dict[str, dict[str, Any]]:
        """`borne hub status --json`, by device id."""
        status = borne("hub", "status", "--config", str(self.config), "--json")
        assert status.returncode == 0, status.stderr
        lines = [json.loads(line) for line in status.stdout.splitlines()]
        return {line["device_id"]: line for line in lines}


def write_pid(broker: Broker) -> None:
    """Where the hub's broker_reload finds mosquitto's pid."""
    assert broker.process is not None
    (broker.directory / "pid").write_text(str(broker.process.pid))


def hub_sections(folder: Path, enrol_port: int, broker_port: int, pid_file: Path) -> str:
    (folder / "pseudonym.key").write_text(secrets.token_hex(32))
    reload = ["sh", "-c", f'kill -HUP "$(cat {pid_file})"']
    return (
        f'[store]\ndata_dir = "{folder / "hub"}"\n'
        f'[privacy]\npseudonym_key_file = "{folder / "pseudonym.key"}"\n'
        f'[enrol]\npublic_url = "https://127.0.0.1:{enrol_port}"\n'
        f'listen_host = "127.0.0.1"\nlisten_port = {enrol_port}\n'
        f'broker_host = "127.0.0.1"\nbroker_port = {broker_port}\n'
        f'broker_dir = "{folder / "broker"}"\nbroker_reload = {json.dumps(reload)}\n'
        'store_names = { "paris-01" = "Paris Rivoli", "lyon-02" = "Lyon Part-Dieu" }\n'
    )


def printed_mqtt_lines(stdout: str) -> str:
    """The `[mqtt]` lines `borne hub broker-config` tells the installer to add."""
    lines = stdout.split("in this file's [mqtt]:\n", 1)[1].splitlines()
    return "\n".join(line.strip() for line in lines if line.startswith("  ")) + "\n"


def wait_for_line(path: Path, text: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + WAIT
    while text not in path.read_text():
        assert process.poll() is None, f"borne hub serve stopped: {path.read_text()}"
        assert time.monotonic() < deadline, f"no {text!r} in {path.read_text()}"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Estate]:
    folder = tmp_path_factory.mktemp("acceptance")
    enrol_port = free_port()
    broker_port = free_port()
    while broker_port == enrol_port:
        broker_port = free_port()
    (folder / "mosquitto").mkdir()
    config = folder / "hub.toml"
    sections = hub_sections(folder, enrol_port, broker_port, folder / "mosquitto" / "pid")
    config.write_text(sections + f'[mqtt]\nclient_id = "{HUB_ID}"\n')

    written = borne("hub", "broker-config", "--config", str(config))
    assert written.returncode == 0, written.stderr
    # The installer copies the [mqtt] lines it printed into the hub's file.
    config.write_text(sections + "[mqtt]\n" + printed_mqtt_lines(written.stdout))
    assert load_hub_config(config, environ={}).mqtt.effective_client_id == HUB_ID

    broker = Broker(
        folder / "mosquitto",
        broker_port,
        persistent=False,
        given_config=folder / "broker" / "mosquitto.conf",
    )
    broker.start()
    write_pid(broker)
    estate = Estate(folder, config, broker)
    log = folder / "hub-serve.log"
    try:
        with log.open("w") as stderr:
            estate.hub = subprocess.Popen(
                [*BORNE, "hub", "serve", "--config", str(config)],
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )
        wait_for_port(enrol_port, WAIT)
        # Kiosks' events published before the hub subscribed would go to no one.
        wait_for_line(log, "subscribed to the kiosks' events", estate.hub)
        yield estate
    finally:
        if estate.hub is not None and estate.hub.poll() is None:
            os.kill(estate.hub.pid, signal.SIGTERM)
            estate.hub.communicate(timeout=WAIT)
        broker.kill(signal.SIGTERM)


@dataclasses.dataclass(frozen=True)
class Enrolled:
    code: str
    enrolled: subprocess.CompletedProcess[str]
    config_path: Path

    @property
    def config(self) -> Config:
        return load_config(self.config_path, environ={})


@dataclasses.dataclass(frozen=True)
class Delivered:
    kiosk: Enrolled
    simulated: subprocess.CompletedProcess[str]
    events: int  # what simulate says it delivered
    status: dict[str, Any]  # the hub's status of the kiosk once it stored them


@pytest.fixture(scope="module")
def first(estate: Estate) -> Enrolled:
    """A kiosk of Paris enrolled from a code the hub printed."""
    code = estate.enrol_code("paris-01")
    enrolled, config = estate.enrol("kiosk-a", code)
    assert enrolled.returncode == 0, enrolled.stderr
    return Enrolled(code, enrolled, config)


@pytest.fixture(scope="module")
def delivered(estate: Estate, first: Enrolled) -> Delivered:
    """The first kiosk's journeys, delivered over mutual TLS, and stored by the hub."""
    simulated = borne(
        "simulate",
        "--config",
        str(first.config_path),
        "--journeys",
        "3",
        "--wait-delivered",
        "--timeout",
        "60",
    )
    assert simulated.returncode == 0, simulated.stderr
    events = int(json.loads(simulated.stdout)["events"])
    device = first.config.device.device_id
    # A PUBACK proves the broker has them; the hub stores them a moment later.
    deadline = time.monotonic() + WAIT
    status = estate.hub_status().get(device, {})
    while status.get("events_stored", 0) < events and time.monotonic() < deadline:
        time.sleep(0.2)
        status = estate.hub_status().get(device, {})
    return Delivered(first, simulated, events, status)


@pytest.fixture(scope="module")
def second(estate: Estate) -> Enrolled:
    """A kiosk of another store (Lyon), enrolled with its own code."""
    code = estate.enrol_code("lyon-02")
    enrolled, config = estate.enrol("kiosk-b", code)
    assert enrolled.returncode == 0, enrolled.stderr
    return Enrolled(code, enrolled, config)


def test_a_printed_code_enrols_a_kiosk_whose_key_only_it_can_read(
    estate: Estate, first: Enrolled
) -> None:
    config = first.config

    assert parse_enrol_code(first.code).store_id == "paris-01"
    assert f"Enrolled {config.device.device_id} in store paris-01 (Paris Rivoli)" in (
        first.enrolled.stdout
    )
    assert config.device.store_id == "paris-01"
    assert config.mqtt.tls
    assert (config.mqtt.host, config.mqtt.port) == ("127.0.0.1", estate.broker.port)
    assert all(Path(f).is_file() for f in (config.mqtt.ca_file, config.mqtt.cert_file))
    assert Path(config.mqtt.key_file).stat().st_mode & 0o777 == 0o600


def test_the_enrolled_kiosk_delivers_its_journeys_to_the_hub(delivered: Delivered) -> None:
    assert delivered.events > 0
    assert delivered.status["events_stored"] == delivered.events
    assert delivered.status["store_id"] == "paris-01"
    assert delivered.status["open"]["sequences"] == 0
    assert delivered.status["highest"] == delivered.status["last_contiguous"]


def test_another_kiosk_cannot_publish_as_the_first(
    estate: Estate, first: Enrolled, second: Enrolled
) -> None:
    intruder = estate.client(second.config)
    assert intruder.connect() == "connected"
    try:
        # Its own health topic (which the hub does not store) is open to it...
        assert intruder.publish(f"borne/v1/devices/{second.config.device.device_id}/health") < 0x80
        # ...the first kiosk's topics are not: the hub would take these for its events.
        first_topics = f"borne/v1/devices/{first.config.device.device_id}"
        assert intruder.publish(f"{first_topics}/events/io.borne.card.tapped") >= 0x80
        assert intruder.publish(f"{first_topics}/state") >= 0x80
        assert intruder.publish(f"{first_topics}/health") >= 0x80
    finally:
        intruder.close()


def test_a_kiosk_hears_its_own_store_and_not_the_other(estate: Estate, second: Enrolled) -> None:
    lyon = estate.client(second.config)
    platform = estate.platform_client()
    assert lyon.connect() == platform.connect() == "connected"
    try:
        lyon.subscribe("borne/v1/stores/paris-01/#", "borne/v1/stores/lyon-02/#")
        # Paris first: one publisher's order is kept, so once Lyon's change arrives,
        # Paris's would have arrived before it.
        assert platform.publish("borne/v1/stores/paris-01/catalog/changes", b"paris") < 0x80
        assert platform.publish("borne/v1/stores/lyon-02/catalog/changes", b"lyon") < 0x80

        assert lyon.messages.get(timeout=WAIT) == (
            "borne/v1/stores/lyon-02/catalog/changes",
            b"lyon",
        )
        assert lyon.messages.empty()
    finally:
        lyon.close()
        platform.close()


def test_a_used_code_is_refused(estate: Estate, first: Enrolled) -> None:
    again, config = estate.enrol("kiosk-reused", first.code)

    assert again.returncode == 2, again.stderr
    assert "borne: enrolment refused: this code was already used" in again.stderr
    assert not (config.parent / "device.key").exists()


def test_an_expired_code_is_refused(estate: Estate) -> None:
    # A code made eleven minutes ago by the same hub (its registry), as if the
    # installer had waited past its ten minutes.
    eleven_minutes_ago = datetime.now(UTC) - timedelta(minutes=11)
    hub = open_enroller(
        load_hub_config(estate.config, environ={}), clock=lambda: eleven_minutes_ago
    )
    late = hub.new_code("paris-01").text()

    refused, config = estate.enrol("kiosk-late", late)

    assert refused.returncode == 2, refused.stderr
    assert "borne: enrolment refused: this code expired at" in refused.stderr
    assert not (config.parent / "device.key").exists()


def test_a_forged_code_is_refused(estate: Estate) -> None:
    genuine = parse_enrol_code(estate.enrol_code("paris-01"))
    forged = dataclasses.replace(genuine, token=secrets.token_urlsafe(32)).text()

    refused, config = estate.enrol("kiosk-forged", forged)

    assert refused.returncode == 2, refused.stderr
    assert "this code is not one the hub issued" in refused.stderr
    assert not (config.parent / "device.key").exists()


def test_doctor_passes_the_enrolled_kiosks_broker_and_clock(second: Enrolled) -> None:
    ran = borne(
        "doctor",
        "--config",
        str(second.config_path),
        "--only",
        "broker,clock,disk,outbox",
        "--json",
    )

    assert ran.returncode == 0, ran.stdout + ran.stderr
    report = json.loads(ran.stdout)
    results = {result["check"]: result for result in report["results"]}
    assert results["broker"]["outcome"] == "pass", results["broker"]
    assert results["broker"]["details"]["other_device"] == "Not authorized"
    assert results["clock"]["outcome"] == "pass", results["clock"]
    assert report["report_event"]["queued"]  # for the platform, with the kiosk's events
    assert report["device_id"] == second.config.device.device_id


def test_a_revoked_kiosk_is_cut_off_once_the_broker_restarts(
    estate: Estate, delivered: Delivered, second: Enrolled
) -> None:
    kiosk = delivered.kiosk.config
    # The stolen kiosk is online when the hub revokes it.
    stolen = estate.client(kiosk, f"{kiosk.device.device_id}-stolen")
    assert stolen.connect() == "connected"
    refused, still = estate.client(kiosk), estate.client(second.config)
    try:
        revoked = borne(
            "hub", "revoke", "--config", str(estate.config), "--device", kiosk.device.device_id
        )
        assert revoked.returncode == 0, revoked.stderr
        assert "Restart mosquitto now" in revoked.stdout
        estate.restart_broker()

        # The restart cuts its connection, and its certificate cannot connect again.
        assert stolen.connected.get(timeout=WAIT).startswith("disconnected")
        assert refused.connect() != "connected"
        assert still.connect() == "connected"
        assert "connected" not in list(stolen.connected.queue)  # paho kept trying
    finally:
        for client in (stolen, refused, still):
            client.close()
    listed = borne("hub", "enrolled", "--config", str(estate.config), "--json")
    assert [json.loads(line)["device_id"] for line in listed.stdout.splitlines()] == [
        second.config.device.device_id
    ]
