"""The staff PIN pad: the only way out of the fullscreen kiosk."""

from __future__ import annotations

from pathlib import Path

from kivy.lang import Builder
from kivy.properties import StringProperty
from kivy.uix.boxlayout import BoxLayout

Builder.load_file(str(Path(__file__).with_suffix(".kv")))

PIN_MAX = 12


class StaffPinPad(BoxLayout):  # type: ignore[misc]
    """Digits shown as dots; the PIN itself goes to the runtime's lock, never to a log."""

    pin = StringProperty("")
    message = StringProperty("")

    def press(self, digit: str) -> None:
        """A digit key."""
        if len(self.pin) < PIN_MAX:
            self.pin += digit

    def erase(self) -> None:
        """The erase key."""
        self.pin = self.pin[:-1]

    def reset(self, message: str = "") -> None:
        """Empty the pad, with a word for the staff member."""
        self.pin = ""
        self.message = message
