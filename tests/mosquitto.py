"""A mosquitto of our own on a free loopback port (tests and benchmarks)."""

from __future__ import annotations

import getpass
import os
import signal
import socket
import subprocess
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    """A TCP port on loopback that nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    """Block until something accepts connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port}")


@dataclass
class Broker:
    """A mosquitto process with its own config and store, stopped by its pid."""

    directory: Path
    port: int
    persistent: bool = True
    listener_options: str = ""  # lines for the listener: TLS files, ACLs...
    options: str = ""  # broker-wide lines: limits it announces in CONNACK (max_packet_size...)
    process: subprocess.Popen[bytes] | None = None
    # A configuration written by someone else (the hub's broker-config), run as it is;
    # its listener must be `port` on loopback.
    given_config: Path | None = None
    _held: socket.socket | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self._hold_port()

    def _hold_port(self) -> None:
        """Keep the port bound (not listening) while mosquitto does not run: a test on the
        other worker picking a free port cannot take it meanwhile (a broker started a
        while after its port was chosen once found another test's broker on it)."""
        held = socket.socket()
        try:
            held.bind(("127.0.0.1", self.port))
        except OSError:  # the last run's connections still linger on it: best effort
            held.close()
            return
        self._held = held
        weakref.finalize(self, held.close)  # a broker dropped while stopped lets it go

    def _release_port(self) -> None:
        if self._held is not None:
            self._held.close()
            self._held = None

    def start(self) -> None:
        """Start (or restart) mosquitto with this broker's config."""
        config = self.directory / "mosquitto.conf"
        if self.given_config is not None:
            # Read again at each start, as mosquitto would; only the user is ours.
            config = self.directory / "given-mosquitto.conf"
            config.write_text(f"user {getpass.getuser()}\n{self.given_config.read_text()}")
            self._run(config)
            return
        config.write_text(
            "per_listener_settings true\n"
            f"listener {self.port} 127.0.0.1\n"
            f"{self.listener_options or 'allow_anonymous true'}\n"
            "max_queued_messages 100000\n"
            # Started as root, mosquitto would switch to its own user, which cannot
            # write its store into our temporary folder.
            f"user {getpass.getuser()}\n"
            f"{self.options}"
        )
        if self.persistent:
            # Sessions and queued messages survive a restart, saved at every change.
            config.write_text(
                config.read_text() + "persistence true\n"
                f"persistence_location {self.directory}/\n"
                "autosave_interval 1\nautosave_on_changes true\n"
            )
        self._run(config)

    def _run(self, config: Path) -> None:
        self._release_port()
        with (self.directory / "mosquitto.log").open("ab") as log:
            self.process = subprocess.Popen(
                ["mosquitto", "-c", str(config)], stdout=log, stderr=subprocess.STDOUT
            )
        wait_for_port(self.port)
        if self.process.poll() is not None:  # what answers on the port is not ours
            log_tail = (self.directory / "mosquitto.log").read_text()[-2000:]
            raise RuntimeError(f"mosquitto exited at start on port {self.port}:\n{log_tail}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Stop the broker by its pid."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, sig)
            self.process.wait(timeout=10)
            self._hold_port()
