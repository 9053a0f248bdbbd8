"""Plays a scripted journey in the running kiosk (see kiosk/journey.py for the format).

Beyond the steps a file may hold, the player takes two that tests give it directly:
  Step("resize", "1080x1920")   the window becomes that size (pixels), as another display
  Step("swipe", "left")          a finger moved across the middle of the screen
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from pathlib import Path

from kivy.clock import Clock
from kivy.core.window import Window
from kivy.input.motionevent import MotionEvent
from kivy.metrics import dp
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.label import Label
from kivy.uix.scrollview import ScrollView
from kivy.uix.widget import Widget

from devices.nfc.card_formats import loyalty_records, staff_badge_records
from edge.bootstrap import Simulators
from edge.runtime import Runtime
from edge.staff.view import StaffNotice
from kiosk.app import KioskApp
from kiosk.journey import JourneyError, Step, symbology_for
from kiosk.keyboard_wedge import ENTER_KEYS
from kiosk.screens.search import key_id

log = logging.getLogger(__name__)

STEP_TIMEOUT = 10.0
SWIPE_MOVES = 8  # a finger's path is seen as a few moves, not one jump
LAYOUT_FRAMES = 30  # at most, before a screenshot: a layout that never settles is shown as is


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


def window_rect(widget: Widget) -> tuple[float, float, float, float]:
    """`widget`'s left, bottom, right and top in window pixels."""
    left, bottom = widget.to_window(widget.x, widget.y)
    right, top = widget.to_window(widget.right, widget.top)
    return left, bottom, right, top


def takes_touch(widget: Widget) -> bool:
    """Whether a touch on `widget` stops there: a button, or a leaf that handles touches
    itself (a modal's backdrop, a text field). Layouts and scroll views pass it on."""
    if isinstance(widget, ButtonBehavior):
        return True
    if isinstance(widget, Label):
        return False  # a text's touches go to what it is drawn on
    return not widget.children and type(widget).on_touch_down is not Widget.on_touch_down


def touched_at(widget: Widget, x: float, y: float) -> Widget | None:
    """The widget a touch at window point (x, y) would reach under `widget`, in Kivy's
    order (the last drawn first); None if it would reach none.

    A widget outside its parent's rectangle (a tile scrolled out of its list) is never
    reached: the walk only enters widgets that hold the point.
    """
    for child in widget.children:
        if child.disabled or child.opacity == 0:
            continue
        left, bottom, right, top = window_rect(child)
        if not (left <= x < right and bottom <= y < top):
            continue
        found = touched_at(child, x, y)
        if found is not None:
            return found
        if takes_touch(child):
            return child
    return None


def viewport(widget: Widget) -> tuple[float, float, float, float]:
    """The part of the window where `widget` can be seen: inside every scroll view it is
    in (left, bottom, right, top in window pixels)."""
    left, bottom, right, top = -math.inf, -math.inf, math.inf, math.inf
    parent = widget.parent
    while parent is not None and parent is not parent.parent:
        if isinstance(parent, ScrollView):
            scroll_left, scroll_bottom, scroll_right, scroll_top = window_rect(parent)
            left, bottom = max(left, scroll_left), max(bottom, scroll_bottom)
            right, top = min(right, scroll_right), min(top, scroll_top)
        parent = parent.parent
    return left, bottom, right, top


def reachable(root: Widget, widget: Widget) -> bool:
    """Whether a touch can reach `widget` now: shown, and on top at its centre (not under
    a modal or a backdrop, not scrolled out of its list)."""
    if not shown(widget):
        return False
    left, bottom, right, top = window_rect(widget)
    found = touched_at(root, (left + right) / 2, (bottom + top) / 2)
    return found is widget


def breaks_a_word(label: Label) -> bool:
    """Whether `label` had to cut a word over two lines to fit its width ("Accessibili"
    then "té"): Kivy wraps between words, and breaks a word only when it cannot."""
    if label.markup:
        return False  # its text holds tags the lines do not
    lines = ["".join(word.text for word in line.words) for line in label._label._cached_lines]
    return any(not any(word in line for line in lines) for word in label.text.split())


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
        self._diverted = 0  # readings diverted when the step began (see _settle)

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
        self._diverted = self.runtime.diverted  # a reading the installer takes shows no view
        if step.kind == "tap_card":
            if self.simulators.card is None:
                raise JourneyError("tap_card needs the simulated NFC reader")
            self.simulators.card.tap(loyalty_records(step.value))
            await self._settle(since)
        elif step.kind == "tap_badge":
            if self.simulators.card is None:
                raise JourneyError("tap_badge needs the simulated NFC reader")
            self.simulators.card.tap(staff_badge_records(step.value))
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
        elif step.kind == "resize":
            await self._resize(step.value)
        elif step.kind == "swipe":
            await self._swipe(step.value)
        elif step.kind == "screenshot":
            await self._laid_out()
            self.screenshots.mkdir(parents=True, exist_ok=True)
            self.app.root.export_to_png(str(self.screenshots / f"{step.value}.png"))
            # Beside each picture, what could be touched on it and how big (for checks).
            touchable = self.touchable()
            (self.screenshots / f"{step.value}.buttons.json").write_text(json.dumps(touchable))
            # And every text shown, with whether it fits its box (nothing cut off).
            texts = json.dumps(self.texts())
            (self.screenshots / f"{step.value}.texts.json").write_text(texts)

    async def _laid_out(self) -> None:
        """Wait until the window is laid out: nested layouts that size themselves from
        their children's sizes settle over a few frames, a screen shown for the first
        time at a new window size most of all."""
        previous = None
        for _ in range(LAYOUT_FRAMES):
            await next_frame()
            shape = [(*widget.pos, *widget.size) for widget in self.app.root.walk(restrict=True)]
            if shape == previous:
                return
            previous = shape

    def touchable(self) -> list[dict[str, object]]:
        """Every button a touch can reach now: id, text, size and position in dp."""
        buttons = []
        root = self.app.root
        for widget in root.walk(restrict=True):
            if isinstance(widget, ButtonBehavior) and reachable(root, widget):
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

    async def _resize(self, size: str) -> None:
        """The window becomes WIDTHxHEIGHT pixels: the kiosk on another display."""
        try:
            width, height = (int(side) for side in size.split("x"))
        except ValueError:
            raise JourneyError(f"resize takes WIDTHxHEIGHT in pixels, not {size!r}") from None
        if not (0 < width <= 8192 and 0 < height <= 8192):
            raise JourneyError(f"no display is {size} pixels")
        Window.size = (width, height)
        # SDL resizes, then Kivy lays out over a frame or two: wait until it has.
        async with asyncio.timeout(STEP_TIMEOUT):
            while tuple(Window.size) != (width, height) or tuple(self.app.root.size) != (
                width,
                height,
            ):
                await next_frame()
        await next_frame()
        await next_frame()

    async def _swipe(self, direction: str) -> None:
        """A finger moved across the middle of the screen, to the left or the right."""
        if direction not in ("left", "right"):
            raise JourneyError(f'swipe goes "left" or "right", not {direction!r}')
        start, end = (0.8, 0.2) if direction == "left" else (0.2, 0.8)
        touch = _Finger(start, 0.5)
        Window.dispatch("on_motion", "begin", touch)
        for move in range(1, SWIPE_MOVES + 1):
            await next_frame()
            touch.move_to(start + (end - start) * move / SWIPE_MOVES, 0.5)
            Window.dispatch("on_motion", "update", touch)
        Window.dispatch("on_motion", "end", touch)
        await next_frame()

    def texts(self) -> list[dict[str, object]]:
        """Every text shown now: the text, whether it is drawn whole (its lines fit its
        label and the label the window), and its rectangle in window pixels."""
        found = []
        window_width, window_height = self.app.root.size
        for widget in self.app.root.walk(restrict=True):
            if not isinstance(widget, Label) or not widget.text.strip() or not shown(widget):
                continue
            left, bottom, right, top = window_rect(widget)
            view_left, view_bottom, view_right, view_top = viewport(widget)
            if right <= view_left or left >= view_right or top <= view_bottom:
                continue  # scrolled out of its list: not shown, not cut
            if bottom >= view_top:
                continue
            text_width, text_height = widget.texture_size
            inside = (
                left >= max(-1, view_left - 1)
                and bottom >= max(-1, view_bottom - 1)
                and right <= min(window_width, view_right) + 1
                and top <= min(window_height, view_top) + 1
            )
            fits = text_width <= widget.width + 1 and text_height <= widget.height + 1
            found.append(
                {
                    "text": widget.text,
                    "whole": fits and inside and not breaks_a_word(widget),
                    "rect": [round(left), round(bottom), round(right), round(top)],
                }
            )
        return found

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
        before = self.app.pending()
        button.dispatch("on_press")
        button.dispatch("on_release")
        started = self.app.pending() - before
        if not started:
            # A key that only changes its own widget (a PIN digit, a panel opening):
            # nothing to wait for but the frame that shows it.
            await next_frame()
            return
        # What the touch asked for is done, then drawn if it changed the view.
        async with asyncio.timeout(STEP_TIMEOUT):
            await asyncio.wait(started)
        if self.runtime.changes > since:
            await self._settle(since)
        else:
            await next_frame()  # a touch that changes no session view

    async def _settle(self, since: int) -> None:
        """Wait for the runtime's next view, then for it to be drawn; a staff screen that
        waits on the hub's answer is settled once the answer (or its silence) is shown."""
        async with asyncio.timeout(STEP_TIMEOUT):
            if not await self.runtime.wait_for_change_or_divert(since, self._diverted):
                await next_frame()  # taken by the installer's panel or its self-test
                return
            view = self.runtime.session.view
            while view.staff is not None and view.staff.notice is StaffNotice.WAITING:
                view = await self.runtime.wait_for_change(self.runtime.changes)
            while self.app.drawn_change < self.runtime.changes:
                self.app.drawn.clear()
                await self.app.drawn.wait()
        await next_frame()


class _Finger(MotionEvent):  # type: ignore[misc]
    """A touch at a point given as a share of the window's width and height."""

    def __init__(self, sx: float, sy: float) -> None:
        super().__init__("journey", "finger", (sx, sy), is_touch=True)
        self.type_id = "touch"

    def depack(self, args: tuple[float, float]) -> None:
        self.sx, self.sy = args
        self.profile = ["pos"]
        super().depack(args)

    def move_to(self, sx: float, sy: float) -> None:
        """Move the finger, as the next motion event says."""
        self.move((sx, sy))
