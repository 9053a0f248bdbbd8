"""Simulated shopper journeys through the real pipeline (`borne simulate`).

A journey taps a loyalty card on the simulated NFC peer, shows one to three demo
products to the simulated camera, and walks away. Each step waits until the
runtime has committed its events and shown the new view.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from functools import partial

from devices.barcode.gs1 import display_gtin, normalize_gtin
from devices.nfc.card_formats import loyalty_records
from edge.bootstrap import Simulators, build_runtime
from edge.config import Config
from edge.demo import demo_cards
from edge.intents import EndSession
from edge.runtime import Runtime
from edge.session import Screen, SessionView


class JourneyError(RuntimeError):
    """The runtime lacks the simulated devices a journey needs."""


def _shows(gtin: str, view: SessionView) -> bool:
    return view.scanned_gtin == gtin


async def run_journeys(
    runtime: Runtime,
    simulators: Simulators,
    gtins: list[str],
    cards: list[str],
    count: int,
    *,
    rng: random.Random,
    step_seconds: float = 15.0,
) -> None:
    """Play `count` journeys, one after the other."""
    if simulators.camera is None or simulators.card is None:
        raise JourneyError("journeys need the simulated camera and NFC card")
    for _ in range(count):
        simulators.card.tap(loyalty_records(rng.choice(cards)), hold=0.15)
        async with asyncio.timeout(step_seconds):
            await runtime.wait_for_view(lambda view: view.screen is Screen.WELCOME)
        for gtin in rng.sample(gtins, rng.randint(1, 3)):
            wanted = normalize_gtin(gtin)
            simulators.camera.show(display_gtin(wanted))
            async with asyncio.timeout(step_seconds):
                await runtime.wait_for_view(partial(_shows, wanted))
        await runtime.ask(EndSession("walked_away"))


@dataclass(frozen=True, slots=True)
class SimulationSummary:
    """What `borne simulate` reports."""

    journeys: int
    events: int
    first_sequence: int
    last_sequence: int
    journeys_seconds: float
    events_per_second: float | None
    delivered: int | None
    seconds: float
    delivered_per_second: float | None


async def simulate(
    config: Config, journeys: int, *, seed: int | None, wait_delivered: bool
) -> SimulationSummary:
    """Play journeys through a whole runtime; optionally wait until the outbox is empty.

    Events left by an earlier run (a crash, a broker that was down) are delivered too.
    """
    runtime, simulators = await build_runtime(config, camera_fps=None, simulators_allowed=True)
    rng = random.Random(seed)  # noqa: S311 - picks demo products, not secrets
    before = await runtime.outbox.status()
    started = time.monotonic()
    await runtime.start()
    try:
        cards = [number for _, number in demo_cards()]
        await run_journeys(runtime, simulators, runtime.catalog.gtins(), cards, journeys, rng=rng)
        committed = await runtime.outbox.status()
        journeys_seconds = time.monotonic() - started
        after = committed
        while wait_delivered and after.queued:
            await asyncio.sleep(0.05)  # the uplink works meanwhile; this only watches
            after = await runtime.outbox.status()
    finally:
        await runtime.close()
        simulators.close()
    seconds = time.monotonic() - started
    events = committed.last_sequence - before.last_sequence
    delivered = after.delivered_total - before.delivered_total if wait_delivered else None
    return SimulationSummary(
        journeys=journeys,
        events=events,
        first_sequence=before.last_sequence + 1,
        last_sequence=committed.last_sequence,
        journeys_seconds=round(journeys_seconds, 3),
        events_per_second=round(events / journeys_seconds, 1) if events else None,
        delivered=delivered,
        seconds=round(seconds, 3),
        delivered_per_second=round(delivered / seconds, 1) if delivered else None,
    )
