"""The enrolment code as a QR code: drawn in the terminal, or written as a PNG.

The installer points the kiosk's camera at the hub's screen (or at a printed PNG).
A terminal draws two rows of modules per line of text with Unicode half blocks, so the
code stays square and small. With colours (a terminal), dark modules are drawn black
on white whatever the terminal's theme; without, light modules are drawn as blocks on
the terminal's own (usually dark) background, as `qrencode -t UTF8` does.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import zxingcpp

from edge.config_write import write_private_file
from edge.errors import BorneError

__all__ = ["QRCodeError", "qr_modules", "terminal_qr", "write_qr_png"]

QUIET_ZONE = 4  # modules of light margin scanners need around the code
PNG_SCALE = 8  # pixels a module
_BLACK_ON_WHITE = "\x1b[30;107m"
_RESET = "\x1b[0m"
# Two modules (top, bottom), True = drawn, as one character.
_HALF_BLOCKS = {
    (False, False): " ",
    (True, False): "\u2580",  # ▀
    (False, True): "\u2584",  # ▄
    (True, True): "\u2588",  # █
}


class QRCodeError(BorneError):
    """The QR code cannot be made or written (text too long, unwritable file)."""


def qr_modules(text: str) -> npt.NDArray[np.bool_]:
    """The QR code of `text` as a square of modules, True = dark, with its quiet zone."""
    try:
        barcode = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode)
    except (ValueError, RuntimeError) as error:
        raise QRCodeError(f"no QR code holds this text ({error})") from None
    image = np.asarray(barcode.to_image(scale=1, add_quiet_zones=False))
    dark = image < 128
    return np.pad(dark, QUIET_ZONE, constant_values=False)


def terminal_qr(text: str, *, colours: bool) -> str:
    """The QR code of `text` as lines of half blocks (see the module's docstring)."""
    modules = qr_modules(text)
    drawn = modules if colours else ~modules
    if drawn.shape[0] % 2:
        # An odd number of rows: the last line's lower half is quiet zone.
        drawn = np.vstack([drawn, np.full((1, drawn.shape[1]), not colours)])
    lines = []
    for top, bottom in zip(drawn[0::2], drawn[1::2], strict=True):
        line = "".join(_HALF_BLOCKS[bool(a), bool(b)] for a, b in zip(top, bottom, strict=True))
        lines.append(f"{_BLACK_ON_WHITE}{line}{_RESET}" if colours else line)
    return "\n".join(lines)


def write_qr_png(text: str, path: Path) -> None:
    """Write the QR code of `text` to `path` as a PNG, black on white."""
    modules = qr_modules(text)
    pixels = np.where(modules, 0, 255).astype(np.uint8)
    pixels = np.kron(pixels, np.ones((PNG_SCALE, PNG_SCALE), dtype=np.uint8))
    encoded, png = cv2.imencode(".png", pixels)
    if not encoded:
        raise QRCodeError("OpenCV could not encode the PNG")
    try:
        # The code is a key to the fleet for 10 minutes: not readable by others.
        write_private_file(path, png.tobytes())
    except OSError as error:
        raise QRCodeError(f"{path} cannot be written ({error.strerror})") from None
