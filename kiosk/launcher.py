"""Starts the kiosk: Kivy settings, the runtime, the window, and an optional journey.

Kivy runs on the runtime's asyncio loop (`App.async_run`), so runtime callbacks
arrive on the main thread; bursts of view changes are coalesced into one redraw.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path

from edge.config import Config
from kiosk.journey import Step, load_journey

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


def run_kiosk(
    config: Config,
    *,
    windowed: bool,
    demo: bool = False,
    journey: Path | None = None,
    screenshots: Path | None = None,
) -> int:
    """Run the kiosk window until closed (or until the journey has been played).

    `demo` allows simulated devices and shows the simulator panel beside the screens;
    a store's kiosk runs only the devices and catalog its configuration names.
    """
    from edge.bootstrap import check_ready

    steps = load_journey(journey) if journey is not None else None
    check_ready(config, simulators_allowed=demo)  # refused before Kivy creates anything
    prepare_kivy(windowed, config.data_dir)
    return asyncio.run(_run(config, steps, screenshots or Path("screenshots"), windowed, demo))


async def _run(
    config: Config, steps: list[Step] | None, screenshots: Path, windowed: bool, demo: bool
) -> int:
    from edge.bootstrap import build_runtime
    from edge.demo import demo_cards
    from kiosk.app import KioskApp
    from kiosk.simulator_panel import demo_badges

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
    try:
        await app.async_run(async_lib="asyncio")
    finally:
        await runtime.close()
        simulators.close()
    if player is not None:
        if not player.done():
            player.cancel()
            # A journey may end with the staff PIN closing the kiosk: that is success.
            return 0 if app.unlocked else 1
        error = player.exception()
        if error is not None:
            log.error("journey failed: %s", error)
            return 1
    return 0
