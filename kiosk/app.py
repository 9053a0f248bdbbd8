"""The kiosk application: composes the screens over the runtime, nothing more.

Kivy runs on the runtime's asyncio loop (`App.async_run`), so runtime callbacks
arrive on the main thread; bursts of view changes are coalesced into one redraw.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.lang import Builder
from kivy.properties import StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.floatlayout import FloatLayout
from kivy.uix.screenmanager import NoTransition, ScreenManager

from devices.barcode.gs1 import display_gtin
from edge.bootstrap import Simulators
from edge.runtime import Runtime
from edge.session import SessionView

Builder.load_file(str(Path(__file__).parent / "screens" / "common.kv"))

from kiosk.i18n import Translator  # noqa: E402
from kiosk.keyboard_wedge import KivyKeyboardWedge  # noqa: E402
from kiosk.kiosk_actions import KioskActions  # noqa: E402
from kiosk.screens.attract import AttractScreen  # noqa: E402 - needs common.kv loaded
from kiosk.screens.base import KioskScreen  # noqa: E402
from kiosk.screens.product import ProductScreen  # noqa: E402
from kiosk.screens.unknown_product import UnknownProductScreen  # noqa: E402
from kiosk.screens.welcome import WelcomeScreen  # noqa: E402
from kiosk.simulator_panel import SimulatorPanel  # noqa: E402
from kiosk.widgets import StarRating  # noqa: E402, F401 - registers the kv class


class KioskApp(App):  # type: ignore[misc]
    """The window: the screens and, in the demo, the simulator panel beside them."""

    title = "Borne"
    language = StringProperty("fr")  # the screen's language, from the session view

    def __init__(
        self,
        runtime: Runtime,
        simulators: Simulators,
        *,
        cards: list[tuple[str, str]],
        store_name: str = "Borne Démo — Paris République",
        simulator_panel: bool = True,
        keyboard_wedge: bool = False,
        **kwargs: Any,
    ) -> None:
        self.tr = Translator.load()  # before super(): kv rules read it while building
        super().__init__(**kwargs)
        self.runtime = runtime
        self.simulators = simulators
        self.cards = cards
        self.store_name = store_name
        self.simulator_panel = simulator_panel
        self.keyboard_wedge = KivyKeyboardWedge(runtime.submit) if keyboard_wedge else None
        self.view = SessionView()
        self.drawn_change = 0  # the runtime's change number now on screen
        self._latest_change = 0
        self._redraw = Clock.create_trigger(self._show_view)
        self._tasks: set[asyncio.Task[Any]] = set()
        self.started = asyncio.Event()
        self.drawn = asyncio.Event()  # set after each redraw, for journeys and tests

    def build(self) -> BoxLayout:
        # The panel sits beside the screens, never over them: what a shopper would
        # see is what the demo shows.
        root = BoxLayout(orientation="horizontal")
        kiosk_area = FloatLayout()
        self.manager = ScreenManager(transition=NoTransition())
        attract = AttractScreen(store_name=self.store_name)
        for screen in (attract, WelcomeScreen(), ProductScreen(), UnknownProductScreen()):
            self.manager.add_widget(screen)
        self.actions = KioskActions()
        kiosk_area.add_widget(self.manager)
        kiosk_area.add_widget(self.actions)
        root.add_widget(kiosk_area)
        if self.simulator_panel and (self.simulators.camera or self.simulators.card):
            self.panel = SimulatorPanel()
            self.panel.populate(self.simulators, self._demo_products(), self._demo_cards())
            root.add_widget(self.panel)
        self.runtime.subscribe(self._on_view)
        if self.keyboard_wedge is not None:
            self.keyboard_wedge.attach()
        return root

    def _demo_products(self) -> list[tuple[str, str]]:
        catalog = self.runtime.catalog
        products = []
        for gtin in catalog.gtins():
            product = catalog.lookup(gtin)
            if product is not None:
                products.append((product.display_name("fr"), display_gtin(gtin)))
        return products

    def _demo_cards(self) -> list[tuple[str, str]]:
        return [(self.tr._("{name}'s card", name=name), number) for name, number in self.cards]

    def _on_view(self, view: SessionView) -> None:
        self.view = view
        self._latest_change = self.runtime.changes
        self._redraw()

    def _show_view(self, *_: Any) -> None:
        self.tr.switch(self.view.language)
        self.language = self.view.language
        self.actions.assist_confirmed = self.view.assist_requested
        self.actions.warn_until(self.view.idle_warning_until)
        self.actions.handoff_url = self.view.handoff_url or ""
        if self.view.session_id is None:
            # The shopper is gone: nothing of them stays in any screen, shown or not.
            for other in self.manager.screens:
                other.clear()
        screen: KioskScreen = self.manager.get_screen(self.view.screen.value)
        screen.show(self.view)
        self.manager.current = screen.name
        self.drawn_change = self._latest_change
        self.drawn.set()

    def on_start(self) -> None:
        self.started.set()

    def switch_language(self, language: str) -> None:
        """A touch on the language button."""
        self._spawn(self.runtime.set_language(language))

    def request_assist(self) -> None:
        """A touch on "call an advisor"."""
        self._spawn(self.runtime.request_assist())

    def hand_off(self, fulfilment: str) -> None:
        """A touch on "click & collect" or "get it delivered"."""
        self._spawn(self.runtime.hand_off(fulfilment))

    def close_hand_off(self) -> None:
        """A touch on "close" under the QR code."""
        self._spawn(self.runtime.close_hand_off())

    def keep_alive(self) -> None:
        """A touch on "continue" under the idle warning."""
        self._spawn(self.runtime.keep_alive())

    def end_session(self, reason: str) -> None:
        """The shopper is done (a touch on 'Terminer'): wipe the session."""
        self._spawn(self.runtime.end_session(reason))

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
