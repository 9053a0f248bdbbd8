"""The runtime as the kiosk uses it: sessions end when the shopper walks away."""

from __future__ import annotations

import asyncio
import gc
import json
import random
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from devices.backoff import Backoff
from devices.readings import BarcodeScan, BeaconSighting, CardTap
from edge.bootstrap import build_runtime
from edge.catalog import Customer, Product
from edge.config import load_config
from edge.intents import KeepAlive, ShowProduct
from edge.session import Screen
from tests.asyncapi import check_message
from tests.conftest import BORNE, Subscriber, write_config
from tests.mosquitto import Broker


def test_backoff_is_jittered_bounded_and_reset() -> None:
    backoff = Backoff(base=0.5, cap=8.0, rng=random.Random(1))
    delays = [backoff.next_delay() for _ in range(40)]
    assert all(0.05 <= d <= 8.0 for d in delays)
    assert len({round(d, 6) for d in delays}) > 30, "kiosks must not retry in lockstep"
    assert max(delays[:2]) <= 1.0  # starts small
    backoff.reset()
    assert backoff.next_delay() <= 0.5


def test_an_idle_shopper_is_warned_then_forgotten(tmp_path: Path) -> None:
    config = load_config(
        write_config(tmp_path / "kiosk.toml", tmp_path / "data"),
        {
            "BORNE_SESSION__IDLE_TIMEOUT": "0.3",
            "BORNE_DEVICES__CAMERA": "",
            "BORNE_DEVICES__NFC": "",
        },
    )

    async def scenario() -> list[str]:
        runtime, _ = await build_runtime(config)
        seen: list[Screen] = []
        runtime.subscribe(lambda view: seen.append(view.screen))
        await runtime.start()
        try:
            await runtime.handle(CardTap("9250000000017", "01", "Type3Tag", "test", time.time()))
            await runtime.handle(
                BarcodeScan("ean13", "3760123450010", "03760123450010", "test", time.time())
            )
            async with asyncio.timeout(5):  # quiet for 0.3 s: the warning comes
                await runtime.wait_for_view(lambda view: view.idle_warning_until is not None)
            warned = runtime.session.view
            assert warned.customer is not None  # still there while the countdown runs
            assert warned.idle_warning_until is not None
            assert warned.idle_warning_until - time.time() > 19
            await runtime.ask(KeepAlive())  # "continue"
            assert runtime.session.view.idle_warning_until is None
            async with asyncio.timeout(5):
                await runtime.wait_for_view(lambda view: view.idle_warning_until is not None)
            await runtime.skip_idle_time()  # the countdown runs out
            view = runtime.session.view
            assert view.customer is None
            assert view.product is None
            assert view.screen is Screen.ATTRACT
            events = await runtime.outbox.pending(0, 100)
            del warned
            gc.collect()
            # Nothing of the shopper is left in memory: no customer, no product object.
            assert not [o for o in gc.get_objects() if isinstance(o, Customer | Product)]
        finally:
            await runtime.close()
        assert seen[:2] == [Screen.WELCOME, Screen.PRODUCT]
        assert seen[-1] is Screen.ATTRACT
        return [json.loads(e.payload)["data"].get("reason", "") for e in events]

    reasons = asyncio.run(scenario())
    assert reasons[-1] == "idle"


@pytest.mark.mqtt
def test_edge_runs_until_stopped_and_says_offline(
    tmp_path: Path, broker: Broker, subscriber: Subscriber
) -> None:
    config = write_config(tmp_path / "kiosk.toml", tmp_path / "data", broker.port)
    process = subprocess.Popen(
        [*BORNE, "edge", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    subscriber.wait_for(lambda s: any(t.endswith("/state") for t, _, _ in s.messages))
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)

    assert process.returncode == 0, stderr
    states = [json.loads(p)["state"] for t, p, _ in subscriber.messages if t.endswith("/state")]
    assert states == ["online", "offline"]


def test_shoppers_near_the_kiosk_become_presence_events(tmp_path: Path) -> None:
    config = load_config(
        write_config(tmp_path / "kiosk.toml", tmp_path / "data"),
        {"BORNE_DEVICES__CAMERA": "", "BORNE_DEVICES__NFC": "", "BORNE_DEVICES__BLE": "simulated"},
    )
    app_uuid = config.presence.store_app_uuid

    async def scenario() -> list[dict[str, Any]]:
        runtime, _ = await build_runtime(config, simulators_allowed=True)
        assert runtime.presence is not None
        now = time.time()
        for step, rssi in enumerate([-80, -70, -60, -50, -48, -48]):
            sighting = BeaconSighting(f"{app_uuid}/1/5", app_uuid, rssi, -59, "test", now + step)
            await runtime.handle(sighting)
        await runtime.outbox.append(*runtime.presence.expire(now + 60))
        events = await runtime.outbox.pending(0, 100)
        await runtime.close()
        return [json.loads(e.payload) for e in events]

    events = asyncio.run(scenario())
    types = [e["type"].removeprefix("io.borne.presence.") for e in events]
    assert types[0] == "entered"
    assert types[-1] == "exited"
    assert all(app_uuid not in json.dumps(e["data"]) for e in events)
    for event in events:
        check_message(
            f"borne/v1/devices/kiosk-07/events/{event['type'][9:]}", json.dumps(event).encode()
        )


def test_catalog_work_for_a_scan_or_a_touch_runs_off_the_screens_loop(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path / "kiosk.toml", tmp_path / "data"))
    threads: list[str] = []

    async def scenario() -> None:
        runtime, _ = await build_runtime(config)
        catalog_lookup = runtime.catalog.lookup

        def spied_lookup(gtin: str) -> Product | None:
            threads.append(threading.current_thread().name)
            return catalog_lookup(gtin)

        runtime.catalog.lookup = spied_lookup  # type: ignore[method-assign]
        await runtime.start()
        try:
            scan = BarcodeScan("ean13", "3760123450010", "03760123450010", "test", time.time())
            await runtime.handle(scan)
            assert runtime.session.view.product is not None
            await runtime.ask(ShowProduct("03760123450041", "search"))
            assert runtime.session.view.product.gtin == "03760123450041"
        finally:
            await runtime.close()

    asyncio.run(scenario())
    assert len(threads) == 2
    assert threading.main_thread().name not in threads  # the loop's (and Kivy's) thread
