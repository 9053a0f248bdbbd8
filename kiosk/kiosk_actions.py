"""What lies over every screen: the bar (language, accessibility, advisor), the advisor's
confirmation, the idle warning, the hand-off QR code, the flash of a code read, the
accessibility panel and the staff PIN pad."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from kivy.clock import Clock
from kivy.lang import Builder
from kivy.properties import BooleanProperty, NumericProperty, StringProperty
from kivy.uix.floatlayout import FloatLayout

from kiosk.accessibility_panel import AccessibilityPanel  # noqa: F401 - registers the kv class
from kiosk.qr_code import QRCode  # noqa: F401 - registers the kv class
from kiosk.staff_exit import StaffPinPad  # noqa: F401 - registers the kv class
from kiosk.widgets import attach_while

Builder.load_file(str(Path(__file__).with_suffix(".kv")))

FLASH_SECONDS = 1.2


class KioskActions(FloatLayout):  # type: ignore[misc]
    """Laid over the screens; touches go through where it has no button."""

    assist_confirmed = BooleanProperty(False)
    handoff_url = StringProperty("")
    idle_warning = BooleanProperty(False)
    seconds_left = NumericProperty(0)
    scan_flash = BooleanProperty(False)
    accessibility_open = BooleanProperty(False)
    pin_open = BooleanProperty(False)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._deadline = 0.0
        self._ticker = Clock.schedule_interval(self._tick, 0.25)
        self._ticker.cancel()
        self._end_flash = Clock.create_trigger(self._hide_flash, FLASH_SECONDS)
        ids = self.ids
        for prop, widget in (
            ("assist_confirmed", ids.assist_banner),
            ("scan_flash", ids.flash_frame),
            ("scan_flash", ids.flash_label),
            ("idle_warning", ids.idle_card),
            ("handoff_url", ids.handoff_box),
            ("accessibility_open", ids.accessibility_panel),
            ("pin_open", ids.pin_pad),
        ):
            attach_while(self, prop, widget)

    def warn_until(self, deadline: float | None) -> None:
        """Show (deadline set) or hide the idle warning."""
        self.idle_warning = deadline is not None
        if deadline is None:
            self._ticker.cancel()
            return
        self._deadline = deadline
        self._tick()
        self._ticker()

    def flash(self) -> None:
        """Frame the screen for a moment: a code was read."""
        self.scan_flash = True
        self._end_flash.cancel()
        self._end_flash()

    def _hide_flash(self, *_: Any) -> None:
        self.scan_flash = False

    def _tick(self, *_: Any) -> None:
        self.seconds_left = max(0, round(self._deadline - time.time()))
