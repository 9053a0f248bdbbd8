"""One kiosk process for `benchmarks.kiosk`, printing its figures as one JSON line.

--cold T0      the demo kiosk up to its attract screen on screen; prints seconds since T0
               (the parent's time.time() just before it started this process)
--bare T0      the same for a bare Kivy window with one label: the floor of any Kivy app
--scans N --sessions M
               in a running kiosk: N barcodes shown to the simulated camera (30 fps),
               timed until the product screen is on screen, then N readings handed to
               the runtime directly (no camera), then M whole shopper sessions with the
               resident memory before and after
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from edge.config import load_config
from edge.intents import (
    EndSession,
    OpenSearch,
    OpenShelf,
    OpenShelves,
    Search,
    ShowProduct,
    TypeText,
)
from kiosk.launcher import prepare_kivy

DEMO_CARD = "9250000000017"


def _rss_bytes() -> int:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize()


async def _next_tick() -> None:
    """Wait for Kivy's next frame: the frame in which a view was applied is drawn at the
    end of that same frame, so by the next tick it is on screen."""
    from kivy.clock import Clock

    done = asyncio.Event()
    Clock.schedule_once(lambda _: done.set(), 0)
    await done.wait()


async def _shown(app: Any, runtime: Any, since: int) -> None:
    """Wait until a view newer than change `since` is drawn and on screen."""
    await runtime.wait_for_change(since)
    while app.drawn_change <= since:
        app.drawn.clear()
        await app.drawn.wait()
    await _next_tick()


async def _measure(app: Any, runtime: Any, simulators: Any, args: argparse.Namespace) -> None:
    from devices.readings import BarcodeScan, CardTap

    figures: dict[str, Any] = {}
    try:
        await app.started.wait()
        await _next_tick()
        if args.cold is not None:
            figures["cold_start_s"] = time.time() - args.cold
            return
        catalog = runtime.catalog
        gtins = [gtin.lstrip("0").zfill(13) for gtin in catalog.gtins()]
        camera, direct = [], []
        for index in range(args.scans):
            code = gtins[index % len(gtins)]  # a new product each time: no debouncing
            since = runtime.changes
            started = time.perf_counter()
            simulators.camera.show(code, frames=4)
            await _shown(app, runtime, since)
            camera.append(time.perf_counter() - started)
            await asyncio.sleep(0.4)  # the code leaves the camera's view
        for index in range(args.scans):
            code = gtins[(index + 7) % len(gtins)]
            since = runtime.changes
            started = time.perf_counter()
            runtime.submit(BarcodeScan("ean13", code, code.zfill(14), "bench", time.time()))
            await _shown(app, runtime, since)
            direct.append(time.perf_counter() - started)
        figures["camera_to_screen_s"] = camera
        figures["reading_to_screen_s"] = direct
        memory = []
        for session in range(args.sessions):
            if session in (args.sessions // 10, args.sessions - 1):
                gc.collect()
                memory.append({"after_sessions": session, "rss_bytes": _rss_bytes()})
            await _one_session(app, runtime, gtins[session % len(gtins)], CardTap, BarcodeScan)
        figures["memory"] = memory
    finally:
        print(json.dumps(figures), flush=True)
        app.stop()


async def _one_session(app: Any, runtime: Any, gtin: str, tap: Any, scan: Any) -> None:
    """A shopper: card, scan, a similar product, a shelf, a search, then gone."""
    steps: list[Callable[[], Awaitable[Any]]] = [
        lambda: runtime.handle(tap(DEMO_CARD, "01", "Type3Tag", "bench", time.time())),
        lambda: runtime.handle(scan("ean13", gtin, gtin.zfill(14), "bench", time.time())),
        lambda: runtime.ask(ShowProduct(runtime.session.view.similar[0].gtin, "similar")),
        lambda: runtime.ask(OpenShelves()),
        lambda: runtime.ask(OpenShelf("cuisine")),
        lambda: runtime.ask(OpenSearch()),
        lambda: runtime.ask(TypeText("casque")),
        lambda: runtime.ask(Search()),
        lambda: runtime.ask(EndSession("home")),
    ]
    for step in steps:
        since = runtime.changes
        await step()
        await _shown(app, runtime, since)


async def _kiosk(args: argparse.Namespace, data_dir: Path) -> None:
    from edge.bootstrap import build_runtime
    from edge.demo import demo_cards, with_demo_store
    from kiosk.app import KioskApp

    # The production commit setting (synchronous = "full"): what a store's kiosk pays.
    config = with_demo_store(load_config(None, {"BORNE_STORAGE__DATA_DIR": str(data_dir)}))
    runtime, simulators = await build_runtime(config, camera_fps=30.0, simulators_allowed=True)
    app = KioskApp(
        runtime,
        simulators,
        cards=demo_cards(),
        store_name=config.device.store_name,
        sounds=data_dir / "sounds",
        simulator_panel=False,
        locked=False,
    )
    await runtime.start()
    measuring = asyncio.create_task(_measure(app, runtime, simulators, args))
    try:
        await app.async_run(async_lib="asyncio")
    finally:
        await runtime.close()
        simulators.close()
    await measuring


def _bare(started: float) -> None:
    from kivy.app import App
    from kivy.clock import Clock
    from kivy.uix.label import Label

    class Bare(App):  # type: ignore[misc]
        def build(self) -> Label:
            return Label(text="Bienvenue !")

        def on_start(self) -> None:
            Clock.schedule_once(self._done, 0)

        def _done(self, *_: Any) -> None:
            print(json.dumps({"cold_start_s": time.time() - started}), flush=True)
            self.stop()

    Bare().run()


def main() -> None:
    """See the module docstring."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--cold", type=float)
    parser.add_argument("--bare", type=float)
    parser.add_argument("--scans", type=int, default=0)
    parser.add_argument("--sessions", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        data_dir = Path(folder)
        os.environ["SDL_AUDIODRIVER"] = "dummy"
        prepare_kivy(windowed=True, data_dir=data_dir)
        if args.bare is not None:
            _bare(args.bare)
        else:
            asyncio.run(_kiosk(args, data_dir))
    sys.exit(0)


if __name__ == "__main__":
    main()
