"""The demo store: the only place where simulators, demo data and a bundled secret appear.

`borne demo` and `borne simulate` take a configuration and fill in, for whatever it
leaves empty, the demo store's catalog, its pseudonym secret, its name, its loyalty
card range and simulated devices. `borne kiosk`, `borne edge` and `borne devices` never
call this module: they run what the configuration names and report what is missing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edge.config import Config

DEMO_STORE = Path(__file__).resolve().parent.parent / "assets" / "demo-store"
DEMO_CATALOG = DEMO_STORE / "catalog.json"
# A secret published with the demo, so that its catalog can know customers by
# pseudonym: worthless for anything else, and never used outside the demo.
DEMO_SECRET = DEMO_STORE / "pseudonym.key"
DEMO_CARDS = DEMO_STORE / "loyalty-cards.json"
DEMO_STAFF = DEMO_STORE / "feeds" / "staff.jsonl"  # badges LEA-0042, MARC-0007...
# The store code the demo feeds give this store ("here" in its inventory).
DEMO_STORE_ID, DEMO_DEVICE_ID = "paris-01", "kiosk-01"
DEMO_STORE_NAME = "Borne Démo — Paris République"
DEMO_LOYALTY_PREFIXES = ("925",)  # the demo cards' numbers: 9250000000017...


def _fill(section: Any, **demo: Any) -> Any:
    """`section` with each empty key set to its demo value."""
    empty = {key: value for key, value in demo.items() if not getattr(section, key)}
    return section.model_copy(update=empty) if empty else section


def with_demo_store(
    config: Config, *, shoppers_walk_by: bool = False, platform_port: int | None = None
) -> Config:
    """`config` completed with the demo store and simulated devices where it names none.

    `shoppers_walk_by` also simulates the store app's shoppers (BLE) and a wedge
    scanner, as the bare `borne demo` does. With `platform_port` (the demo platform's
    broker, `edge.demo_platform`) the kiosk is synced from the demo's hub instead of
    reading the demo catalog file.
    """
    devices: dict[str, str] = {"camera": "simulated", "nfc": "simulated"}
    if shoppers_walk_by:
        devices |= {"ble": "simulated", "hid": "simulated"}
    return config.model_copy(
        update={
            "device": _fill(
                config.device,
                store_id=DEMO_STORE_ID,
                device_id=DEMO_DEVICE_ID,
                store_name=DEMO_STORE_NAME,
            ),
            "privacy": _fill(
                config.privacy,
                pseudonym_key_file=str(DEMO_SECRET),
                loyalty_prefixes=DEMO_LOYALTY_PREFIXES,
            ),
            "catalog": _demo_catalog(config, platform_port),
            "devices": _fill(config.devices, **devices),
            # Without the demo's platform, its staff badges come from its staff feed.
            "staff": config.staff
            if platform_port is not None
            else _fill(config.staff, directory_file=str(DEMO_STAFF)),
            "mqtt": config.mqtt
            if platform_port is None
            else config.mqtt.model_copy(update={"host": "127.0.0.1", "port": platform_port}),
        }
    )


def _demo_catalog(config: Config, platform_port: int | None) -> Any:
    if platform_port is None:
        return _fill(config.catalog, source=str(DEMO_CATALOG))
    store = json.loads(DEMO_CATALOG.read_text(encoding="utf-8"))["store"]
    names = {neighbour["id"]: neighbour["name"] for neighbour in store["nearby"]}
    return _fill(config.catalog, pictures=str(DEMO_STORE / "images"), store_names=names)


def demo_cards() -> list[tuple[str, str]]:
    """(first name, card number) of the demo store's loyalty cards, for the simulators."""
    document = json.loads(DEMO_CARDS.read_text(encoding="utf-8"))
    return [(str(card["first_name"]), str(card["card"])) for card in document["cards"]]
