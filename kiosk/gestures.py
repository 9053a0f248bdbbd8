"""A finger's swipe, played through Kivy's real input path, for journeys.

A journey's `{"swipe": "promotion"}` (towards the next item; `"promotion:back"` towards
the previous one) puts a finger down on the button with that id, slides it sideways by
half the button's width and lifts it: the window dispatches it as it would a touch screen's.
"""

from __future__ import annotations

from typing import Any

from kivy.base import EventLoop
from kivy.input.motionevent import MotionEvent
from kivy.uix.widget import Widget

from edge.errors import BorneError

SWIPE_MOVES = 6  # a real finger reports its slide as several moves


class GestureError(BorneError):
    """A gesture asked for something the screen cannot do (a swipe's value is malformed)."""


class Finger(MotionEvent):  # type: ignore[misc]
    """One finger on the touch screen, at window coordinates."""

    def __init__(self, x: float, y: float) -> None:
        super().__init__("journey", id(self), self._normalised(x, y))

    def depack(self, args: dict[str, float]) -> None:
        self.is_touch = True
        self.sx, self.sy = args["x"], args["y"]
        self.profile = ["pos"]
        super().depack(args)

    def down(self) -> None:
        """Lay the finger on the screen."""
        EventLoop.post_dispatch_input("begin", self)

    def slide_to(self, x: float, y: float) -> None:
        """Move the finger, still on the screen."""
        self.move(self._normalised(x, y))
        EventLoop.post_dispatch_input("update", self)

    def lift(self) -> None:
        """Take the finger off."""
        EventLoop.post_dispatch_input("end", self)

    @staticmethod
    def _normalised(x: float, y: float) -> dict[str, float]:
        window: Any = EventLoop.window
        return {"x": x / (window.width - 1.0), "y": y / (window.height - 1.0)}


def parse_swipe(value: object) -> tuple[str, int]:
    """A swipe step's value: the button id and +1 (next, a slide to the left) or -1."""
    if not isinstance(value, str) or not value:
        raise GestureError("swipe takes a button id, optionally followed by ':back'")
    button_id, _, direction = value.partition(":")
    if not button_id or direction not in ("", "back"):
        raise GestureError(f"swipe {value!r}: expected 'BUTTON' or 'BUTTON:back'")
    return button_id, -1 if direction == "back" else 1


def swipe(button: Widget, step: int) -> None:
    """Slide a finger across `button`: towards the left for +1, the right for -1."""
    x, y = button.to_window(button.center_x, button.center_y)
    distance = button.width / 2 * (-1 if step > 0 else 1)
    finger = Finger(x, y)
    finger.down()
    for move in range(1, SWIPE_MOVES + 1):
        finger.slide_to(x + distance * move / SWIPE_MOVES, y)
    finger.lift()
