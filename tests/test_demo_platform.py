"""`borne demo --platform`: the demo's broker and hub, started and stopped by the demo."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from edge.config import load_config
from edge.demo import DEMO_DEVICE_ID, DEMO_STORE_ID, with_demo_store
from edge.demo_platform import DemoPlatform
from tests.conftest import borne


def test_the_demo_platform_serves_the_demo_feeds_and_stops_with_the_demo(tmp_path: Path) -> None:
    platform = DemoPlatform(tmp_path / "platform")
    platform.start()  # returns once the hub answers a resync
    try:
        processes = list(platform._processes)
        status = borne("hub", "status", "--config", str(platform.hub_config), "--json")
        assert status.returncode == 0, status.stderr
        inventory = platform.feeds / f"inventory-{DEMO_STORE_ID}.tsv"
        inventory.write_text(
            inventory.read_text().replace("3760123450010\t7\t", "3760123450010\t2\t")
        )
        # The command the demo prints, as a newcomer would type it.
        command = shlex.split(platform.import_command("borne"))
        assert command[:3] == ["borne", "hub", "import"]
        imported = borne(*command[1:])
        assert imported.returncode == 0, imported.stderr
        assert json.loads(imported.stdout)["versions"][f"{DEMO_STORE_ID}/stock"] == 2
        assert json.loads(imported.stdout)["link"] == "published"
    finally:
        platform.close()
    assert all(process.poll() is not None for process in processes)


def test_the_demo_kiosk_of_the_platform_is_synced_from_it() -> None:
    config = with_demo_store(load_config(None, {}), platform_port=41883)
    assert (config.mqtt.host, config.mqtt.port) == ("127.0.0.1", 41883)
    assert config.catalog.source == ""  # the streams, not the demo catalog file
    assert config.catalog.pictures.endswith("images")
    assert config.catalog.store_names["lyon-01"] == "Lyon Part-Dieu"
    assert (config.device.store_id, config.device.device_id) == (DEMO_STORE_ID, DEMO_DEVICE_ID)
    offline = with_demo_store(load_config(None, {}))
    assert offline.catalog.source.endswith("catalog.json")
    assert not offline.mqtt.host
