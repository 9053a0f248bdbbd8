"""A virtual X screen (Xvfb) for kiosk windows on machines without one: tests, benchmarks."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# Where an X server puts its lock and its socket: read, never created, by us.
X_LOCK = "/tmp/.X{}-lock"  # noqa: S108
X_SOCKET = "/tmp/.X11-unix/X{}"  # noqa: S108


@contextmanager
def virtual_screen(size: str = "1280x800x24") -> Iterator[str]:
    """Start Xvfb on a free display number; yield its DISPLAY name; stop it by its pid."""
    for number in range(90, 140):
        if not Path(X_LOCK.format(number)).exists():
            break
    name = f":{number}"
    process = subprocess.Popen(
        ["Xvfb", name, "-screen", "0", size, "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not Path(X_SOCKET.format(number)).exists():
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("Xvfb did not start")
            time.sleep(0.05)
        yield name
    finally:
        process.terminate()
        process.wait(timeout=10)
