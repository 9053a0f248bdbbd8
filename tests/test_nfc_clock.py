"""The NFC reader goes on reading cards when the wall clock jumps a day either way.

nfcpy times its waits on `time.time()`; a kiosk's clock is set by NTP or by hand
while it runs. The real reader polls a simulated card over nfcpy's `udp:` driver,
and the test moves the wall clock everything in the process sees.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from devices.nfc.card_formats import loyalty_records
from devices.nfc.reader import NfcReader
from devices.nfc.simulated_card import SimulatedCardPeer
from devices.readings import CardRemoved, CardTap
from tests.test_clock_jumps import WallClock

DAY = 24 * 3600.0
DEADLINE = 30.0  # a generous bound on a wait for a tap; a stalled reader waits a day


@dataclass
class Taps:
    """The card numbers the reader delivered, and a wake-up per tap."""

    numbers: list[str]
    arrived: threading.Condition

    def wait_for(self, count: int) -> bool:
        """Until `count` taps were read, within the deadline."""
        with self.arrived:
            return self.arrived.wait_for(lambda: len(self.numbers) >= count, DEADLINE)


@pytest.fixture
def wall(monkeypatch: pytest.MonkeyPatch) -> WallClock:
    """The process's wall clock, as nfcpy and everything else read it."""
    clock = WallClock()
    monkeypatch.setattr(time, "time", clock)
    return clock


@pytest.fixture
def reading(wall: WallClock) -> Iterator[tuple[SimulatedCardPeer, Taps]]:
    """A simulated card and the real reader polling it."""
    card = SimulatedCardPeer()
    taps = Taps([], threading.Condition())

    def on_tap(reading: CardTap | CardRemoved) -> None:
        if isinstance(reading, CardTap):
            with taps.arrived:
                taps.numbers.append(reading.card_number)
                taps.arrived.notify_all()

    reader = NfcReader(card.path, on_tap)
    reader.start()
    yield card, taps
    reader.stop()
    card.close()


def _idle_polls() -> None:
    """Let the reader poll an empty field for a while: the jump lands mid-poll."""
    threading.Event().wait(0.5)


@pytest.mark.parametrize("jump", [-DAY, DAY], ids=["back-24h", "forward-24h"])
def test_taps_before_and_after_a_wall_clock_jump_are_read(
    reading: tuple[SimulatedCardPeer, Taps], wall: WallClock, jump: float
) -> None:
    card, taps = reading
    card.tap(loyalty_records("9250000000017"))
    assert taps.wait_for(1)
    _idle_polls()

    wall.offset += jump
    _idle_polls()
    card.tap(loyalty_records("9250000000024"))

    assert taps.wait_for(2), "the reader stalled after the wall clock jumped"
    wall.offset -= jump  # and back again, as NTP would set it right
    _idle_polls()
    card.tap(loyalty_records("9250000000031"))
    assert taps.wait_for(3), "the reader stalled after the wall clock jumped back"
    assert taps.numbers == ["9250000000017", "9250000000024", "9250000000031"]
