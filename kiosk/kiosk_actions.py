"""The buttons every screen has: language, and calling an advisor (with its confirmation)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from kivy.clock import Clock
from kivy.lang import Builder
from kivy.properties import BooleanProperty, NumericProperty, StringProperty
from kivy.uix.floatlayout import FloatLayout

from kiosk.qr_code import QRCode  # noqa: F401 - registers the kv class

Builder.load_file(str(Path(__file__).with_suffix(".kv")))


class KioskActions(FloatLayout):  # type: ignore[misc]
    """Laid over the screens; touches go through where it has no button.

    Also shows "are you still there?" with the seconds left before the wipe.
    """

    assist_confirmed = BooleanProperty(False)
    handoff_url = StringProperty("")
    idle_warning = BooleanProperty(False)
    seconds_left = NumericProperty(0)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._deadline = 0.0
        self._ticker = Clock.schedule_interval(self._tick, 0.25)
        self._ticker.cancel()

    def warn_until(self, deadline: float | None) -> None:
        """Show (deadline set) or hide the idle warning."""
        self.idle_warning = deadline is not None
        if deadline is None:
            self._ticker.cancel()
            return
        self._deadline = deadline
        self._tick()
        self._ticker()

    def _tick(self, *_: Any) -> None:
        self.seconds_left = max(0, round(self._deadline - time.time()))
