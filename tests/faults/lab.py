"""A scenario's bench: its folder, its broker, its kiosks' configurations and processes.

Every process a scenario starts is stopped by its pid when the scenario ends, and a
filesystem it mounted is unmounted, whatever happened.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from edge.demo import DEMO_CATALOG, DEMO_SECRET
from tests.mosquitto import Broker, free_port

ROOT = Path(__file__).resolve().parents[2]
# Another checkout's runtime (an older commit, to see the campaign fail on it): `borne`
# runs from that folder, whose packages come first on its path.
RUNTIME = "BORNE_FAULTS_RUNTIME"
STORE = "paris-01"
# What a runtime's log says that an operator would act on.
_NOTEWORTHY = re.compile(r"\b(WARNING|ERROR|CRITICAL)\b|^borne: |Traceback")
_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ ")


class LabError(RuntimeError):
    """The bench itself failed (a mount, a process that never started)."""


@dataclass
class Kiosk:
    """One kiosk's configuration: its id, its folder, its config file."""

    device_id: str
    data_dir: Path
    config: Path

    @property
    def source(self) -> str:
        """Its CloudEvents source."""
        return f"/stores/{STORE}/devices/{self.device_id}"


@dataclass
class Run:
    """One runtime process (`borne simulate`, `borne edge`), its output kept in files."""

    name: str
    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path
    killed: bool = False

    def wait(self, timeout: float) -> int:
        """Its exit code, waiting up to `timeout` seconds (killed by pid after that)."""
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return self.process.wait(30)

    def signal(self, signum: int) -> None:
        """Send `signum` to it by its pid (if it still runs)."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signum)

    def kill(self) -> None:
        """kill -9, by its pid."""
        self.killed = True
        self.signal(signal.SIGKILL)

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM, as systemd stops the service; its exit code."""
        self.signal(signal.SIGTERM)
        return self.wait(timeout)

    def log(self) -> str:
        """What it wrote on standard error so far."""
        return self.stderr.read_text(errors="replace")

    def wait_log(self, text: str, timeout: float) -> None:
        """Block until its log says `text` (it has no other way to tell); TimeoutError
        if it does not within `timeout`, or exits first."""
        wait_for(
            lambda: text in self.log() or self.process.poll() is not None,
            timeout,
            f"{self.name} saying {text!r}",
        )
        if text not in self.log():
            raise TimeoutError(f"{self.name} exited ({self.process.returncode}) before {text!r}")

    def noteworthy(self) -> list[str]:
        """Its warnings and errors, without timestamps, each once."""
        lines = []
        for line in self.log().splitlines():
            if _NOTEWORTHY.search(line):
                text = _TIMESTAMP.sub("", line).strip()
                if text not in lines:
                    lines.append(text)
        return lines


@dataclass
class Lab:
    """The bench of one scenario, under `folder`; use it as a context manager."""

    folder: Path
    runs: list[Run] = field(default_factory=list)
    brokers: list[Broker] = field(default_factory=list)
    mounts: list[Path] = field(default_factory=list)

    def __enter__(self) -> Lab:
        self.folder.mkdir(parents=True, exist_ok=True)
        return self

    def __exit__(self, *_: object) -> None:
        for run in self.runs:
            run.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                run.process.wait(30)
        for broker in self.brokers:
            broker.kill(signal.SIGKILL)
        for mount in self.mounts:
            subprocess.run(["umount", "-l", str(mount)], check=False, capture_output=True)

    def broker(
        self, *, persistent: bool = True, acl: Path | None = None, start: bool = True
    ) -> Broker:
        """A mosquitto on a free loopback port (with `acl`: that ACL file), started unless
        told not to (a broker that is down: its port refuses until `start()`)."""
        folder = self.folder / f"broker-{len(self.brokers)}"
        folder.mkdir()
        options = "allow_anonymous true" + (f"\nacl_file {acl}" if acl else "")
        broker = Broker(folder, free_port(), persistent=persistent, listener_options=options)
        self.brokers.append(broker)
        if start:
            broker.start()
        return broker

    def small_disk(self, name: str, size: str) -> Path:
        """A folder on a tmpfs of `size` ("2m") of its own: it fills up for real."""
        mount = self.folder / name
        mount.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)],
            check=False,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise LabError(f"cannot mount a {size} tmpfs (root needed): {done.stderr.strip()}")
        self.mounts.append(mount)
        return mount

    def kiosk(
        self,
        device_id: str,
        *,
        broker_port: int | None,
        data_dir: Path | None = None,
        storage: Mapping[str, object] | None = None,
    ) -> Kiosk:
        """A kiosk's configuration file (the demo store's catalog and secret, as tests use).

        `storage` keys the runtime does not know yet are left out, so the campaign runs
        against a runtime before and after its storage settings exist.
        """
        index = sum(1 for _ in self.folder.glob("kiosk-*.toml"))
        data = data_dir or self.folder / f"data-{index}"
        known = storage_keys()
        lines = [f'data_dir = "{data}"', 'synchronous = "normal"']
        for key, value in (storage or {}).items():
            if key in known:
                lines.append(f"{key} = {value!r}".replace("'", '"'))
        sections = {
            "device": f'store_id = "{STORE}"\ndevice_id = "{device_id}"',
            "storage": "\n".join(lines),
            "privacy": f'pseudonym_key_file = "{DEMO_SECRET}"\nloyalty_prefixes = ["925"]',
            "catalog": f'source = "{DEMO_CATALOG}"',
        }
        if broker_port is not None:
            sections["mqtt"] = (
                f'host = "127.0.0.1"\nport = {broker_port}\nreconnect_min = 0.1\n'
                "reconnect_max = 1.0"
            )
        config = self.folder / f"kiosk-{index}.toml"
        config.write_text("".join(f"[{name}]\n{body}\n" for name, body in sections.items()))
        return Kiosk(device_id, data, config)

    def start(
        self,
        name: str,
        *args: str,
        env: Mapping[str, str] | None = None,
        script: Path | None = None,
    ) -> Run:
        """Start `borne ARGS` (or `python SCRIPT ARGS`, a wrapper around it) as a subprocess."""
        stdout = self.folder / f"{len(self.runs):02d}-{name}.out"
        stderr = stdout.with_suffix(".err")
        runtime = _runtime() or str(ROOT)
        environment = {**os.environ, **(env or {})}
        if script is None:
            command = [sys.executable, "-m", "kiosk.cli", *args]
        else:  # a wrapper of the campaign's own: run as a file, it imports the runtime's borne
            command = [sys.executable, str(script), *args]
            environment["PYTHONPATH"] = runtime
        with stdout.open("wb") as out, stderr.open("wb") as err:
            process = subprocess.Popen(
                command, stdout=out, stderr=err, cwd=runtime, env=environment
            )
        run = Run(name, process, stdout, stderr)
        self.runs.append(run)
        return run

    def simulate(
        self,
        kiosk: Kiosk,
        journeys: int,
        *,
        seed: int,
        wait_delivered: bool,
        timeout: float = 120,
        env: Mapping[str, str] | None = None,
        script: Path | None = None,
    ) -> Run:
        """`borne simulate`: `journeys` shoppers through the real runtime, one after the
        other; with `wait_delivered` it exits once its outbox is empty."""
        args = ["simulate", "--config", str(kiosk.config), "--journeys", str(journeys)]
        args += ["--seed", str(seed), "--timeout", str(timeout)]
        if wait_delivered:
            args.append("--wait-delivered")
        return self.start("simulate", *args, env=env, script=script)

    def edge(self, kiosk: Kiosk) -> Run:
        """`borne edge`: the headless runtime until stopped."""
        return self.start("edge", "edge", "--config", str(kiosk.config))

    def outbox_status(self, kiosk: Kiosk) -> tuple[int, str]:
        """`borne outbox status --json`: its exit code and what it printed (or said)."""
        command = ["outbox", "status", "--config", str(kiosk.config), "--json"]
        done = subprocess.run(
            [sys.executable, "-m", "kiosk.cli", *command],
            capture_output=True,
            text=True,
            cwd=_runtime() or ROOT,
            timeout=120,
            check=False,
        )
        return done.returncode, done.stdout if done.returncode == 0 else done.stderr.strip()


@functools.cache
def storage_keys() -> frozenset[str]:
    """The `[storage]` keys the runtime under test knows (it refuses any other)."""
    probe = "from edge.config import StorageConfig; print(*StorageConfig.model_fields)"
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        cwd=_runtime() or ROOT,
        timeout=120,
        check=True,
    )
    return frozenset(done.stdout.split())


def _runtime() -> str:
    """The checkout whose runtime is under test ("": this one)."""
    return os.environ.get(RUNTIME, "")


def wait_for(condition: Callable[[], bool], timeout: float, what: str, every: float = 0.1) -> None:
    """Poll `condition()` until true (for files and processes, which have no event)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"never saw {what} within {timeout:.0f} s")
        time.sleep(every)


class PeakSize:
    """The largest size a file reached while watched (sampled on a thread: a file's
    size has no event to wait on). Use it as a context manager."""

    def __init__(self, path: Path, every: float = 0.05) -> None:
        self.path = path
        self.every = every
        self.peak = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="peak-size", daemon=True)

    def __enter__(self) -> PeakSize:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join(30)

    def _watch(self) -> None:
        while not self._done.wait(self.every):
            with contextlib.suppress(OSError):
                self.peak = max(self.peak, self.path.stat().st_size)


def fill_disk(folder: Path, leave: int = 0) -> int:
    """Write a ballast file in `folder` until `leave` bytes are free (0: until the disk
    is full); the bytes written."""
    ballast = folder / f"ballast-{time.monotonic_ns()}"
    written = 0
    chunk = b"\0" * 4096
    with ballast.open("wb", buffering=0) as file:
        while True:
            status = os.statvfs(folder)
            if status.f_bavail * status.f_frsize <= leave:
                break
            try:
                written += file.write(chunk) or 0
            except OSError:  # no space left: the disk is full
                break
    return written


def shorten(message: str) -> str:
    """A log line short enough for the table, numbers kept."""
    return message if len(message) <= 140 else message[:137] + "..."
