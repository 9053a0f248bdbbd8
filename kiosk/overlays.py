"""The one rule of what lies over the screens: one modal at a time, centred, above a dimmed
backdrop that takes the touches under it; the others wait their turn.

Which modal is on top is decided here, apart from Kivy, so the rule reads in one place:

- the installer's panel goes over anything: the kiosk is in the installer's hands;
- the idle warning goes over the rest: the shopper must see it before the session ends,
  and what it covered comes back when they answer;
- the staff PIN pad goes over the shopper's modals and closes the accessibility panel (a
  shopper's setting is no business of the staff); the session's own modals (the hand-off
  QR code, every review) wait under it, as only the session closes them;
- among the shopper's modals the one opened last is on top; the one it covered comes back
  when it closes.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

from kivy.lang import Builder
from kivy.properties import ColorProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.widget import Widget


class Modal(StrEnum):
    """Every modal of the kiosk."""

    INSTALLER = "installer"
    IDLE_WARNING = "idle_warning"
    PIN_PAD = "pin_pad"
    HANDOFF = "handoff"
    ACCESSIBILITY = "accessibility"
    REVIEWS = "reviews"


# Above the shopper's modals, highest first (see the module docstring).
PRECEDENCE = (Modal.INSTALLER, Modal.IDLE_WARNING, Modal.PIN_PAD)
# Opening the key's modal closes these.
CLOSES: dict[Modal, tuple[Modal, ...]] = {
    Modal.PIN_PAD: (Modal.ACCESSIBILITY,),
    Modal.INSTALLER: (Modal.ACCESSIBILITY, Modal.PIN_PAD),
}


class ModalStack:
    """The modals open now, in the order they opened; `top` is the one shown."""

    def __init__(self) -> None:
        self._opened: list[Modal] = []

    def set_open(self, modal: Modal, is_open: bool) -> tuple[Modal, ...]:
        """Follow one modal's state; the modals this opening closes (to be closed)."""
        if modal in self._opened:
            self._opened.remove(modal)
        if not is_open:
            return ()
        self._opened.append(modal)
        closed = tuple(other for other in CLOSES.get(modal, ()) if other in self._opened)
        for other in closed:
            self._opened.remove(other)
        return closed

    @property
    def top(self) -> Modal | None:
        """The modal a shopper sees and touches now (None: the screen itself)."""
        for modal in PRECEDENCE:
            if modal in self._opened:
                return modal
        return self._opened[-1] if self._opened else None

    @property
    def waiting(self) -> tuple[Modal, ...]:
        """Open modals covered by the top one: they come back when it closes."""
        return tuple(modal for modal in self._opened if modal is not self.top)


BACKDROP = (0, 0, 0, 0.62)  # dark enough that the eye goes to the modal, light enough to
# show the shopper they have not left the screen they were on


class Backdrop(Widget):  # type: ignore[misc]
    """Dims what lies under a modal and takes every touch there: nothing under a modal
    can be pressed by accident."""

    color = ColorProperty(BACKDROP)

    def on_touch_down(self, touch: Any) -> bool:
        return bool(self.collide_point(*touch.pos))

    def on_touch_move(self, touch: Any) -> bool:
        return bool(self.collide_point(*touch.pos))

    def on_touch_up(self, touch: Any) -> bool:
        return bool(self.collide_point(*touch.pos))


class ModalSheet(BoxLayout):  # type: ignore[misc]
    """A modal drawn by a screen itself (every review of a product): a centred card that
    dims the whole window behind it and takes every touch outside it, like a modal of
    the kiosk's own layer. Put it last in the screen, so it is drawn over the rest."""

    backdrop = ColorProperty(BACKDROP)

    def on_touch_down(self, touch: Any) -> bool:
        super().on_touch_down(touch)
        return True

    def on_touch_move(self, touch: Any) -> bool:
        super().on_touch_move(touch)
        return True

    def on_touch_up(self, touch: Any) -> bool:
        super().on_touch_up(touch)
        return True


Builder.load_file(str(Path(__file__).with_suffix(".kv")))
