"""What every kiosk screen shares."""

from __future__ import annotations

from pathlib import Path

from kivy.app import App
from kivy.lang import Builder
from kivy.uix.screenmanager import Screen

from edge.session import SessionView


def load_kv(module_file: str) -> None:
    """Load the .kv file that sits beside a screen's module."""
    Builder.load_file(str(Path(module_file).with_suffix(".kv")))


class KioskScreen(Screen):  # type: ignore[misc]
    """A screen that renders a session view."""

    def show(self, view: SessionView) -> None:
        """Fill the screen from `view` (in its language); called on the main thread only."""

    def _(self, message: str, **values: object) -> str:
        """`message` in the kiosk's current language."""
        translated: str = App.get_running_app().tr._(message, **values)
        return translated
