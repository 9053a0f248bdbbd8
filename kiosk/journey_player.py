"""Plays a scripted journey in the running kiosk (see kiosk/journey.py for the format)."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

from kivy.clock import Clock
from kivy.metrics import dp
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.widget import Widget

from devices.nfc.card_formats import loyalty_records
from edge.bootstrap import Simulators
from edge.runtime import Runtime
from kiosk.app import KioskApp
from kiosk.journey import JourneyError, Step, symbology_for
from kiosk.keyboard_wedge import ENTER_KEYS
from kiosk.screens.search import key_id

log = logging.getLogger(__name__)

STEP_TIMEOUT = 10.0


async def next_frame() -> None:
    """Wait until Kivy has drawn one more frame."""
    drawn = asyncio.Event()
    Clock.schedule_once(lambda _: drawn.set(), 0)
    await drawn.wait()
    # The callback runs before the frame is drawn; one more tick and it is on screen.
    await asyncio.sleep(1 / 30)


def shown(widget: Widget) -> bool:
    """Whether a shopper can see and touch `widget` (on screen, not hidden, not disabled)."""
    window = widget.get_root_window()
    if window is None:
        return False
    while widget is not None and widget is not window:
        if widget.disabled or widget.opacity == 0:
            return False
        widget = widget.parent
    return True


def find_button(root: Widget, button_id: str) -> Widget | None:
    """The button with that `button_id` that a shopper can touch now, if any."""
    for widget in root.walk(restrict=True):
        if getattr(widget, "button_id", None) == button_id and shown(widget):
            return widget
    return None


class JourneyPlayer:
    """Drives the simulated devices and the touch screen step by step."""

    def __init__(
        self, app: KioskApp, runtime: Runtime, simulators: Simulators, screenshots: Path
    ) -> None:
        self.app = app
        self.runtime = runtime
        self.simulators = simulators
        self.screenshots = screenshots

    async def play(self, steps: list[Step]) -> None:
        """Play every step, then close the kiosk."""
        try:
            await self.app.started.wait()
            await next_frame()
            for index, step in enumerate(steps, start=1):
                log.info("journey step %d: %s", index, step.kind)
                await self._play(step)
        finally:
            self.app.stop()

    async def _play(self, step: Step) -> None:
        since = self.runtime.changes
        if step.kind == "tap_card":
            if self.simulators.card is None:
                raise JourneyError("tap_card needs the simulated NFC reader")
            self.simulators.card.tap(loyalty_records(step.value))
            await self._settle(since)
        elif step.kind == "scan":
            if self.simulators.camera is None:
                raise JourneyError("scan needs the simulated camera")
            symbology, gs1 = symbology_for(step.value)
            self.simulators.camera.show(step.value, symbology, frames=4, gs1=gs1)
            await self._settle(since)
        elif step.kind == "press":
            await self._press(step.value, since)
        elif step.kind == "keys":
            self._type(step.value)
            await self._settle(since)
        elif step.kind == "type":
            for char in step.value:
                await self._press(key_id(char), self.runtime.changes)
        elif step.kind == "wait":
            await asyncio.sleep(step.value)
        elif step.kind == "idle":
            await self.runtime.skip_idle_time()
            await self._settle(since)
        elif step.kind == "screenshot":
            await next_frame()
            self.screenshots.mkdir(parents=True, exist_ok=True)
            self.app.root.export_to_png(str(self.screenshots / f"{step.value}.png"))
            # Beside each picture, what could be touched on it and how big (for checks).
            touchable = self.touchable()
            (self.screenshots / f"{step.value}.buttons.json").write_text(json.dumps(touchable))

    def touchable(self) -> list[dict[str, object]]:
        """Every button a shopper can touch now: id, text, size and position in dp."""
        buttons = []
        for widget in self.app.root.walk(restrict=True):
            if isinstance(widget, ButtonBehavior) and shown(widget):
                x, y = widget.to_window(widget.x, widget.y)
                buttons.append(
                    {
                        "id": getattr(widget, "button_id", ""),
                        "text": getattr(widget, "text", ""),
                        "size_dp": [round(widget.width / dp(1)), round(widget.height / dp(1))],
                        "pos_dp": [round(x / dp(1)), round(y / dp(1))],
                    }
                )
        return buttons

    def _type(self, text: str) -> None:
        """Keystrokes as a wedge scanner sends them, through the window's key events."""
        window = self.app.root.get_root_window()
        if self.app.keyboard_wedge is None:
            raise JourneyError('keys needs [devices] hid = "keyboard"')
        for char in text:
            window.dispatch("on_textinput", char)
        window.dispatch("on_key_down", ENTER_KEYS[0], 36, None, [])

    async def _press(self, button_id: str, since: int) -> None:
        button = find_button(self.app.root, button_id)
        if button is None:
            raise JourneyError(f"no button {button_id!r} on the current screen")
        button.dispatch("on_press")
        button.dispatch("on_release")
        try:
            async with asyncio.timeout(1.0):
                await self._settle(since)
        except TimeoutError:
            await next_frame()  # a button that changes no session view (language, say)

    async def _settle(self, since: int) -> None:
        """Wait for the runtime's next view, then for it to be drawn."""
        async with asyncio.timeout(STEP_TIMEOUT):
            await self.runtime.wait_for_change(since)
            while self.app.drawn_change < self.runtime.changes:
                self.app.drawn.clear()
                await self.app.drawn.wait()
        await next_frame()
