"""A virtual X screen (Xvfb) for kiosk windows on machines without one: tests, benchmarks."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

# Where an X server puts its socket: read, never created, by us.
X_SOCKET = "/tmp/.X11-unix/X{}"


@contextmanager
def virtual_screen(size: str = "1280x800x24", framebuffer: Path | None = None) -> Iterator[str]:
    """Start Xvfb on a free display number; yield its DISPLAY name; stop it by its pid.

    With `framebuffer` (a folder), Xvfb keeps its screen there as an XWD file, so a test
    can see the whole screen as a person would (`screen_pixels`), whatever drew it.
    """
    # Xvfb picks a free display number itself and writes it to a pipe (-displayfd):
    # tests running side by side (pytest -n 2) never race for the same number.
    read_end, write_end = os.pipe()
    process = subprocess.Popen(
        [
            "Xvfb",
            "-displayfd",
            str(write_end),
            "-screen",
            "0",
            size,
            "-nolisten",
            "tcp",
            *(["-fbdir", str(framebuffer)] if framebuffer is not None else []),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        pass_fds=(write_end,),
    )
    os.close(write_end)
    with os.fdopen(read_end) as announced:
        number = announced.readline().strip()  # "" if Xvfb died first
    if not number.isdigit():
        process.kill()
        process.wait(timeout=10)
        raise RuntimeError("Xvfb did not start")
    name = f":{number}"
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


def screen_pixels(framebuffer: Path) -> NDArray[np.uint8]:
    """The screen Xvfb keeps in `framebuffer`, as a BGR image (OpenCV's order).

    The file is an XWD dump (X11's window dump format): a header of big-endian 32-bit
    fields, the window name, a colour map, then the pixels, 32 bits each at depth 24.
    """
    data = (framebuffer / "Xvfb_screen0").read_bytes()
    fields = np.frombuffer(data[:100], dtype=">u4")
    header_size, width, height = int(fields[0]), int(fields[4]), int(fields[5])
    bits_per_pixel, bytes_per_line, colours = int(fields[11]), int(fields[12]), int(fields[19])
    if bits_per_pixel != 32 or int(fields[7]) != 0:  # 0: least significant byte first
        raise ValueError(f"expected a 32-bit LSB-first framebuffer, got {fields[7:12]}")
    start = header_size + 12 * colours
    rows = np.frombuffer(data[start : start + bytes_per_line * height], dtype=np.uint8)
    pixels = rows.reshape(height, bytes_per_line)[:, : width * 4].reshape(height, width, 4)
    return np.ascontiguousarray(pixels[:, :, :3])  # little-endian B, G, R, unused
