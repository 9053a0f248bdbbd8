"""Staff mode against the real hub: the demo platform (a mosquitto and `borne hub serve`
fed the demo's feeds), the kiosk synced from it as `borne demo --platform` runs it.

The staff directory comes down as the hub's `staff` stream; the customer's file, the
pickup and its handover are the hub's answers; an advisor call of another kiosk reaches
the staff screen through the hub's queue, and taking it goes back the same way.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge.bootstrap import build_runtime
from edge.config import load_config
from edge.demo import with_demo_store
from edge.demo_platform import PROBE_DEVICE, DemoPlatform
from edge.intents import EndStaff, HandOverOrder, LookupOrder, OpenStaffPage, TakeCall
from edge.staff.view import StaffNotice
from edge.sync.messages import Stream
from tests.asyncapi import check_message
from tests.conftest import write_config
from tests.hub_staff_fixtures import Client, kiosk_event
from tests.staff_hub import badge_pseudonym
from tests.test_staff import LEA, MARC, PICKUP, badge, card, log_in, settled, until


def test_a_staff_member_serves_customers_pickups_and_calls_with_the_real_hub(
    tmp_path: Path,
) -> None:
    platform = DemoPlatform(tmp_path / "platform")
    platform.start()
    written = write_config(
        tmp_path / "kiosk.toml",
        tmp_path / "data",
        device='store_id = "paris-01"\ndevice_id = "kiosk-01"',
        catalog='pictures = ""',  # no source: the catalog comes from the hub's streams
    )
    config = with_demo_store(load_config(written), platform_port=platform.port)
    assist = "borne/v1/stores/paris-01/assist"
    other_kiosk = Client(platform.port, "other-kiosk").start(
        assist,
        "borne/v1/devices/kiosk-01/events/#",
        "borne/v1/devices/kiosk-01/req/+",
        "borne/v1/devices/kiosk-01/res/staff",
    )

    async def scenario() -> None:
        runtime, simulators = await build_runtime(config, simulators_allowed=True)
        await runtime.start()
        try:
            assert runtime.streams is not None
            cache = runtime.streams.cache
            await until(lambda: cache.item(Stream.STAFF, badge_pseudonym(LEA)) is not None)
            # An associate: the customer's file, contact details masked by the hub.
            await log_in(runtime, LEA, "2468")
            await runtime.ask(OpenStaffPage("customer"))
            await runtime.handle(card("Camille"))
            view = await settled(runtime, StaffNotice.NONE)
            assert view.staff is not None
            file = view.staff.customer
            assert file is not None
            assert file.first_name == "Camille"
            assert "•" in file.email
            assert {order.channel for order in file.orders} >= {"web", "store"}
            assert PICKUP in [order.number for order in file.pickups]
            await runtime.handle(card("Louise"))  # she declined personalisation
            view = await settled(runtime, StaffNotice.DECLINED)
            assert view.staff is not None
            assert view.staff.customer is None
            # The pickup, found by its number, handed over once.
            await runtime.ask(LookupOrder(PICKUP))
            view = await settled(runtime, StaffNotice.NONE)
            assert view.staff is not None
            assert view.staff.pickup is not None
            assert view.staff.pickup.first_name == "Camille"
            assert view.staff.pickup.can_hand_over
            await runtime.ask(HandOverOrder())
            await settled(runtime, StaffNotice.HANDED_OVER)
            await runtime.ask(LookupOrder(PICKUP))  # again: it is said to be done already
            view = await settled(runtime, StaffNotice.ALREADY_HANDED_OVER)
            assert view.staff is not None
            assert view.staff.pickup is not None
            assert view.staff.pickup.order.status == "handed_over"
            await runtime.handle(badge(LEA))  # her badge again: locked
            # A manager sees the contact details, and takes another kiosk's call.
            await log_in(runtime, MARC, "1357")
            await runtime.ask(OpenStaffPage("customer"))
            await runtime.handle(card("Camille"))
            view = await settled(runtime, StaffNotice.NONE)
            assert view.staff is not None
            assert view.staff.customer is not None
            assert "•" not in view.staff.customer.email
            await runtime.ask(OpenStaffPage("home"))
            called = kiosk_event(
                "io.borne.assist.requested",
                PROBE_DEVICE,
                1,
                {"session_id": "0190a0d4-5c1e-7000-8000-000000000001", "gtin": "3760123450010"},
            )
            await asyncio.to_thread(other_kiosk.publish_events, [called])
            async with asyncio.timeout(30):
                view = await runtime.wait_for_view(
                    lambda v: (
                        v.staff is not None
                        and any(c.call_id == called["id"] for c in v.staff.calls)
                    )
                )
            await runtime.ask(TakeCall(called["id"]))
            await asyncio.to_thread(other_kiosk.wait_for, _taken_by("Marc L.", assist), 30)
            await runtime.ask(EndStaff())
            await asyncio.to_thread(other_kiosk.wait_for, _logged_out(2), 30)
        finally:
            await runtime.close()
            simulators.close()

    try:
        asyncio.run(scenario())
    finally:
        other_kiosk.stop()
        platform.close()
    for topic, payload, _, _ in other_kiosk.received:  # requests, answers, queues, events
        check_message(topic, payload)
    events = [(t, p) for t, p, _, _ in other_kiosk.received if "/events/" in t]
    asked = [t.rsplit("/", 1)[1] for t, *_ in other_kiosk.received if "/req/" in t]
    asked = [name for name in asked if name != "sync"]  # the streams' resyncs
    assert asked == ["customer", "customer", "order", "handover", "order", "customer"]
    kinds = [json.loads(payload)["type"][9:] for _, payload in events]
    assert kinds.count("staff.customer_viewed") == 3
    assert kinds.count("order.handed_over") == 1
    assert kinds.count("assist.taken") == 1


Received = list[tuple[str, bytes, Any, bool]]


def _taken_by(name: str, topic: str) -> Callable[[Received], bool]:
    """Whether the hub's queue, as last published, says `name` took a call."""

    def taken(received: Received) -> bool:
        queues = [json.loads(p) for t, p, _, _ in received if t == topic]
        return bool(queues) and any(c["taken_by"] == name for c in queues[-1]["calls"])

    return taken


def _logged_out(count: int) -> Callable[[Received], bool]:
    return lambda received: sum(t.endswith("staff.logged_out") for t, *_ in received) >= count
