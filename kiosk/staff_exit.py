"""The staff PIN pad: the way out of the fullscreen kiosk, and the staff login's pad.

The pad only collects digits: what OK and Cancel do is its owner's (`on_submit`,
`on_cancel`), so the exit lock and the staff login share one pad.
"""

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
    title = StringProperty("")  # "" says "Staff code"
    __events__ = ("on_submit", "on_cancel")

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

    def submit(self) -> None:
        """The OK key: the PIN goes to the owner and leaves the pad."""
        pin, self.pin = self.pin, ""
        self.dispatch("on_submit", pin)

    def on_submit(self, pin: str) -> None:
        """OK was pressed with `pin` typed."""

    def on_cancel(self) -> None:
        """Cancel was pressed."""
