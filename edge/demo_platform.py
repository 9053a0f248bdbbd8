"""The demo's platform: a mosquitto and a `borne hub` on loopback, fed the demo store's feeds.

`make demo` runs the chain a store runs — kiosk, broker, hub — on one machine, so a
newcomer sees the real architecture at work: the kiosk is synced from the hub over
MQTT, its events are stored by the hub, and a quantity changed in the demo's inventory
feed and imported (`borne hub import`, the command is printed) is on the kiosk's
product screen within a second. Like `edge.demo`, only the demo uses this module.

The feeds are copied from `assets/demo-store/feeds/` into the platform's folder at
each start, so they can be edited there without touching the repository.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import logging
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.demo import DEMO_DEVICE_ID, DEMO_SECRET, DEMO_STORE, DEMO_STORE_ID
from edge.errors import BorneError

log = logging.getLogger(__name__)

DEMO_FEEDS = DEMO_STORE / "feeds"
LOOPBACK = "127.0.0.1"
# A device of the demo's own, named in the hub's [devices]: the platform is ready when
# the hub answers its resync request.
PROBE_DEVICE = "demo-probe"
READY_WITHIN = 30.0  # seconds the broker and the hub have to come up
STOP_WITHIN = 10.0  # seconds a process has to stop on SIGTERM before it is killed


class DemoPlatformError(BorneError):
    """The demo's broker or hub could not be started."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log_file: Path) -> None:
    deadline = time.monotonic() + READY_WITHIN
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DemoPlatformError(f"mosquitto stopped at once; see {log_file}")
        with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, port), 0.2):
            return
        time.sleep(0.05)
    raise DemoPlatformError(f"mosquitto did not listen on port {port}; see {log_file}")


@dataclass
class DemoPlatform:
    """The broker and the hub of the demo, in `folder`, until `close()`."""

    folder: Path
    port: int = 0  # the broker's, once started
    _processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def feeds(self) -> Path:
        """The demo's feeds as the hub imported them: edit one and import it again."""
        return self.folder / "feeds"

    @property
    def hub_config(self) -> Path:
        """The hub's configuration file, for `borne hub import|status --config`."""
        return self.folder / "hub.toml"

    def start(self) -> None:
        """Start the broker, import the feeds into the hub, start the hub; wait until it
        answers. Raises DemoPlatformError (and leaves nothing running) on failure."""
        self.folder.mkdir(parents=True, exist_ok=True)
        try:
            self._start_broker()
            self._write_hub_config()
            self._copy_feeds()
            self._hub("import", *sorted(str(path) for path in self.feeds.iterdir()))
            self._start_hub()
            self._wait_until_the_hub_answers()
        except BaseException:
            self.close()
            raise

    def import_command(self, program: str = "borne") -> str:
        """What a newcomer types to import the kiosk's store's edited inventory feed."""
        inventory = self.feeds / f"inventory-{DEMO_STORE_ID}.tsv"
        return shlex.join(
            [program, "hub", "import", "--config", str(self.hub_config), str(inventory)]
        )

    def close(self) -> None:
        """Stop the hub, then the broker (SIGTERM, then SIGKILL if they linger)."""
        for process in reversed(self._processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(STOP_WITHIN)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self._processes.clear()

    def _start_broker(self) -> None:
        mosquitto = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin")
        if mosquitto is None:
            raise DemoPlatformError("mosquitto is not installed (`make demo` installs it)")
        self.port = _free_port()
        config = self.folder / "mosquitto.conf"
        config.write_text(
            f"listener {self.port} {LOOPBACK}\n"
            "allow_anonymous true\n"
            # Started as root, mosquitto would switch to its own user, which cannot
            # write into the demo's folder.
            f"user {getpass.getuser()}\n"
        )
        log_file = self.folder / "mosquitto.log"
        with log_file.open("ab") as output:
            broker = subprocess.Popen(
                [mosquitto, "-c", str(config)], stdout=output, stderr=subprocess.STDOUT
            )
        self._processes.append(broker)
        _wait_for_port(self.port, broker, log_file)

    def _write_hub_config(self) -> None:
        devices = {DEMO_DEVICE_ID: DEMO_STORE_ID, PROBE_DEVICE: DEMO_STORE_ID}
        lines = [
            "[mqtt]",
            f'host = "{LOOPBACK}"',
            f"port = {self.port}",
            'client_id = "borne-demo-hub"',
            "reconnect_max = 2.0",
            "[store]",
            f"data_dir = {json.dumps(str(self.folder / 'hub'))}",
            "[privacy]",
            f"pseudonym_key_file = {json.dumps(str(DEMO_SECRET))}",
            "[devices]",
            *(f'"{device}" = "{store}"' for device, store in devices.items()),
        ]
        self.hub_config.write_text("\n".join(lines) + "\n")

    def _copy_feeds(self) -> None:
        if not DEMO_FEEDS.is_dir():
            raise DemoPlatformError(f"the demo's feeds are missing: {DEMO_FEEDS}")
        shutil.rmtree(self.feeds, ignore_errors=True)
        shutil.copytree(DEMO_FEEDS, self.feeds)

    def _command(self, *arguments: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "kiosk.cli",
            "hub",
            arguments[0],
            "--config",
            str(self.hub_config),
            *arguments[1:],
        ]

    def _hub(self, *arguments: str) -> None:
        done = subprocess.run(
            self._command(*arguments), capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise DemoPlatformError(f"borne hub {arguments[0]} failed: {done.stderr.strip()}")

    def _start_hub(self) -> None:
        with (self.folder / "hub.log").open("ab") as output:
            hub = subprocess.Popen(
                self._command("serve"),
                stdout=output,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        self._processes.append(hub)

    def _wait_until_the_hub_answers(self) -> None:
        """Ask the hub for a stream as the probe device until it answers."""
        answered = threading.Event()
        response_topic = f"borne/v1/devices/{PROBE_DEVICE}/res/sync"
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"{PROBE_DEVICE}-{uuid.uuid4().hex[:8]}",
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        client.on_message = lambda *_: answered.set()
        client.connect(LOOPBACK, self.port)
        client.subscribe(response_topic, qos=1)
        client.loop_start()
        try:
            request = json.dumps(
                {"store": DEMO_STORE_ID, "stream": "catalog", "epoch": "", "version": 0}
            )
            deadline = time.monotonic() + READY_WITHIN
            while not answered.is_set():
                hub = self._processes[-1]
                if hub.poll() is not None:
                    raise DemoPlatformError(f"borne hub serve stopped; see {self.folder}/hub.log")
                if time.monotonic() > deadline:
                    raise DemoPlatformError(f"the hub did not answer; see {self.folder}/hub.log")
                properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
                properties.ResponseTopic = response_topic
                properties.CorrelationData = b"ready?"
                properties.MessageExpiryInterval = 5
                client.publish(
                    f"borne/v1/devices/{PROBE_DEVICE}/req/sync",
                    request,
                    qos=1,
                    properties=properties,
                )
                answered.wait(0.5)
        finally:
            client.disconnect()
            client.loop_stop()
