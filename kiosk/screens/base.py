"""What every kiosk screen shares."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kivy.app import App
from kivy.lang import Builder
from kivy.properties import Property
from kivy.uix.screenmanager import Screen

from edge.session import SessionView


def load_kv(module_file: str) -> None:
    """Load the .kv file that sits beside a screen's module."""
    Builder.load_file(str(Path(module_file).with_suffix(".kv")))


class KioskScreen(Screen):  # type: ignore[misc]
    """A screen that renders a session view."""

    @property
    def app(self) -> Any:
        """The running kiosk (its methods are what a touch does)."""
        return App.get_running_app()

    def show(self, view: SessionView) -> None:
        """Fill the screen from `view` (in its language); called on the main thread only."""

    def clear(self) -> None:
        """Forget what this screen showed of a shopper (its own Kivy properties)."""
        for cls in type(self).__mro__:
            if cls is KioskScreen:
                break
            for name, value in vars(cls).items():
                if isinstance(value, Property):
                    setattr(self, name, value.defaultvalue)

    def _(self, message: str, **values: object) -> str:
        """`message` in the kiosk's current language."""
        translated: str = self.app.tr._(message, **values)
        return translated
