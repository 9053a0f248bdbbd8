"""Shared fixtures: a real mosquitto on loopback, a virtual screen, kiosk configs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from edge.demo import DEMO_CATALOG, DEMO_SECRET, demo_cards
from tests.mosquitto import Broker, free_port
from tests.virtual_screen import virtual_screen

ROOT = Path(__file__).resolve().parent.parent

# Tests that import Kivy modules (translations, widgets) must not let Kivy read
# pytest's arguments or write logs and settings into the home folder.
os.environ.setdefault("KIVY_NO_ARGS", "1")
os.environ.setdefault("KIVY_NO_FILELOG", "1")
os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
os.environ.setdefault("KIVY_HOME", tempfile.mkdtemp(prefix="borne-kivy-"))
TESTDATA = ROOT / "tests" / "data"
BORNE = [sys.executable, "-m", "kiosk.cli"]


def borne(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """Run the borne command to completion, as an installer would; its log (standard
    error) never holds a card number, whatever the command did."""
    result = subprocess.run(
        [*BORNE, *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    assert_no_card_number(result.stderr)
    return result


def assert_no_card_number(log: str) -> None:
    """Fail if a demo loyalty card's number (or its middle digits) is in `log`."""
    for _, number in demo_cards():
        assert number[1:-1] not in log, f"card number {number[:3]}… in the log"


def outbox_status(config: Path) -> dict[str, Any]:
    """What `borne outbox status --json` says."""
    result = borne("outbox", "status", "--config", str(config), "--json")
    assert result.returncode == 0, result.stderr
    status: dict[str, Any] = json.loads(result.stdout)
    return status


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A fresh mosquitto on a free loopback port, stopped by pid afterwards."""
    directory = tmp_path / "broker"
    directory.mkdir()
    broker = Broker(directory, free_port())
    broker.start()
    yield broker
    broker.kill(signal.SIGTERM)


@dataclass
class Subscriber:
    """A platform-side client that records every message it receives."""

    port: int
    topic: str = "borne/#"
    messages: list[tuple[str, bytes, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    client: mqtt.Client | None = None

    def start(self) -> None:
        """Connect with a persistent session (so a broker restart loses nothing) and subscribe."""
        subscribed = threading.Event()
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"platform-{self.port}",
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = 3600

        def on_connect(c: mqtt.Client, *_: Any) -> None:
            c.subscribe(self.topic, qos=1)

        def on_message(_: mqtt.Client, __: Any, message: mqtt.MQTTMessage) -> None:
            with self.lock:
                self.messages.append((message.topic, bytes(message.payload), message.properties))

        client.on_connect = on_connect
        client.on_subscribe = lambda *_: subscribed.set()
        client.on_message = on_message
        client.reconnect_delay_set(1, 2)
        client.connect("127.0.0.1", self.port, clean_start=False, properties=properties)
        client.loop_start()
        assert subscribed.wait(10), "subscription not acknowledged"
        self.client = client

    def stop(self) -> None:
        """Disconnect."""
        if self.client is not None:
            self.client.disconnect()
            self.client.loop_stop()

    def events(self) -> list[dict[str, Any]]:
        """The CloudEvents received on event topics, decoded."""
        with self.lock:
            return [json.loads(p) for t, p, _ in self.messages if "/events/" in t]

    def wait_for(self, predicate: Any, timeout: float = 30.0) -> None:
        """Wait until `predicate(self)` holds."""
        deadline = time.monotonic() + timeout
        while not predicate(self):
            if time.monotonic() > deadline:
                raise TimeoutError("subscriber never saw what it waited for")
            time.sleep(0.05)


@pytest.fixture
def subscriber(broker: Broker) -> Iterator[Subscriber]:
    """A platform-side subscriber to every borne topic on the test broker."""
    sub = Subscriber(broker.port)
    sub.start()
    yield sub
    sub.stop()


def write_config(path: Path, data_dir: Path, broker_port: int | None = None, **extra: str) -> Path:
    """A kiosk TOML config for tests (events wait in the outbox without a broker).

    The store is the demo's (its catalog, its pseudonym secret, its loyalty card range),
    named explicitly as a store's configuration would; a section in `extra` replaces it.
    """
    sections = {
        "device": 'store_id = "paris-01"\ndevice_id = "kiosk-07"',
        "storage": f'data_dir = "{data_dir}"\nsynchronous = "normal"',
        "privacy": f'pseudonym_key_file = "{DEMO_SECRET}"\nloyalty_prefixes = ["925"]',
        "catalog": f'source = "{DEMO_CATALOG}"',
    }
    if broker_port is not None:
        sections["mqtt"] = (
            f'host = "127.0.0.1"\nport = {broker_port}\nreconnect_min = 0.1\nreconnect_max = 0.5'
        )
    sections |= extra
    path.write_text("".join(f"[{name}]\n{body}\n" for name, body in sections.items()))
    return path


@pytest.fixture
def kiosk_config(tmp_path: Path) -> Path:
    """A config with no broker: events stay in the outbox."""
    return write_config(tmp_path / "kiosk.toml", tmp_path / "data")


@pytest.fixture(scope="session")
def display() -> Iterator[str]:
    """A virtual X screen (Xvfb) for real Kivy windows."""
    with virtual_screen() as name:
        yield name


def _stores_holding_card_numbers(folder: Path) -> list[str]:
    """Every SQLite file (outbox, catalog cache; their WALs) under `folder` that holds the
    digits of a demo loyalty card."""
    numbers = [number.encode() for _, number in demo_cards()]
    found = []
    for path in sorted(folder.rglob("*.sqlite*")):
        if path.is_file():
            content = path.read_bytes()
            found += [f"{path}: {n.decode()}" for n in numbers if n in content]
    return found


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """No outbox row or cache of the whole suite may hold a card number, whichever test
    wrote it: the suite fails otherwise."""
    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is None or exitstatus not in (0, 1):
        return
    leaks = _stores_holding_card_numbers(factory.getbasetemp())
    if leaks:
        print("\ncard numbers found in stored data:\n" + "\n".join(leaks), file=sys.stderr)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
