"""The demo's simulator panel: show a demo product to the camera (or the handheld
wedge scanner), tap a demo card or a demo staff badge.

It drives the simulated devices at their hardware boundary (frames to the real
decoder, an NFC peer to the real reader), never the session directly.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from kivy.lang import Builder
from kivy.properties import BooleanProperty, ObjectProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button

from devices.barcode.gs1 import display_gtin
from devices.nfc.card_formats import loyalty_records, staff_badge_records
from edge.bootstrap import Simulators
from edge.catalog import Product
from edge.demo import DEMO_STORE
from kiosk.journey import symbology_for

DEMO_LOT = "(17)271231(10)LOT42"  # best before 31/12/2027, lot LOT42
DEMO_STAFF = DEMO_STORE / "feeds" / "staff.jsonl"


def demo_badges(feed: Path = DEMO_STAFF) -> list[tuple[str, str, str]]:
    """(name, role, badge id) of the demo store's staff badges, from the demo's staff
    feed (a retailer's UID-only badges have no id to lay on the simulated reader)."""
    if not feed.exists():
        return []
    badges = []
    for line in feed.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        entry = json.loads(line)
        if isinstance(entry, dict) and isinstance(entry.get("badge"), str):
            badges.append((str(entry.get("name", "")), str(entry.get("role", "")), entry["badge"]))
    return badges


def code_on_pack(product: Product) -> str:
    """The text of the code a demo product carries: its EAN, or a GS1 2D symbol's."""
    if product.label == "gs1-datamatrix":
        return f"(01){product.gtin}{DEMO_LOT}"
    if product.label == "gs1-qr":
        return f"https://id.gs1.org/01/{product.gtin}"  # a GS1 Digital Link
    return display_gtin(product.gtin)


Builder.load_file(str(Path(__file__).with_suffix(".kv")))


class SimulatorPanel(BoxLayout):  # type: ignore[misc]
    """A hideable side panel with one button per demo product and demo card."""

    simulators = ObjectProperty(None)
    shown = BooleanProperty(True)
    use_wedge = BooleanProperty(False)  # scan with the handheld wedge instead of the camera

    def populate(
        self,
        simulators: Simulators,
        products: list[tuple[str, str]],
        cards: list[tuple[str, str]],
        badges: Sequence[tuple[str, str]] = (),
    ) -> None:
        """Add buttons for (label, code on the pack) products, (label, card number) cards
        and (label, badge id) staff badges."""
        self.simulators = simulators
        for label, barcode in products:
            if not barcode.isdigit():
                label += " (QR)" if barcode.startswith("https://") else " (DataMatrix)"
            button = Button(text=label, size_hint_y=None, height="48dp", font_size="15sp")
            button.bind(on_release=lambda _, code=barcode: self.show_product(code))
            self.ids.products.add_widget(button)
        for label, number in cards:
            button = Button(text=label, size_hint_y=None, height="48dp", font_size="15sp")
            button.bind(on_release=lambda _, card=number: self.tap_card(card))
            self.ids.cards.add_widget(button)
        for label, badge in badges:
            button = Button(text=label, size_hint_y=None, height="48dp", font_size="15sp")
            button.bind(on_release=lambda _, badge=badge: self.tap_badge(badge))
            self.ids.badges.add_widget(button)

    def show_product(self, barcode: str) -> None:
        """Hold a product's barcode in front of the simulated camera (or the wedge scanner)."""
        if self.simulators is None:
            return
        if self.use_wedge and self.simulators.wedge is not None and barcode.isdigit():
            self.simulators.wedge.type_code(barcode)
        elif self.simulators.camera is not None:
            symbology, gs1 = symbology_for(barcode)
            self.simulators.camera.show(barcode, symbology, frames=8, gs1=gs1)

    def tap_card(self, number: str) -> None:
        """Lay a loyalty card on the simulated NFC reader."""
        if self.simulators is not None and self.simulators.card is not None:
            self.simulators.card.tap(loyalty_records(number))

    def tap_badge(self, badge: str) -> None:
        """Lay a staff badge on the simulated NFC reader."""
        if self.simulators is not None and self.simulators.card is not None:
            self.simulators.card.tap(staff_badge_records(badge))
