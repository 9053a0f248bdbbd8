"""The accessibility panel: high contrast, large text, controls within reach."""

from __future__ import annotations

from pathlib import Path

from kivy.lang import Builder
from kivy.uix.boxlayout import BoxLayout

Builder.load_file(str(Path(__file__).with_suffix(".kv")))


class AccessibilityPanel(BoxLayout):  # type: ignore[misc]
    """Three switches for this shopper; they end with the session like everything else.

    Its "Close" key fires `on_close`: whoever shows the panel decides what closing means.
    """

    __events__ = ("on_close",)

    def on_close(self) -> None:
        """The shopper closed the panel (default handler: nothing more to do here)."""
