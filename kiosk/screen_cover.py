"""A locked kiosk covers its whole screen, with or without a window manager.

SDL's fullscreen is a request to the window manager (_NET_WM_STATE_FULLSCREEN). A kiosk
often runs X for itself alone, with no window manager: the request is then ignored and
the window keeps its default size, while Kivy lays the screens out for the whole
display — a shopper would see a slice of the kiosk in a black frame. Seen on a portrait
1080x1920 screen under Xvfb. So the window is also placed and sized by hand.
"""

from __future__ import annotations

from typing import Any

from kivy.clock import Clock
from kivy.core.window import Window


def cover_the_screen() -> None:
    """Make the window a borderless rectangle over the whole display."""
    # With fullscreen "auto" Kivy has sized its layout to the display: that is its size.
    width, height = (int(side) for side in Window.system_size)
    Window.fullscreen = False
    Window.borderless = True

    def place(*_: Any) -> None:  # once SDL has left fullscreen, on the next frame
        Window.left, Window.top = 0, 0
        Window.size = (width, height)

    Clock.schedule_once(place, 0)
