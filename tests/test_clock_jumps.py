"""A kiosk whose wall clock is set a day back or forward mid-run keeps its timers.

NTP stepping a clock that was far off, or someone setting it by hand: the shopper's
idle warning, staff mode's auto-lock and a badge's PIN lockout measure durations,
which the wall clock's jumps must not stretch or cut. The runtime is built as the
kiosk builds it, with the wall clock everything in the process reads moved by the test.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devices.readings import BeaconSighting
from edge.bootstrap import build_runtime
from edge.config import Config, load_config
from edge.presence import PresenceEngine, PresenceSettings
from edge.staff.lockouts import BadgeLockouts
from tests.conftest import write_config
from tests.test_staff import LEA, card, kiosk_config, log_in, running

DAY = 24 * 3600.0
QUIET = 1.5  # seconds: the idle timeout and staff mode's lock_after in these tests
DEADLINE = 30.0  # bounds a wait for a timer that must fire after QUIET; a late one waits a day
STORE_APP = "426c7565-4368-6172-6d42-6561636f6e73"
EARLY_MARGIN = 0.1  # asyncio may run a timer up to its clock's resolution early


@dataclass
class WallClock:
    """`time.time` moved by `offset` seconds; the monotonic clock untouched."""

    offset: float = 0.0

    def __post_init__(self) -> None:
        self._real = time.time

    def __call__(self) -> float:
        return self._real() + self.offset


@pytest.fixture
def wall(monkeypatch: pytest.MonkeyPatch) -> WallClock:
    """The process's wall clock, set before the runtime is built (it keeps `time.time`)."""
    clock = WallClock()
    monkeypatch.setattr(time, "time", clock)
    return clock


def quiet_kiosk(tmp_path: Path) -> Config:
    """A kiosk with no devices whose shopper is asked after QUIET seconds of quiet."""
    return load_config(
        write_config(tmp_path / "kiosk.toml", tmp_path / "data"),
        {
            "BORNE_SESSION__IDLE_TIMEOUT": str(QUIET),
            "BORNE_DEVICES__CAMERA": "",
            "BORNE_DEVICES__NFC": "",
        },
    )


JUMPS = pytest.mark.parametrize("jump", [-DAY, DAY], ids=["back-24h", "forward-24h"])


@JUMPS
def test_a_shoppers_idle_warning_comes_after_the_quiet_time_whatever_the_wall_clock_does(
    tmp_path: Path, wall: WallClock, jump: float
) -> None:
    config = quiet_kiosk(tmp_path)

    async def scenario() -> tuple[float, list[dict[str, Any]]]:
        runtime, _ = await build_runtime(config)
        await runtime.start()
        try:
            touched = time.monotonic()
            await runtime.handle(card("Camille"))
            wall.offset += jump
            async with asyncio.timeout(DEADLINE):
                await runtime.wait_for_view(lambda view: view.idle_warning_until is not None)
            quiet = time.monotonic() - touched
            await runtime.skip_idle_time()  # the countdown runs out
            events = [
                decoded["data"]
                for decoded in (
                    json.loads(event.payload) for event in await runtime.outbox.pending(0, 100)
                )
                if decoded["type"] == "io.borne.session.ended"
            ]
            return quiet, events
        finally:
            await runtime.close()

    quiet, ended = asyncio.run(scenario())
    assert quiet >= QUIET - EARLY_MARGIN, "the warning came before the shopper was quiet"
    # The session's length is what it lasted, not the clock's jump.
    (data,) = ended
    assert QUIET - EARLY_MARGIN <= data["duration_s"] < DEADLINE


def test_a_shoppers_idle_warning_counts_down_its_own_length_when_the_clock_is_set_back(
    tmp_path: Path, wall: WallClock
) -> None:
    config = quiet_kiosk(tmp_path)

    async def scenario() -> float:
        runtime, _ = await build_runtime(config)
        runtime.idle_countdown = QUIET  # the configuration's floor is 20 s
        await runtime.start()
        try:
            await runtime.handle(card("Camille"))
            async with asyncio.timeout(DEADLINE):
                await runtime.wait_for_view(lambda view: view.idle_warning_until is not None)
            warned = time.monotonic()
            wall.offset -= DAY  # while the warning counts down
            async with asyncio.timeout(DEADLINE):  # a countdown on the wall clock: a day
                await runtime.wait_for_view(lambda view: view.session_id is None)
            return time.monotonic() - warned
        finally:
            await runtime.close()

    assert asyncio.run(scenario()) >= QUIET - EARLY_MARGIN


@JUMPS
def test_staff_mode_locks_after_its_quiet_time_whatever_the_wall_clock_does(
    tmp_path: Path, wall: WallClock, jump: float
) -> None:
    config = kiosk_config(tmp_path, staff=f"lock_after = {QUIET}")

    async def scenario() -> float:
        async with running(config) as runtime:
            await log_in(runtime, LEA, "2468")
            touched = time.monotonic()
            wall.offset += jump
            async with asyncio.timeout(DEADLINE):
                await runtime.wait_for_view(lambda view: view.staff is None)
            return time.monotonic() - touched

    assert asyncio.run(scenario()) >= QUIET - EARLY_MARGIN


def test_a_pin_lockout_does_not_last_a_day_longer_when_the_clock_is_set_back(
    tmp_path: Path,
) -> None:
    now = [1_800_000_000.0]
    lockouts = BadgeLockouts(
        tmp_path / "staff.sqlite", max_failures=3, lockout_seconds=900, clock=lambda: now[0]
    )
    try:
        for _ in range(3):
            failure = lockouts.failed("badge-a")
        assert failure.locked_until == now[0] + 900

        now[0] -= DAY  # the clock set back a day mid-lockout
        until = lockouts.locked_until("badge-a")
        assert until is not None
        assert until <= now[0] + 900
        assert lockouts.locked() == [("badge-a", until)]

        now[0] += 901  # the lockout's own length later, on the clock as it now reads
        assert lockouts.locked_until("badge-a") is None
    finally:
        lockouts.close()


def test_a_pin_lockout_still_ends_when_it_should_if_the_clock_is_right(tmp_path: Path) -> None:
    now = [1_800_000_000.0]
    lockouts = BadgeLockouts(
        tmp_path / "staff.sqlite", max_failures=3, lockout_seconds=900, clock=lambda: now[0]
    )
    try:
        for _ in range(3):
            lockouts.failed("badge-a")
        now[0] += 899
        assert lockouts.locked_until("badge-a") == 1_800_000_000.0 + 900
        now[0] += 2
        assert lockouts.locked_until("badge-a") is None
    finally:
        lockouts.close()


def _sighting(at: float) -> BeaconSighting:
    return BeaconSighting(f"{STORE_APP}/1/7", STORE_APP, -50, -59, "test", at)


@JUMPS
def test_presence_timed_on_the_monotonic_clock_ignores_the_sightings_wall_clock_jump(
    jump: float,
) -> None:
    presence = PresenceEngine(
        STORE_APP, lambda beacon: "p-" + beacon, PresenceSettings(dwell_after=10, exit_after=8)
    )
    wall, mono = 1_800_000_000.0, 500.0
    told = presence.observe(_sighting(wall), now=mono)
    for step in range(1, 6):  # a sighting a second; the wall clock jumps after the second
        at = wall + step + (jump if step > 2 else 0.0)
        told += presence.observe(_sighting(at), now=mono + step)
        told += presence.expire(mono + step)

    # Five seconds near the kiosk: entered, not yet dwelled, and not gone.
    assert [event.type for event in told] == ["io.borne.presence.entered"]
    assert presence.observe(_sighting(wall + 11 + jump), now=mono + 11)[0].type == (
        "io.borne.presence.dwelled"
    )
    assert presence.expire(mono + 19.5)[0].type == "io.borne.presence.exited"
