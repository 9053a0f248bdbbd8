"""Run as a systemd service, the kiosk, `borne edge` and the hub say when they are ready,
how they are, when they stop, and feed the watchdog from their own loop.

The service manager's side is a datagram socket made by the test and named in
`$NOTIFY_SOCKET`, as systemd does.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.hub.config import load_hub_config
from edge.hub.service import HubService
from edge.hub.store import SqliteEventStore
from edge.sd_notify import ServiceNotifier
from tests.conftest import BORNE, write_config
from tests.mosquitto import Broker


class Manager:
    """The service manager's end: an abstract datagram socket (no path-length limits)."""

    def __init__(self) -> None:
        self.name = f"@borne-test-{uuid.uuid4().hex}"
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.socket.bind("\0" + self.name[1:])

    def next(self, timeout: float = 30.0) -> set[str]:
        """The lines of the next notification."""
        self.socket.settimeout(timeout)
        return set(self.socket.recv(4096).decode().splitlines())

    def until(self, line: str, timeout: float = 30.0) -> list[set[str]]:
        """Every notification up to the first holding `line`."""
        seen: list[set[str]] = []
        deadline = time.monotonic() + timeout
        while not seen or line not in seen[-1]:
            seen.append(self.next(max(0.1, deadline - time.monotonic())))
        return seen

    def nothing_waiting(self) -> bool:
        """Whether no notification has come in that was not read."""
        self.socket.setblocking(False)
        try:
            self.socket.recv(4096)
        except BlockingIOError:
            return True
        return False

    def close(self) -> None:
        self.socket.close()


@pytest.fixture
def manager() -> Iterator[Manager]:
    end = Manager()
    yield end
    end.close()


def test_ready_status_and_stopping_reach_the_manager(manager: Manager) -> None:
    notifier = ServiceNotifier.from_environment({"NOTIFY_SOCKET": manager.name})
    assert notifier.ready("attract screen")
    assert manager.next() == {"READY=1", "STATUS=attract screen"}
    notifier.status("broker connected")
    assert manager.next() == {"STATUS=broker connected"}
    notifier.stopping()
    assert manager.next() == {"STOPPING=1"}
    notifier.close()


def test_without_a_service_manager_nothing_is_sent_and_nothing_fails() -> None:
    notifier = ServiceNotifier.from_environment({})
    assert not notifier.enabled
    assert not notifier.ready("attract screen")
    assert notifier.watchdog_interval is None
    asyncio.run(notifier.feed_watchdog())  # returns at once: no watchdog to feed


def test_a_manager_that_went_away_is_logged_not_raised(
    manager: Manager, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = ServiceNotifier.from_environment({"NOTIFY_SOCKET": manager.name})
    manager.close()
    assert not notifier.ready()
    assert not notifier.status("still here")
    notifier.close()
    assert len([r for r in caplog.records if "cannot notify" in r.message]) == 1


def test_the_watchdog_is_half_the_managers_timeout_and_an_odd_value_feeds_none() -> None:
    env = {"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "10000000"}
    assert ServiceNotifier.from_environment(env).watchdog_interval == 5.0
    odd = ServiceNotifier.from_environment(env | {"WATCHDOG_USEC": "soon"})
    assert odd.watchdog_interval is None


def test_a_process_starting_under_an_armed_watchdog_gets_time_then_the_units_timeout(
    manager: Manager,
) -> None:
    """The kiosk re-executes itself after an enrolment while the watchdog (30 s) runs: it
    pings at once and asks for 3 minutes to load; its loop's first ping asks for 30 s
    again."""
    notifier = ServiceNotifier.from_environment(
        {"NOTIFY_SOCKET": manager.name, "WATCHDOG_USEC": "30000000"}
    )

    async def start_then_feed() -> set[str]:
        async with notifier.watchdog_fed():
            return await asyncio.to_thread(manager.next)

    assert notifier.starting()
    grace = manager.next()
    fed = asyncio.run(start_then_feed())
    notifier.close()

    assert grace == {"WATCHDOG=1", "WATCHDOG_USEC=180000000", "EXTEND_TIMEOUT_USEC=180000000"}
    assert fed == {"WATCHDOG=1", "WATCHDOG_USEC=30000000"}


def test_a_start_without_a_watchdog_asks_for_no_time(manager: Manager) -> None:
    notifier = ServiceNotifier.from_environment({"NOTIFY_SOCKET": manager.name})
    assert not notifier.starting()
    assert manager.nothing_waiting()
    notifier.close()


def test_a_hung_loop_stops_feeding_the_watchdog(manager: Manager) -> None:
    """The pings come from the loop itself: while it is blocked, none is sent, so systemd
    sees the hang and restarts the process; once it runs again, they resume."""
    notifier = ServiceNotifier.from_environment(
        {"NOTIFY_SOCKET": manager.name, "WATCHDOG_USEC": "100000"}  # a ping every 0.05 s
    )

    async def hang_while_fed() -> bool:
        async with notifier.watchdog_fed():
            await asyncio.to_thread(manager.until, "WATCHDOG=1")
            manager.socket.setblocking(False)
            while not manager.nothing_waiting():  # the pings sent before the hang
                pass
            time.sleep(0.5)  # noqa: ASYNC251 - the hang under test: ten intervals blocked
            silent = manager.nothing_waiting()
            manager.socket.setblocking(True)
            await asyncio.to_thread(manager.until, "WATCHDOG=1")  # it runs again
            return silent

    assert asyncio.run(hang_while_fed())
    notifier.close()


def test_borne_edge_is_ready_then_feeds_the_watchdog_then_says_it_stops(
    tmp_path: Path, manager: Manager
) -> None:
    config = write_config(tmp_path / "kiosk.toml", tmp_path / "data")  # no devices
    env = os.environ | {"NOTIFY_SOCKET": manager.name, "WATCHDOG_USEC": "200000"}
    edge = subprocess.Popen(
        [*BORNE, "edge", "--config", str(config)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready = manager.until("READY=1", timeout=60)
        assert "STATUS=runtime started" in ready[-1]
        assert "WATCHDOG=1" in manager.until("WATCHDOG=1")[-1]
        assert "WATCHDOG=1" in manager.until("WATCHDOG=1")[-1]
        edge.send_signal(signal.SIGTERM)
        manager.until("STOPPING=1")
        _, log = edge.communicate(timeout=60)
        assert edge.returncode == 0, log
    finally:
        if edge.poll() is None:
            edge.kill()
            edge.communicate()  # closes its pipe too


@pytest.mark.mqtt
def test_the_hub_is_ready_says_when_subscribed_and_feeds_the_watchdog(
    tmp_path: Path, broker: Broker, manager: Manager
) -> None:
    config = load_hub_config(
        None, {"BORNE_HUB_MQTT__HOST": "127.0.0.1", "BORNE_HUB_MQTT__PORT": str(broker.port)}
    )
    notifier = ServiceNotifier.from_environment(
        {"NOTIFY_SOCKET": manager.name, "WATCHDOG_USEC": "200000"}
    )
    store = SqliteEventStore(tmp_path / "events.sqlite")

    async def serve() -> None:
        service = HubService(config.mqtt, store, service=notifier)
        running = asyncio.create_task(service.run())
        seen = await asyncio.to_thread(manager.until, "STATUS=broker connected, subscribed")
        assert any("READY=1" in lines for lines in seen)
        await asyncio.to_thread(manager.until, "WATCHDOG=1")
        service.close()
        await running

    try:
        asyncio.run(serve())
    finally:
        store.close()
    assert "STOPPING=1" in manager.until("STOPPING=1")[-1]


@pytest.mark.ui
def test_the_kiosk_is_ready_once_its_window_shows_and_feeds_the_watchdog(
    tmp_path: Path, manager: Manager, display: str
) -> None:
    config = write_config(tmp_path / "kiosk.toml", tmp_path / "data")
    env = os.environ | {
        "NOTIFY_SOCKET": manager.name,
        "WATCHDOG_USEC": "400000",
        "DISPLAY": display,
        "KIVY_HOME": str(tmp_path / "kivy"),
    }
    kiosk = subprocess.Popen(
        [*BORNE, "kiosk", "--windowed", "--config", str(config)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready = manager.until("READY=1", timeout=120)
        assert "STATUS=attract screen" in ready[-1]
        # Before anything is loaded, the kiosk asks for time to start (a re-executed
        # kiosk runs under the watchdog already).
        assert "WATCHDOG_USEC=180000000" in ready[0]
        manager.until("WATCHDOG=1")
        kiosk.send_signal(signal.SIGTERM)
        manager.until("STOPPING=1")
        _, log = kiosk.communicate(timeout=60)
        assert kiosk.returncode == 0, log[-3000:]
    finally:
        if kiosk.poll() is None:
            kiosk.kill()
            kiosk.communicate()  # closes its pipe too
