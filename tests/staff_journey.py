"""Plays staff journeys in one kiosk fed by the demo's platform (a mosquitto and a
`borne hub` on loopback): `python -m tests.staff_journey CONFIG HUB_CONFIG PORT SHOTS PLAN`.

PLAN is a JSON list of steps: a journey's own (kiosk/journey.py), the player's `resize`,
and what the rest of the store does meanwhile, played here:
  {"platform_ready": "LEA-0042"}      wait until the kiosk holds the hub's catalog and
                                      staff directory (that badge in it)
  {"other_kiosk_calls": "3760..."}    another kiosk of the store (the demo's probe device)
                                      calls an advisor about that product; wait until
                                      the hub's queue has the call
  {"other_kiosk_takes_call": "MARC-0007"}  at another kiosk, that badge takes this
                                      kiosk's call; wait until this kiosk says who comes
  {"import": "PATH"}                  the hub imports a feed again (an order handed over
                                      in one pass is ready again for the next)
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.bootstrap import check_ready
from edge.config import load_config
from edge.demo import DEMO_SECRET, DEMO_STORE_ID, with_demo_store
from edge.demo_platform import PROBE_DEVICE
from edge.events import EventDraft, EventSource
from edge.ids import UUIDv7Generator
from edge.pseudonym import Pseudonyms, load_secret
from edge.sync.messages import Stream
from kiosk import launcher
from kiosk.journey import JourneyError, Step

STORE_STEPS = ("platform_ready", "other_kiosk_calls", "other_kiosk_takes_call", "import")
WAIT = 20.0  # seconds the platform has for what a store step waits on
POLL = 0.1
KIOSK_DEVICE = "kiosk-01"


class OtherKiosk:
    """The store's other kiosk, as the hub sees it: its events on the broker, and the
    store's advisor queue the hub publishes back."""

    def __init__(self, port: int) -> None:
        self.queue: dict[str, Any] = {}
        self._changed = threading.Condition()
        self._sequence = 0
        self._ids = UUIDv7Generator()
        self._source = EventSource(DEMO_STORE_ID, PROBE_DEVICE)
        self._pseudonyms = Pseudonyms.from_secret(load_secret(str(DEMO_SECRET)))
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"{PROBE_DEVICE}-{uuid.uuid4().hex[:8]}",
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        self._client.on_message = self._on_queue
        self._client.connect("127.0.0.1", port)
        self._client.subscribe(f"borne/v1/stores/{DEMO_STORE_ID}/assist", qos=1)
        self._client.loop_start()

    def _on_queue(self, _: mqtt.Client, __: Any, message: mqtt.MQTTMessage) -> None:
        with self._changed:
            self.queue = json.loads(message.payload)
            self._changed.notify_all()

    def _publish(self, draft: EventDraft) -> str:
        self._sequence += 1
        event_id = str(self._ids())
        payload = self._source.envelope(
            draft, event_id=event_id, sequence=self._sequence, time=time.time()
        )
        properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        properties.ContentType = "application/cloudevents+json; charset=utf-8"
        info = self._client.publish(
            self._source.topic(draft), payload, qos=1, properties=properties
        )
        info.wait_for_publish(WAIT)
        return event_id

    def calls(self, gtin: str) -> str:
        """A shopper there asks for an advisor: the call's id once the hub lists it."""
        data = {"session_id": str(uuid.uuid4()), "gtin": gtin}
        call = self._publish(EventDraft("io.borne.assist.requested", data))
        self._wait(lambda calls: any(each["call"] == call for each in calls))
        return call

    def takes_call(self, badge: str) -> None:
        """An associate there takes the call of the journey's kiosk."""
        open_calls = self._wait(
            lambda calls: any(c["device"] == KIOSK_DEVICE and not c["taken_by"] for c in calls)
        )
        call = next(c for c in open_calls if c["device"] == KIOSK_DEVICE and not c["taken_by"])
        staff = self._pseudonyms.card(f"staff:{badge}")
        data = {"call": call["call"], "device": KIOSK_DEVICE, "staff": staff}
        self._publish(EventDraft("io.borne.assist.taken", data))

    def _wait(self, done: Any) -> list[dict[str, Any]]:
        deadline = time.monotonic() + WAIT
        with self._changed:
            while not done(self.queue.get("calls", [])):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise JourneyError(f"the hub's advisor queue stayed {self.queue}")
                self._changed.wait(left)
            calls: list[dict[str, Any]] = self.queue["calls"]
            return calls

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def with_store_steps(hub_config: Path, port: int) -> None:
    """Teach the journey player the store's steps (once Kivy's settings are made)."""
    from kiosk.journey_player import JourneyPlayer

    play = JourneyPlayer._play
    other = OtherKiosk(port)
    pseudonyms = Pseudonyms.from_secret(load_secret(str(DEMO_SECRET)))

    async def play_with_store(self: JourneyPlayer, step: Step) -> None:
        if step.kind not in STORE_STEPS:
            await play(self, step)
            return
        since = self.runtime.changes
        if step.kind == "platform_ready":
            # Nothing on screen changes when the directory arrives: it is looked for.
            badge = pseudonyms.card(f"staff:{step.value}")
            for _ in range(int(WAIT / POLL)):
                if _synced(self, badge):
                    break
                await asyncio.sleep(POLL)
            else:
                raise JourneyError("the hub's catalog and staff directory did not arrive")
        elif step.kind == "other_kiosk_calls":
            await asyncio.to_thread(other.calls, step.value)
        elif step.kind == "other_kiosk_takes_call":
            await asyncio.to_thread(other.takes_call, step.value)
            async with asyncio.timeout(WAIT):
                await self.runtime.wait_for_view(lambda view: view.assist_taken_by is not None)
            await self._settle(since)
        elif step.kind == "import":
            await _hub_import(hub_config, step.value)

    JourneyPlayer._play = play_with_store  # type: ignore[method-assign]


def _synced(player: Any, badge: str) -> bool:
    streams = player.runtime.streams
    if streams is None or streams.cache.item(Stream.STAFF, badge) is None:
        return False
    return bool(player.runtime.catalog.gtins())


async def _hub_import(hub_config: Path, feed: str) -> None:
    command = [sys.executable, "-m", "kiosk.cli", "hub", "import", "--config", str(hub_config)]
    process = await asyncio.create_subprocess_exec(
        *command, feed, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    _, errors = await process.communicate()
    if process.returncode != 0:
        raise JourneyError(f"borne hub import {feed} failed: {errors.decode()[-500:]}")


def main(argv: list[str]) -> int:
    """Play the plan; the kiosk's exit status."""
    config_path, hub_config, port, shots, plan = argv
    config = with_demo_store(load_config(Path(config_path)), platform_port=int(port))
    check_ready(config, simulators_allowed=True)
    launcher.prepare_kivy(True, config.data_dir)
    with_store_steps(Path(hub_config), int(port))
    steps = [Step(*next(iter(item.items()))) for item in json.loads(Path(plan).read_text())]
    return asyncio.run(launcher._run(config, None, steps, Path(shots), True, True))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
