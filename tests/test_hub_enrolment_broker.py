"""The broker the hub configures: a real mosquitto on the files `broker-config` writes.

Kiosks enrolled through the hub's HTTPS endpoint connect with mutual TLS and may publish
under their own id only and read their own store's streams; a certificate from another
CA, a revoked one, or a replaced kiosk's old one is refused once the broker restarts.
"""

from __future__ import annotations

import datetime as dt
import queue
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edge.hub.config import load_hub_config
from tests.conftest import borne
from tests.hub_enrolment import Hub, Kiosk, running_hub
from tests.mosquitto import Broker, free_port

pytestmark = pytest.mark.mqtt

WAIT = 15.0  # seconds before a test gives up on an answer that should come
HUB_ID = "hub-test-1"


@dataclass
class Client:
    """A paho MQTT 5 client over mutual TLS that records what the broker answers."""

    port: int
    ca_file: Path
    cert_file: Path
    key_file: Path
    client_id: str
    connected: queue.Queue[str] = field(default_factory=queue.Queue)
    acks: dict[int, queue.Queue[int]] = field(default_factory=dict)
    messages: queue.Queue[tuple[str, bytes]] = field(default_factory=queue.Queue)
    subacks: queue.Queue[list[int]] = field(default_factory=queue.Queue)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.paho = mqtt.Client(
            CallbackAPIVersion.VERSION2, self.client_id, protocol=MQTTProtocolVersion.MQTTv5
        )
        self.paho.tls_set(str(self.ca_file), str(self.cert_file), str(self.key_file))
        self.paho.on_connect = self._on_connect
        self.paho.on_disconnect = self._on_disconnect
        self.paho.on_publish = self._on_publish
        self.paho.on_message = self._on_message
        self.paho.on_subscribe = self._on_subscribe

    def connect(self) -> str:
        """'connected', or why not: the handshake or the broker refused."""
        try:
            self.paho.connect("127.0.0.1", self.port)
        except OSError as error:  # ssl.SSLError included: the handshake failed
            return f"refused at the handshake ({error})"
        self.paho.loop_start()
        return self.connected.get(timeout=WAIT)

    def publish(self, topic: str, payload: bytes = b"{}") -> int:
        """The PUBACK's reason code (below 0x80: accepted; 0x10: accepted, no subscriber)."""
        with self.lock:  # the PUBACK may come before `publish` returns its mid
            info = self.paho.publish(topic, payload, qos=1)
            answer = self.acks.setdefault(info.mid, queue.Queue())
        return answer.get(timeout=WAIT)

    def subscribe(self, *topics: str) -> list[int]:
        """The SUBACK's reason codes."""
        self.paho.subscribe([(topic, 1) for topic in topics])
        return self.subacks.get(timeout=WAIT)

    def close(self) -> None:
        self.paho.disconnect()
        self.paho.loop_stop()

    def _on_connect(self, _c: Any, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
        self.connected.put("connected" if reason.value == 0 else f"refused: {reason}")

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
        self.connected.put(f"disconnected: {reason}")

    def _on_publish(self, _c: Any, _u: Any, mid: int, reason: ReasonCode, _p: Any) -> None:
        with self.lock:
            self.acks.setdefault(mid, queue.Queue()).put(reason.value)

    def _on_message(self, _c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
        self.messages.put((message.topic, bytes(message.payload)))

    def _on_subscribe(
        self, _c: Any, _u: Any, _m: int, reasons: list[ReasonCode], _p: Properties | None
    ) -> None:
        self.subacks.put([reason.value for reason in reasons])


@dataclass
class Estate:
    """A hub with its enrolment endpoint, and the mosquitto its broker-config wrote."""

    hub: Hub
    broker: Broker
    folder: Path
    clients: list[Client] = field(default_factory=list)

    @property
    def broker_dir(self) -> Path:
        return self.folder / "broker"

    def enrol(self, store: str, device: str, kiosk: Kiosk | None = None) -> Client:
        """A kiosk enrolled through the HTTPS endpoint, as an MQTT client (not connected)."""
        kiosk = kiosk or Kiosk()
        reloads = self.reloads()
        code = self.hub.enroller.new_code(store, device)  # may replace an enrolled kiosk
        status, answer = self.hub.enrol(code.token, kiosk)
        assert status == 200, answer
        # The hub ran its broker_reload (SIGHUP): wait until mosquitto has read the ACL.
        self.wait_for_reloads(reloads + 1)
        # A folder of its own: a replaced kiosk's files stay as they were.
        folder = self.folder / "kiosks" / f"{device}-{len(self.clients)}"
        certificate, key = kiosk.write(folder, answer["certificate"])
        return self.client(device, certificate, key)

    def client(self, client_id: str, certificate: Path, key: Path) -> Client:
        client = Client(self.broker.port, self.broker_dir / "ca.pem", certificate, key, client_id)
        self.clients.append(client)
        return client

    def wait_for_reloads(self, count: int) -> None:
        """Until mosquitto has read its configuration again `count` times in all."""
        deadline = time.monotonic() + WAIT
        while self.reloads() < count and time.monotonic() < deadline:
            time.sleep(0.05)

    def reloads(self) -> int:
        """How many times mosquitto has read its configuration again."""
        return (self.broker.directory / "mosquitto.log").read_text().count("Reloading config")

    def hub_client(self) -> Client:
        return self.client(HUB_ID, self.broker_dir / "hub.pem", self.broker_dir / "hub.key")

    def restart_broker(self) -> None:
        for client in self.clients:
            client.paho.loop_stop()
        self.broker.kill(signal.SIGTERM)
        self.broker.start()
        write_pid(self.broker)


def write_pid(broker: Broker) -> None:
    """Where the hub's broker_reload command finds mosquitto's pid."""
    assert broker.process is not None
    (broker.directory / "pid").write_text(str(broker.process.pid))


def write_hub_config(folder: Path, port: int) -> Path:
    (folder / "pseudonym.key").write_text("5e" * 32)
    config = folder / "hub.toml"
    config.write_text(
        f'[store]\ndata_dir = "{folder / "hub"}"\n'
        f'[privacy]\npseudonym_key_file = "{folder / "pseudonym.key"}"\n'
        f'[mqtt]\nclient_id = "{HUB_ID}"\n'
        '[enrol]\npublic_url = "https://127.0.0.1:8443"\nbroker_host = "127.0.0.1"\n'
        f'broker_port = {port}\nbroker_dir = "{folder / "broker"}"\n'
    )
    return config


@pytest.fixture
def estate(tmp_path: Path) -> Iterator[Estate]:
    port = free_port()
    config = write_hub_config(tmp_path, port)
    result = borne("hub", "broker-config", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert f"mosquitto -c {tmp_path / 'broker' / 'mosquitto.conf'}" in result.stdout
    hub_config = load_hub_config(config, environ={})
    assert hub_config.enrol.broker_dir == str(tmp_path / "broker")
    (tmp_path / "mosquitto").mkdir()
    broker = Broker(
        tmp_path / "mosquitto",
        port,
        persistent=False,
        given_config=tmp_path / "broker" / "mosquitto.conf",
    )
    broker.start()
    write_pid(broker)
    # The enrolment endpoint of the same hub: same CA, same registry, same broker files;
    # mosquitto re-reads the ACL on SIGHUP.
    reload = ("sh", "-c", f'kill -HUP "$(cat {broker.directory / "pid"})"')
    with running_hub(tmp_path / "hub", broker_dir=tmp_path / "broker", broker_reload=reload) as hub:
        estate = Estate(hub, broker, tmp_path)
        # The hub wrote a fresh CRL and reloaded the broker as it started.
        estate.wait_for_reloads(1)
        try:
            yield estate
        finally:
            for client in estate.clients:
                client.paho.loop_stop()
            broker.kill(signal.SIGTERM)


def test_an_enrolled_kiosk_publishes_its_events_and_nothing_under_another_id(
    estate: Estate,
) -> None:
    kiosk = estate.enrol("paris-01", "kiosk-07")
    estate.enrol("paris-01", "kiosk-08")

    assert kiosk.connect() == "connected"
    topic = "borne/v1/devices/kiosk-07/events/io.borne.product.scanned"
    assert kiosk.publish(topic) < 0x80
    assert kiosk.publish("borne/v1/devices/kiosk-07/state") < 0x80
    assert kiosk.publish("borne/v1/devices/kiosk-07/req/sync") < 0x80
    assert kiosk.publish("borne/v1/hub/hub-1/res/replay") < 0x80
    assert kiosk.publish("borne/v1/devices/kiosk-08/events/io.borne.product.scanned") >= 0x80
    assert kiosk.publish("borne/v1/stores/paris-01/catalog/changes") >= 0x80


def test_a_kiosk_hears_its_own_store_and_not_another(estate: Estate) -> None:
    paris = estate.enrol("paris-01", "kiosk-07")
    estate.enrol("lyon-02", "kiosk-20")
    hub = estate.hub_client()
    assert paris.connect() == hub.connect() == "connected"
    paris.subscribe("borne/v1/stores/lyon-02/#", "borne/v1/stores/paris-01/#")

    # The other store's change first: the broker keeps one publisher's order, so once
    # the own store's arrives, the other's would have arrived before it.
    assert hub.publish("borne/v1/stores/lyon-02/catalog/changes", b"lyon") < 0x80
    assert hub.publish("borne/v1/stores/paris-01/catalog/changes", b"paris") < 0x80

    assert paris.messages.get(timeout=WAIT) == (
        "borne/v1/stores/paris-01/catalog/changes",
        b"paris",
    )
    assert paris.messages.empty()


def test_the_hub_certificate_reads_every_kiosks_events_on_the_shared_subscription(
    estate: Estate,
) -> None:
    kiosk = estate.enrol("paris-01", "kiosk-07")
    hub = estate.hub_client()
    assert hub.connect() == kiosk.connect() == "connected"

    granted = hub.subscribe("$share/borne-hub/borne/v1/devices/+/events/#")
    assert all(code < 0x80 for code in granted), granted
    topic = "borne/v1/devices/kiosk-07/events/io.borne.card.tapped"
    assert kiosk.publish(topic, b"tap") == 0  # the hub subscribes: not 0x10

    assert hub.messages.get(timeout=WAIT) == (topic, b"tap")


def test_a_certificate_from_another_ca_is_refused_at_the_handshake(estate: Estate) -> None:
    stranger = Kiosk()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kiosk-07")])
    own_ca = ec.generate_private_key(ec.SECP256R1())

    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Borne hub CA")]))
        .public_key(stranger.key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(own_ca, hashes.SHA256())
    )
    pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
    cert_file, key_file = stranger.write(estate.folder / "stranger", pem)

    outcome = estate.client("kiosk-07", cert_file, key_file).connect()

    assert outcome != "connected"
    assert "refused at the handshake" in outcome or "disconnected" in outcome


def test_revoked_and_replaced_certificates_are_refused_after_a_broker_restart(
    estate: Estate,
) -> None:
    stolen = estate.enrol("paris-01", "kiosk-07")
    broken = estate.enrol("paris-01", "kiosk-08")
    assert stolen.connect() == broken.connect() == "connected"
    stolen.close()
    broken.close()

    config = estate.folder / "hub.toml"
    revoked = borne("hub", "revoke", "--config", str(config), "--device", "kiosk-07")
    assert revoked.returncode == 0, revoked.stderr
    assert "Restart mosquitto" in revoked.stdout
    replacement = estate.enrol("paris-01", "kiosk-08")  # a new kiosk, a new key
    estate.restart_broker()

    for refused in (stolen, broken):
        fresh = estate.client(refused.client_id, refused.cert_file, refused.key_file)
        assert fresh.connect() != "connected"
    assert replacement.connect() == "connected"
    assert replacement.publish("borne/v1/devices/kiosk-08/events/io.borne.card.tapped") < 0x80
    listed = borne("hub", "enrolled", "--config", str(config), "--json")
    assert [line.split('"')[3] for line in listed.stdout.splitlines()] == ["kiosk-08"]
