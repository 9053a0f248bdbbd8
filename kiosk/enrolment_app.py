"""The screen of a kiosk that was never enrolled: show the hub's code to the camera.

`borne kiosk --config F` on a kiosk whose configuration names no store or device comes
here instead of refusing to start: the installer holds up the code `borne hub
enrol-code` printed, the kiosk enrols itself with it (the same as `borne enrol`), and
then starts again as the store's kiosk (the launcher runs it afresh, with the
configuration the enrolment wrote).

An image that ships `[kiosk] installer_pin_hash` asks for the installer's PIN before
it looks for a code (five wrong PINs lock the pad, as in the staff corner); without
one, the code itself is the secret: single use, ten minutes, for one hub's CA.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.core.window import Window
from kivy.lang import Builder
from kivy.metrics import Metrics
from kivy.uix.floatlayout import FloatLayout

from devices.barcode.capture import OpenCVCapture
from devices.barcode.scanner import CameraScanner
from devices.readings import BarcodeScan
from devices.status import DeviceState, DeviceStatus
from edge.config import Config
from edge.lockdown import ExitLock

Builder.load_file(str(Path(__file__).parent / "screens" / "common.kv"))

from kiosk.i18n import Translator  # noqa: E402
from kiosk.installer import ENROLLING, WAITING, EnrolmentFlow, EnrolmentOutcome  # noqa: E402
from kiosk.installer_panel import InstallerPanel  # noqa: E402
from kiosk.screen_cover import cover_the_screen  # noqa: E402
from kiosk.staff_exit import StaffPinPad  # noqa: E402
from kiosk.theme import Theme, check_rotation, turned_display  # noqa: E402

log = logging.getLogger(__name__)

NOT_ENROLLED = "This kiosk is not enrolled yet."
NO_CAMERA = "No camera is configured: enrol on a terminal with borne enrol."
CAMERA_MISSING = "The camera cannot be found: check its cable."
CAMERA_FAILING = "The camera sends no picture: check its cable."
RESTARTING = "The kiosk starts as the store's kiosk…"
INSTALLER_CODE = "Installer's code"
WRONG_CODE = "Wrong code."
LOCKED_OUT = "Too many wrong codes: try again in a few minutes."
# The installer's steps, shown under the headline until a code is read.
STEPS = (
    "On the hub: borne hub enrol-code --config hub.toml --store STORE",
    "Hold the QR code flat, 20 to 30 cm from the camera.",
    "The kiosk enrols itself, then starts as the store's kiosk.",
)
SCREEN_MESSAGES = (
    NOT_ENROLLED,
    NO_CAMERA,
    CAMERA_MISSING,
    CAMERA_FAILING,
    RESTARTING,
    INSTALLER_CODE,
    WRONG_CODE,
    LOCKED_OUT,
    *STEPS,
)
RESTART_AFTER_SECONDS = 4.0  # long enough to read "Enrolled" at arm's length


class EnrolmentApp(App):  # type: ignore[misc]
    """The installer's panel over the whole screen, fed by the camera."""

    title = "Borne"

    def __init__(self, config_path: Path, config: Config, *, locked: bool, **kwargs: Any) -> None:
        self.tr = Translator.load()
        self.theme = Theme()
        super().__init__(**kwargs)
        self.config_path = config_path
        self.kiosk_config = config
        self.locked = locked
        self.rotation = check_rotation(config.kiosk.rotation)
        self.flow = EnrolmentFlow(config_path, device_id=config.device.device_id)
        self.enrolled = False  # the launcher starts the kiosk when the app stops enrolled
        self.camera: CameraScanner | None = None
        self._camera_trouble = False
        pin_hash = config.kiosk.installer_pin_hash
        self.lock = ExitLock("", installer_hash=pin_hash) if pin_hash else None
        self._tasks: set[asyncio.Task[Any]] = set()

    def build(self) -> FloatLayout:
        root = FloatLayout()
        self.panel = InstallerPanel(
            size_hint=(0.94, 0.92),
            pos_hint={"center_x": 0.5, "center_y": 0.5},
            can_test=False,
            can_close=False,
            enrolling=True,
        )
        self.panel.identity = self.tr._(NOT_ENROLLED)
        self.panel.headline = self.tr._(WAITING)
        self.panel.show_checks(
            [
                {"outcome": "step", "mark": str(number), "title": self.tr._(step)}
                for number, step in enumerate(STEPS, start=1)
            ]
        )
        root.add_widget(self.panel)
        if self.lock is not None:
            self.panel.opacity = 0  # nothing of the enrolment before the installer's PIN
            self.pin_pad = StaffPinPad(
                size_hint=(None, None),
                pos_hint={"center_x": 0.5, "center_y": 0.5},
                title=self.tr._(INSTALLER_CODE),
            )
            self.pin_pad.width = min(Window.width * 0.86, 420 * Metrics.dp * self.theme.unit)
            self.pin_pad.bind(minimum_height=self.pin_pad.setter("height"))
            self.pin_pad.bind(on_submit=self._pin_typed, on_cancel=lambda *_: self.pin_pad.reset())
            root.add_widget(self.pin_pad)
        Window.rotation = self.rotation
        Window.bind(size=self._fit_display, on_request_close=self._on_request_close)
        self._fit_display()
        address = self.kiosk_config.devices.camera
        if not address:
            self.panel.headline = self.tr._(NO_CAMERA)
            self.panel.headline_tone = "warn"
            return root
        source = OpenCVCapture(int(address) if address.isdigit() else address)
        self.camera = CameraScanner(source, self._scanned, on_status=self._camera_status)
        return root

    def on_start(self) -> None:
        if self.locked:
            cover_the_screen()
        if self.camera is not None and self.lock is None:
            self.camera.start()

    def _pin_typed(self, _: object, pin: str) -> None:
        self._spawn(self._check_pin(pin))

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        """Run `coroutine` on the loop, held until done (the loop keeps weak references)."""
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _check_pin(self, pin: str) -> None:
        assert self.lock is not None
        attempt = await asyncio.to_thread(self.lock.attempt, pin)  # PBKDF2: slow on purpose
        if attempt.granted:
            self.root.remove_widget(self.pin_pad)
            self.panel.opacity = 1
            if self.camera is not None:
                self.camera.start()
        elif attempt.locked_out:
            self.pin_pad.reset(self.tr._(LOCKED_OUT))
        else:
            self.pin_pad.reset(self.tr._(WRONG_CODE))

    def on_stop(self) -> None:
        if self.camera is not None:
            self.camera.stop()

    def _fit_display(self, *_: Any) -> None:
        display = turned_display(
            Window.size, self.rotation, self.kiosk_config.kiosk.display_width_mm
        )
        self.theme.fit(display, density=Metrics.density)

    def _on_request_close(self, *_: Any, **__: Any) -> bool:
        return bool(self.locked)  # nothing but an enrolment leaves this screen

    # --- from the camera's thread -------------------------------------------------------

    def _scanned(self, scan: BarcodeScan) -> None:
        Clock.schedule_once(lambda _: self._read(scan.text), 0)

    def _camera_status(self, status: DeviceStatus) -> None:
        Clock.schedule_once(lambda _: self._show_camera(status), 0)

    # --- on the loop --------------------------------------------------------------------

    def _show_camera(self, status: DeviceStatus) -> None:
        trouble = {DeviceState.MISSING: CAMERA_MISSING, DeviceState.FAILING: CAMERA_FAILING}
        message = trouble.get(status.state)
        if message is not None:
            self.panel.detail = self.tr._(message)
        elif self._camera_trouble:
            self.panel.detail = ""  # it answers again: its trouble is no longer news
        self._camera_trouble = message is not None

    def _read(self, text: str) -> None:
        if self.enrolled:
            return
        # Anything else the camera reads (a product held up by mistake) is said to be
        # no enrolment code by the flow itself.
        self._spawn(self._enrol(text))

    async def _enrol(self, text: str) -> None:
        self.panel.headline = self.tr._(ENROLLING)
        self.panel.headline_tone = "text"
        outcome = await self.flow.code_read(text)
        if outcome is not None:
            self._show(outcome)

    def _show(self, outcome: EnrolmentOutcome) -> None:
        self.panel.headline = self.tr._(outcome.headline, **outcome.params)
        self.panel.headline_tone = "good" if outcome.ok else "warn"
        self.panel.detail = outcome.detail
        if outcome.ok:
            self.enrolled = True
            self.panel.enrolling = False
            self.panel.identity = self.tr._(RESTARTING)
            Clock.schedule_once(lambda _: self.stop(), RESTART_AFTER_SECONDS)
