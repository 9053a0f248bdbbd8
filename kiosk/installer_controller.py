"""The installer's panel over a running kiosk: opened from the staff corner with the
installer's PIN, it runs the self-test on the kiosk's own devices and enrols again.

An enrolment code the camera reads is never a shopper's scan (the runtime's `divert`):
the panel uses it when it waits for one, and drops it otherwise (its token never goes
into an event). Everything else reaches the session, or the self-test while it runs.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kivy.clock import Clock
from kivy.core.window import Window

from devices.readings import BarcodeScan, Reading
from edge.config import Config
from kiosk.installer import ENROLLING, WAITING, EnrolmentFlow, EnrolmentOutcome, ca_sha256

if TYPE_CHECKING:
    from kiosk.app import KioskApp

log = logging.getLogger(__name__)

IDENTITY = "Store {store} · kiosk {device}"
CHOOSE = "Run the self-test, or enrol this kiosk again."
ENROLLED_RESTART = "The kiosk starts again with its new certificate…"
NO_CONFIG_FILE = "This kiosk was started without a configuration file: enrol it with borne enrol."
SCREEN_MESSAGES = (IDENTITY, CHOOSE, ENROLLED_RESTART, NO_CONFIG_FILE)
RESTART_AFTER_SECONDS = 4.0


@dataclass(frozen=True)
class InstallerSetup:
    """What the panel needs beyond the runtime: the configuration and where it is read."""

    config: Config
    config_path: Path | None  # None: the demo's own settings, nowhere to enrol into


class InstallerController:
    """Drives the installer's panel of one kiosk app."""

    def __init__(self, app: KioskApp, setup: InstallerSetup) -> None:
        self.app = app
        self.setup = setup
        self.flow = (
            EnrolmentFlow(
                setup.config_path,
                device_id=setup.config.device.device_id,
                hub_ca_sha256=ca_sha256(setup.config.mqtt.ca_file),
            )
            if setup.config_path is not None
            else None
        )
        self.restart_requested = False  # the launcher starts the kiosk again when set
        self._tasks: set[asyncio.Task[Any]] = set()
        app.runtime.divert = self._divert
        # An installer who walks away leaves no open panel (and its close button) to a
        # shopper: it closes after staff mode's quiet time, a running self-test aside.
        self._quiet = Clock.create_trigger(self._quiet_for_long, setup.config.staff.lock_after)

    @property
    def panel(self) -> Any:
        return self.app.actions.ids.installer_panel

    def open(self) -> None:
        """The installer's PIN was accepted: show the panel."""
        device = self.setup.config.device
        _ = self.app.tr._
        panel = self.panel
        panel.identity = _(IDENTITY, store=device.store_id, device=device.device_id)
        panel.headline = _(CHOOSE)
        panel.headline_tone = "text"
        panel.detail = ""
        panel.enrolling = False
        panel.show_checks([])
        self.app.actions.installer_open = True
        Window.bind(on_touch_down=self._touched)
        self._quiet()

    def _touched(self, *_: Any) -> None:
        self.stay_open()

    def stay_open(self) -> None:
        """Count the quiet time afresh (a touch; the self-test's results just shown)."""
        self._quiet.cancel()
        self._quiet()

    def _quiet_for_long(self, *_: Any) -> None:
        enrolling = self.flow is not None and self.flow.busy
        if self.panel.testing or enrolling:
            self._quiet()  # not while the devices or the hub are busy for the installer
            return
        log.info("installer's panel closed after %.0f quiet seconds", self._quiet.timeout)
        self.close()

    def close(self) -> None:
        """The panel's back button, or the quiet time over."""
        Window.unbind(on_touch_down=self._touched)
        self._quiet.cancel()
        self.panel.enrolling = False
        self.app.actions.installer_open = False

    def close_kiosk(self) -> None:
        """The installer may close the kiosk, as staff may."""
        log.info("kiosk closed by the installer")
        self.close()
        self.app.unlocked = True
        self.app.stop()

    def wait_for_code(self) -> None:
        """The enrol button: the next enrolment code the camera reads is used."""
        _ = self.app.tr._
        if self.flow is None:
            self.panel.headline = _(NO_CONFIG_FILE)
            self.panel.headline_tone = "warn"
            return
        self.panel.enrolling = True
        self.panel.headline = _(WAITING)
        self.panel.headline_tone = "text"
        self.panel.detail = ""

    def self_test(self) -> None:
        """The self-test button: the checks run on the kiosk's own devices."""
        from kiosk.installer_self_test import run_self_test

        self._spawn(run_self_test(self))

    # --- the camera ----------------------------------------------------------------------

    def _divert(self, reading: Reading) -> bool:
        """The runtime's divert hook: True takes an enrolment code away from the session."""
        if not isinstance(reading, BarcodeScan) or not EnrolmentFlow.wants(reading.text):
            return False
        if self.flow is not None and self.app.actions.installer_open and self.panel.enrolling:
            self._spawn(self._enrol(reading.text))
        return True  # never a shopper's scan, even when no enrolment was asked for

    async def _enrol(self, text: str) -> None:
        assert self.flow is not None
        _ = self.app.tr._
        self.panel.headline = _(ENROLLING)
        outcome = await self.flow.code_read(text)
        if outcome is not None:
            self._show(outcome)

    def _show(self, outcome: EnrolmentOutcome) -> None:
        _ = self.app.tr._
        panel = self.panel
        panel.headline = _(outcome.headline, **outcome.params)
        panel.headline_tone = "good" if outcome.ok else "warn"
        panel.detail = outcome.detail
        if outcome.ok:
            panel.enrolling = False
            panel.can_close = False  # the kiosk goes on with its new identity only
            panel.identity = _(ENROLLED_RESTART)
            self.restart_requested = True
            Clock.schedule_once(lambda _: self.app.stop(), RESTART_AFTER_SECONDS)

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
