"""The kiosk application: composes the screens over the runtime, nothing more.

Kivy runs on the runtime's asyncio loop (`App.async_run`), so runtime callbacks
arrive on the main thread; bursts of view changes are coalesced into one redraw.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.core.window import Window
from kivy.lang import Builder
from kivy.metrics import Metrics
from kivy.properties import ObjectProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.floatlayout import FloatLayout
from kivy.uix.screenmanager import NoTransition, ScreenManager

from edge.bootstrap import Simulators
from edge.config import Config
from edge.intents import Intent
from edge.runtime import Runtime
from edge.session import Accessibility, Screen, SessionView
from kiosk.widgets import ProductTile, StarRating  # noqa: F401 - kv classes used by common.kv

Builder.load_file(str(Path(__file__).parent / "screens" / "common.kv"))

from kiosk.feedback import ScanChime  # noqa: E402
from kiosk.i18n import Translator  # noqa: E402
from kiosk.installer_controller import InstallerController, InstallerSetup  # noqa: E402
from kiosk.keyboard_wedge import KivyKeyboardWedge  # noqa: E402
from kiosk.kiosk_actions import KioskActions  # noqa: E402 - needs common.kv loaded
from kiosk.screen_cover import cover_the_screen  # noqa: E402
from kiosk.screens.attract import AttractScreen  # noqa: E402
from kiosk.screens.base import KioskScreen  # noqa: E402
from kiosk.screens.browse import BrowseScreen  # noqa: E402
from kiosk.screens.product import ProductScreen  # noqa: E402
from kiosk.screens.search import SearchScreen  # noqa: E402
from kiosk.screens.staff_customer import StaffCustomerScreen  # noqa: E402
from kiosk.screens.staff_home import StaffHomeScreen  # noqa: E402
from kiosk.screens.staff_order import StaffOrderScreen  # noqa: E402
from kiosk.screens.staff_pin import StaffPinScreen  # noqa: E402
from kiosk.screens.unknown_product import UnknownProductScreen  # noqa: E402
from kiosk.screens.welcome import WelcomeScreen  # noqa: E402
from kiosk.simulator_panel import SimulatorPanel, code_on_pack  # noqa: E402
from kiosk.staff_words import first_name, role_name  # noqa: E402
from kiosk.theme import Theme, check_rotation, turned_display  # noqa: E402

log = logging.getLogger(__name__)


class KioskApp(App):  # type: ignore[misc]
    """The window: the screens and, in the demo, the simulator panel beside them."""

    title = "Borne"
    language = StringProperty("fr")  # the screen's language, from the session view
    accessibility = ObjectProperty(Accessibility())  # this shopper's settings

    def __init__(
        self,
        runtime: Runtime,
        simulators: Simulators,
        *,
        cards: list[tuple[str, str]],
        sounds: Path,
        store_name: str = "",
        store_names: dict[str, str] | None = None,
        badges: list[tuple[str, str, str]] | None = None,
        simulator_panel: bool = True,
        keyboard_wedge: bool = False,
        locked: bool = True,
        rotation: int = 0,
        display_width_mm: float | None = None,
        installer: InstallerSetup | None = None,
        **kwargs: Any,
    ) -> None:
        # Before super(): kv rules read them while building.
        self.tr = Translator.load()
        self.theme = Theme()
        super().__init__(**kwargs)
        self.runtime = runtime
        self.simulators = simulators
        self.cards = cards
        self.sounds = sounds
        self.store_name = store_name
        # Store codes an order names ("paris-01") as an associate knows them.
        self.store_names = dict(store_names or {})
        self.badges = badges or []  # the demo's (name, role, badge id), for the panel
        self.simulator_panel = simulator_panel
        self.keyboard_wedge = KivyKeyboardWedge(runtime.submit) if keyboard_wedge else None
        self.locked = locked  # fullscreen kiosk: only the staff PIN closes it
        self.rotation = check_rotation(rotation)  # a display mounted turned
        self.display_width_mm = display_width_mm  # its physical width, when known
        self.unlocked = False
        # The demo's has no configuration file: its panel tests, it does not enrol.
        self._installer_setup = installer or InstallerSetup(Config(), None)
        self.view = SessionView()
        self.drawn_view = SessionView()  # what is on screen now
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
        self.chime = ScanChime(self.sounds)
        self.manager = ScreenManager(transition=NoTransition())
        screens = (
            AttractScreen(store_name=self.store_name),
            WelcomeScreen(),
            ProductScreen(),
            UnknownProductScreen(),
            BrowseScreen(),
            SearchScreen(),
            StaffPinScreen(),
            StaffHomeScreen(),
            StaffCustomerScreen(),
            StaffOrderScreen(),
        )
        for screen in screens:
            self.manager.add_widget(screen)
        self.actions = KioskActions()
        self.installer = InstallerController(self, self._installer_setup)
        kiosk_area.add_widget(self.manager)
        kiosk_area.add_widget(self.actions)
        root.add_widget(kiosk_area)
        if self.simulator_panel and (self.simulators.camera or self.simulators.card):
            self.panel = SimulatorPanel()
            self.panel.populate(
                self.simulators, self._demo_products(), self._demo_cards(), self._demo_badges()
            )
            root.add_widget(self.panel)
        self.runtime.subscribe(self._on_view)
        if self.keyboard_wedge is not None:
            self.keyboard_wedge.attach()
        Window.bind(on_request_close=self._on_request_close)
        Window.rotation = self.rotation
        Window.bind(size=self._fit_display)
        self._fit_display()
        return root

    def _fit_display(self, *_: Any) -> None:
        """Lay the screens out for the window as it is now (its size follows the display)."""
        display = turned_display(Window.size, self.rotation, self.display_width_mm)
        self.theme.fit(display, density=Metrics.density)

    def _demo_products(self) -> list[tuple[str, str]]:
        catalog = self.runtime.catalog
        products = []
        for gtin in catalog.gtins():
            product = catalog.lookup(gtin)
            if product is not None:
                products.append((product.display_name("fr"), code_on_pack(product)))
        return products

    def _demo_cards(self) -> list[tuple[str, str]]:
        return [(self.tr._("{name}'s card", name=name), number) for name, number in self.cards]

    def _demo_badges(self) -> list[tuple[str, str]]:
        _ = self.tr._
        return [
            (_("{name}'s badge ({role})", name=first_name(name), role=role_name(role, _)), badge)
            for name, role, badge in self.badges
        ]

    def _on_view(self, view: SessionView) -> None:
        self.view = view
        self._latest_change = self.runtime.changes
        self._redraw()

    def _show_view(self, *_: Any) -> None:
        view, previous = self.view, self.drawn_view
        if view.scans > previous.scans:
            self.chime.play()
            self.actions.flash()
        self.tr.switch(view.language)
        self.language = view.language
        self.accessibility = view.accessibility
        self.theme.apply(view.accessibility)
        self.actions.assist_confirmed = view.assist_requested
        # "Léa arrive": a colleague is named to a shopper by their first name only.
        self.actions.assist_taken_by = first_name(view.assist_taken_by or "")
        self.actions.staff_mode = view.staff is not None
        self.actions.warn_until(view.idle_warning_until)
        self.actions.handoff_url = view.handoff_url or ""
        screen: KioskScreen = self.manager.get_screen(_screen_name(view))
        if view.session_id is None:
            # The shopper is gone: nothing of them stays in any screen, shown or not;
            # and once staff mode ends, nothing of it either. The staff screen shown
            # is refilled below: what it showed before is not wiped under the finger.
            self.actions.accessibility_open = False
            for other in self.manager.screens:
                if other is not screen or view.staff is None:
                    other.clear()
        screen.show(view)
        self.manager.current = screen.name
        self.drawn_view = view
        self.drawn_change = self._latest_change
        self.drawn.set()

    def on_start(self) -> None:
        if self.locked:
            cover_the_screen()
        self.started.set()

    def open_settings(self, *_: Any) -> bool:
        """Kivy's settings panel (F1) is not for shoppers: never while the kiosk is locked."""
        if self.locked and not self.unlocked:
            return False
        return bool(super().open_settings())

    # --- what a touch does -------------------------------------------------------------

    def ask(self, intent: Intent) -> None:
        """A touch asked for something: the runtime does it, the view follows."""
        self._spawn(self.runtime.ask(intent))

    # --- the lock ----------------------------------------------------------------------

    def ask_staff_pin(self) -> None:
        """A touch in the staff corner: show the PIN pad."""
        self.actions.ids.pin_pad.reset()
        self.actions.pin_open = True

    def close_staff_pin(self) -> None:
        """The PIN pad's cancel key."""
        self.actions.ids.pin_pad.reset()
        self.actions.pin_open = False

    def submit_staff_pin(self, pin: str) -> None:
        """The PIN pad's OK key: close the kiosk if the lock accepts the PIN."""
        self._spawn(self._try_exit(pin))

    async def _try_exit(self, pin: str) -> None:
        pad = self.actions.ids.pin_pad
        pad.reset()
        attempt = await self.runtime.try_exit(pin)
        if attempt is None:
            pad.message = self.tr._("No staff code is set on this kiosk.")
        elif attempt.granted and attempt.installer:
            self.close_staff_pin()
            self.installer.open()
        elif attempt.granted:
            log.info("kiosk closed by staff")
            self.unlocked = True
            self.stop()
        elif attempt.locked_out:
            pad.message = self.tr._("Too many wrong codes: try again in a few minutes.")
        else:
            pad.message = self.tr._("Wrong code.")

    def _on_request_close(self, *_: Any, **__: Any) -> bool:
        """Alt+F4 and the like: refused while locked (True means "handled, stay open")."""
        return self.locked and not self.unlocked

    def pending(self) -> set[asyncio.Task[Any]]:
        """What touches asked for and is not done yet (journeys wait for it)."""
        return set(self._tasks)

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _screen_name(view: SessionView) -> str:
    """The screen that shows `view`: staff mode has one screen per staff page."""
    if view.screen is Screen.STAFF and view.staff is not None:
        return f"staff_{view.staff.page.value}"
    return view.screen.value
