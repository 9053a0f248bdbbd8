"""A wedge scanner read through Kivy's key events, where evdev is not available.

The fallback for `[devices] hid = "keyboard"` (a platform without evdev, or no
permission to grab the device): characters arrive already through the OS keymap,
so the scanner must be programmed for the kiosk's own keyboard layout.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from kivy.core.window import Window

from devices.errors import InputError
from devices.hid.keymap import MAX_CODE
from devices.hid.wedge import scan_from_keyboard
from devices.readings import BarcodeScan

log = logging.getLogger(__name__)
ENTER_KEYS = (13, 271)  # Return, keypad Enter


class KivyKeyboardWedge:
    """Collects typed characters until Enter and hands over a scan."""

    def __init__(self, on_scan: Callable[[BarcodeScan], None]) -> None:
        self._on_scan = on_scan
        self._buffer: list[str] = []

    def attach(self) -> None:
        """Start listening to the window's keyboard."""
        Window.bind(on_textinput=self._typed, on_key_down=self._key_down)

    def detach(self) -> None:
        """Stop listening."""
        Window.unbind(on_textinput=self._typed, on_key_down=self._key_down)

    def _typed(self, _: Any, text: str) -> None:
        if len(self._buffer) < MAX_CODE:
            self._buffer.append(text)

    def _key_down(self, _: Any, key: int, *__: Any) -> bool:
        if key not in ENTER_KEYS:
            return False
        text, self._buffer = "".join(self._buffer), []
        if not text:
            return False
        try:
            scan = scan_from_keyboard(text, "kivy-keyboard", time.time())
        except InputError as error:
            log.info("scanner input refused: %s", error)
            return True
        self._on_scan(scan)
        return True
