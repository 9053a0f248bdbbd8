"""Simulated shopper journeys through the real pipeline (`borne simulate`).

A journey taps a loyalty card on the simulated NFC peer, shows one to three demo
products to the simulated camera, and walks away. Each step waits until the
runtime has committed its events and shown the new view.
"""

from __future__ import annotations

import asyncio
import random
from functools import partial

from devices.barcode.gs1 import display_gtin, normalize_gtin
from devices.nfc.card_formats import loyalty_records
from edge.bootstrap import Simulators
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
        await runtime.end_session("walked_away")
