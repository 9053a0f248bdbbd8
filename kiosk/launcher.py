"""Starts the kiosk: Kivy settings, the runtime, the window, and an optional journey.

Kivy runs on the runtime's asyncio loop (`App.async_run`), so runtime callbacks
arrive on the main thread; bursts of view changes are coalesced into one redraw.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from edge.config import Config
from kiosk.journey import Step, load_journey

if TYPE_CHECKING:  # Kivy is imported once its settings are made (prepare_kivy)
    from edge.sd_notify import ServiceNotifier
    from kiosk.app import KioskApp

log = logging.getLogger(__name__)


def prepare_kivy(windowed: bool, data_dir: Path) -> None:
    """Settings Kivy reads at import time: set them before the first Kivy import."""
    os.environ.setdefault("KIVY_NO_ARGS", "1")  # our argv is ours, not Kivy's
    # Kivy's own config and logs live with the kiosk's data, not in a home folder.
    kivy_home = Path(os.environ.setdefault("KIVY_HOME", str(data_dir / "kivy")))
    kivy_home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("KIVY_NO_FILELOG", "1")
    os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")  # through our redacting handler
    from kivy.config import Config as KivyConfig

    KivyConfig.set("graphics", "fullscreen", "0" if windowed else "auto")
    KivyConfig.set("graphics", "width", "1280")
    KivyConfig.set("graphics", "height", "800")
    KivyConfig.set("kivy", "exit_on_escape", "0" if not windowed else "1")
    KivyConfig.set("input", "mouse", "mouse,disable_multitouch")
    # No multisampling: the screens are flat panels and text, and Kivy's default 2x MSAA
    # made a 4K totem's every frame dear (under software rendering an empty frame took
    # 0.20 s instead of 0.03 s; the size tests' 4K tour 60 s instead of 35 s). Screenshots
    # (an Fbo) never had it: they look the same with or without.
    KivyConfig.set("graphics", "multisamples", "0")


def run_kiosk(
    config: Config,
    *,
    windowed: bool,
    demo: bool = False,
    journey: Path | None = None,
    screenshots: Path | None = None,
    config_path: Path | None = None,
) -> int:
    """Run the kiosk window until closed (or until the journey has been played).

    `demo` allows simulated devices and shows the simulator panel beside the screens;
    a store's kiosk runs only the devices and catalog its configuration names. A store's
    kiosk whose configuration (`config_path`) names no store or device yet shows the
    enrolment screen, then starts again enrolled.
    """
    from edge.bootstrap import check_ready, is_enrolled

    _starting()
    if not demo and config_path is not None and not is_enrolled(config):
        prepare_kivy(windowed, config.data_dir)
        if asyncio.run(_enrol_on_screen(config_path, config, windowed)):
            _start_again()
        return 0
    steps = load_journey(journey) if journey is not None else None
    check_ready(config, simulators_allowed=demo)  # refused before Kivy creates anything
    prepare_kivy(windowed, config.data_dir)
    shots = screenshots or Path("screenshots")
    status = asyncio.run(_run(config, config_path, steps, shots, windowed, demo))
    if status == START_AGAIN:
        _start_again()
    return status


def _starting() -> None:
    """Tell systemd the kiosk is starting: started again after an enrolment, this
    process runs under the armed watchdog of the one it replaced, and nothing feeds it
    until the loop runs (edge.sd_notify `starting`)."""
    from edge.sd_notify import ServiceNotifier

    service = ServiceNotifier.from_environment()
    service.starting()
    service.close()


START_AGAIN = -1  # _run's status when the installer enrolled the kiosk again


def _start_again() -> None:
    """Run `borne kiosk` afresh, as it was started: Kivy's window cannot be built twice
    in one process, and the new configuration is read the same way as at boot."""
    log.info("enrolled: starting again as the store's kiosk")
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])  # noqa: S606 - ourselves


async def _enrol_on_screen(config_path: Path, config: Config, windowed: bool) -> bool:
    """The enrolment screen until enrolled (True) or closed (False)."""
    from edge.sd_notify import ServiceNotifier
    from kiosk.enrolment_app import EnrolmentApp

    app = EnrolmentApp(config_path, config, locked=not windowed)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, app.stop)
    # Under systemd the enrolment screen is the kiosk's service as much as the kiosk is.
    service = ServiceNotifier.from_environment()
    service.ready("enrolment screen: waiting for the installer's code")
    try:
        async with service.watchdog_fed():
            await app.async_run(async_lib="asyncio")
            service.stopping()
    finally:
        service.close()
    return app.enrolled


async def _run(
    config: Config,
    config_path: Path | None,
    steps: list[Step] | None,
    screenshots: Path,
    windowed: bool,
    demo: bool,
) -> int:
    from edge.bootstrap import build_runtime
    from edge.demo import demo_cards
    from edge.sd_notify import ServiceNotifier
    from kiosk.app import KioskApp
    from kiosk.installer_controller import InstallerSetup
    from kiosk.simulator_panel import demo_badges

    _starting()  # the catalog is loaded next, before the loop feeds the watchdog
    runtime, simulators = await build_runtime(config, simulators_allowed=demo)
    # A scripted journey drives the simulators itself: its screenshots show the kiosk alone.
    app = KioskApp(
        runtime,
        simulators,
        cards=demo_cards() if demo else [],
        store_name=config.device.store_name,
        store_names={
            **config.catalog.store_names,
            config.device.store_id: config.device.store_name,
        },
        badges=demo_badges() if demo else [],
        simulator_panel=demo and steps is None,
        keyboard_wedge=config.devices.hid == "keyboard",
        sounds=config.data_dir / "sounds",
        locked=not windowed,
        rotation=config.kiosk.rotation,
        display_width_mm=config.kiosk.display_width_mm,
        installer=InstallerSetup(config, config_path if not demo else None),
    )
    await runtime.start()
    player = None
    if steps is not None:
        from kiosk.journey_player import JourneyPlayer

        player = asyncio.create_task(
            JourneyPlayer(app, runtime, simulators, screenshots).play(steps)
        )
    # The service manager stops a store's kiosk with SIGTERM: close as cleanly as staff would.
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, app.stop)
    # Under systemd (cage is the unit's main process, hence NotifyAccess=all): ready once
    # the window is up, and the watchdog fed from this loop, which Kivy's frames share:
    # a hung screen stops the pings and the kiosk is restarted.
    service = ServiceNotifier.from_environment()
    ready = asyncio.create_task(_ready_when_shown(app, service), name="service-ready")
    try:
        async with service.watchdog_fed():
            await app.async_run(async_lib="asyncio")
            service.stopping()
    finally:
        ready.cancel()
        await runtime.close()
        simulators.close()
        service.close()
    if player is not None:
        if not player.done():
            player.cancel()
            # A journey may end with the staff PIN closing the kiosk: that is success.
            return 0 if app.unlocked else 1
        error = player.exception()
        if error is not None:
            log.error("journey failed: %s", error)
            return 1
    return START_AGAIN if app.installer.restart_requested else 0


async def _ready_when_shown(app: KioskApp, service: ServiceNotifier) -> None:
    """Tell the service manager the kiosk is up once its window shows the first screen."""
    await app.started.wait()
    service.ready("attract screen")
