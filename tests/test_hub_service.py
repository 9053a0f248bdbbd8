"""`borne hub serve` ingests every kiosk event from a real mosquitto, none lost, each once.

`borne simulate` publishes journeys as a kiosk does; one or two `borne hub serve`
processes share the subscription; `borne hub status --json` says what was stored.
"""

from __future__ import annotations

import asyncio
import json
import os
import select
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from hypothesis import given
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.properties import Properties

from edge.errors import ConfigError
from edge.hub.config import load_hub_config
from edge.hub.service import HubLinkError, HubService
from edge.hub.state_message import parse_state_message
from edge.hub.store import MalformedStateError, SqliteEventStore
from tests.conftest import BORNE, assert_no_card_number, borne, write_config
from tests.mosquitto import Broker
from tests.postgres import PostgresServer

SIMULATE_TIMEOUT = 240


def hub_config(path: Path, port: int, store_url: str, client_id: str = "hub-a") -> Path:
    """A hub TOML config on the test broker."""
    path.write_text(
        "[mqtt]\n"
        f'host = "127.0.0.1"\nport = {port}\nclient_id = "{client_id}"\n'
        "reconnect_min = 0.1\nreconnect_max = 0.5\n"
        f'[store]\nurl = "{store_url}"\n'
    )
    return path


def start_hub(config: Path) -> subprocess.Popen[str]:
    """`borne hub serve` in the background."""
    return subprocess.Popen(
        [*BORNE, "hub", "serve", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_subscribed(process: subprocess.Popen[str], timeout: float = 30.0) -> None:
    """Until the hub says its subscriptions are in place (its log on standard error): a
    kiosk publishing before then would have nobody to deliver to."""
    assert process.stderr is not None
    # Raw reads of the pipe: a text reader's buffer would hide lines from select().
    descriptor = process.stderr.fileno()
    deadline = time.monotonic() + timeout
    said = b""
    while b"subscribed to the kiosks' events" not in said:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([descriptor], [], [], remaining)[0]:
            raise TimeoutError("the hub never said it had subscribed")
        chunk = os.read(descriptor, 65536)
        if not chunk:
            raise TimeoutError(f"the hub stopped: {said.decode(errors='replace')[-2000:]}")
        said += chunk
    assert_no_card_number(said.decode(errors="replace"))


def stop_hub(process: subprocess.Popen[str]) -> dict[str, Any]:
    """SIGTERM, exit 0, and the counters it prints."""
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert_no_card_number(err)
    counters: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return counters


def kill_hub(process: subprocess.Popen[str]) -> None:
    """kill -9, by its pid, unless it has already stopped; its pipes closed."""
    if process.returncode is None:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        process.communicate(timeout=30)


def status(config: Path) -> dict[str, dict[str, Any]]:
    """`borne hub status --json`, by device."""
    result = borne("hub", "status", "--config", str(config), "--json")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    return {line["device_id"]: line for line in lines}


def wait_until(predicate: Any, timeout: float = 60.0) -> None:
    """Poll `predicate()` until it holds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("never happened")
        time.sleep(0.2)


def stored_sequences(store_url: str) -> list[int]:
    """Every stored sequence of kiosk-07 in SQLite, duplicates kept."""
    store = SqliteEventStore(store_url.removeprefix("sqlite:///"))
    try:
        rows = store._db.execute(  # the test reads the table itself: duplicates would show
            "SELECT sequence FROM events WHERE device_id = 'kiosk-07' ORDER BY sequence"
        ).fetchall()
    finally:
        store.close()
    return [row[0] for row in rows]


def simulate(tmp_path: Path, port: int, journeys: int) -> int:
    """Run the simulated kiosk until delivered; its last sequence."""
    kiosk = write_config(tmp_path / "kiosk.toml", tmp_path / "kiosk-data", port)
    result = borne(
        "simulate",
        "--config",
        str(kiosk),
        "--journeys",
        str(journeys),
        "--seed",
        "5",
        "--wait-delivered",
        timeout=SIMULATE_TIMEOUT,
    )
    assert result.returncode == 0, result.stderr
    last: int = json.loads(result.stdout)["last_sequence"]
    return last


def assert_all_stored_once(config: Path, last: int) -> dict[str, Any]:
    """Status shows kiosk-07 with 1..last stored and nothing open."""
    wait_until(lambda: status(config).get("kiosk-07", {}).get("last_contiguous") == last)
    device = status(config)["kiosk-07"]
    assert device["highest"] == last
    assert device["events_stored"] == last
    assert device["open"]["runs"] == 0
    return device


@pytest.mark.mqtt
def test_every_simulated_event_is_stored_once_and_the_device_is_online(
    tmp_path: Path, broker: Broker
) -> None:
    url = f"sqlite:///{tmp_path / 'hub' / 'events.sqlite'}"
    config = hub_config(tmp_path / "hub.toml", broker.port, url)
    hub = start_hub(config)
    kiosk = write_config(tmp_path / "kiosk.toml", tmp_path / "kiosk-data", broker.port)
    try:
        wait_subscribed(hub)
        journeys = subprocess.Popen(
            [*BORNE, "simulate", "--config", str(kiosk), "--journeys", "30", "--wait-delivered"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        # While the kiosk runs, its retained birth says online, with its boot counter.
        wait_until(lambda: status(config).get("kiosk-07", {}).get("state") == "online")
        assert status(config)["kiosk-07"]["boot"] >= 1
        out, _ = journeys.communicate(timeout=SIMULATE_TIMEOUT)
        assert journeys.returncode == 0
        last = json.loads(out)["last_sequence"]
        assert_all_stored_once(config, last)
        # Its clean stop says offline; the boot it ends stays known.
        wait_until(lambda: status(config)["kiosk-07"]["state"] == "offline")
        assert status(config)["kiosk-07"]["boot"] >= 1
    finally:
        counters = stop_hub(hub)
    assert stored_sequences(url) == list(range(1, last + 1))
    assert counters["stored"] == last
    assert counters["duplicates"] == 0
    assert counters["malformed"] == 0
    table = borne("hub", "status", "--config", str(config))
    assert table.returncode == 0, table.stderr
    row = next(line.split() for line in table.stdout.splitlines() if line.startswith("kiosk-07"))
    assert row[1] == "offline"
    assert len(row[3]) == 8  # the stream epoch, shortened
    assert row[4:7] == [str(last), str(last), str(last)]


@pytest.mark.mqtt
def test_a_hub_killed_9_mid_stream_loses_nothing(tmp_path: Path, broker: Broker) -> None:
    url = f"sqlite:///{tmp_path / 'hub' / 'events.sqlite'}"
    first = hub_config(tmp_path / "hub-a.toml", broker.port, url, "hub-a")
    second = hub_config(tmp_path / "hub-b.toml", broker.port, url, "hub-b")
    hub_a, hub_b = start_hub(first), start_hub(second)
    kiosk = write_config(tmp_path / "kiosk.toml", tmp_path / "kiosk-data", broker.port)
    try:
        wait_subscribed(hub_a)
        wait_subscribed(hub_b)
        journeys = subprocess.Popen(
            [*BORNE, "simulate", "--config", str(kiosk), "--journeys", "30", "--seed", "2"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        # Mid-stream: the kill comes once the shared store holds some events.
        wait_until(lambda: status(first).get("kiosk-07", {}).get("events_stored", 0) > 20)
        kill_hub(hub_a)
        out, _ = journeys.communicate(timeout=SIMULATE_TIMEOUT)
        assert journeys.returncode == 0
        hub_a = start_hub(first)  # its session held what it had not acknowledged
        last = simulate(tmp_path, broker.port, 1)
        assert last > json.loads(out)["last_sequence"]
        assert_all_stored_once(first, last)
        share_b = stop_hub(hub_b)
        stop_hub(hub_a)
    finally:
        kill_hub(hub_a)
        kill_hub(hub_b)
    assert stored_sequences(url) == list(range(1, last + 1))
    assert share_b["stored"] > 0, "the second hub took its share of the stream"


@pytest.fixture(scope="module")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL on loopback, for this module."""
    server = PostgresServer()
    server.start()
    yield server
    server.stop()


@pytest.mark.mqtt
def test_events_are_ingested_into_postgresql(
    tmp_path: Path, broker: Broker, postgres_server: PostgresServer
) -> None:
    dsn = postgres_server.new_database()
    url = "postgresql://borne@127.0.0.1:{}/{}".format(postgres_server.port, dsn.split("=")[-1])
    config = hub_config(tmp_path / "hub.toml", broker.port, url)
    hub = start_hub(config)
    try:
        wait_subscribed(hub)
        last = simulate(tmp_path, broker.port, 4)
        assert_all_stored_once(config, last)
    finally:
        counters = stop_hub(hub)
    assert counters["stored"] == last


def publish(
    port: int, messages: list[tuple[str, bytes]], properties: Properties | None = None
) -> None:
    """Publish by hand, QoS 1 (with MQTT 5 `properties`), and wait for each PUBACK."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id="by-hand", protocol=MQTTProtocolVersion.MQTTv5
    )
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        for topic, payload in messages:
            client.publish(topic, payload, qos=1, properties=properties).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


def event(sequence: int, device: str = "kiosk-09") -> bytes:
    """A valid event of `device`."""
    return json.dumps(
        {
            "specversion": "1.0",
            "id": _uuid7(sequence),
            "source": f"/stores/paris-01/devices/{device}",
            "type": "io.borne.product.scanned",
            "time": "2026-11-30T10:00:00Z",
            "sequence": f"{sequence:020d}",
            "data": {},
        }
    ).encode()


def _uuid7(sequence: int) -> str:
    value = (int(time.time() * 1000) << 80) | (7 << 76) | (2 << 62) | sequence
    return str(uuid.UUID(int=value))


@pytest.mark.mqtt
def test_a_malformed_event_is_counted_not_stored_and_the_rest_goes_on(
    tmp_path: Path, broker: Broker
) -> None:
    url = f"sqlite:///{tmp_path / 'hub' / 'events.sqlite'}"
    config = hub_config(tmp_path / "hub.toml", broker.port, url)
    hub = start_hub(config)
    topic = "borne/v1/devices/kiosk-09/events/product.scanned"
    try:
        wait_subscribed(hub)
        publish(
            broker.port,
            [
                (topic, event(1)),
                (topic, b'{"specversion": "1.0", "secret": "9250000000017"'),
                (topic, event(2, device="kiosk-10")),  # another device's source
                ("borne/v1/devices/kiosk-09/state", b'{"state": "sideways"}'),
                (topic, event(2)),
                ("borne/v1/devices/kiosk-09/state", b'{"state": "online", "boot": 3}'),
                # A device may be called "events": its state is still a state.
                ("borne/v1/devices/events/state", b'{"state": "online", "boot": 1}'),
            ],
        )
        wait_until(lambda: status(config).get("kiosk-09", {}).get("boot") == 3)
        wait_until(lambda: status(config)["kiosk-09"]["last_contiguous"] == 2)
        wait_until(lambda: status(config).get("events", {}).get("state") == "online")
    finally:
        counters = stop_hub(hub)
    assert counters["malformed"] == 3
    assert counters["stored"] == 2
    assert status(config)["kiosk-09"]["events_stored"] == 2
    assert "kiosk-10" not in status(config)
    assert "9250000000017" not in (tmp_path / "hub" / "events.sqlite").read_bytes().decode(
        errors="replace"
    )


def test_bad_hub_config_keys_exit_2_naming_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "hub.toml"
    bad.write_text('[mqtt]\nhost = "127.0.0.1"\nshare_group = "a/b"\n')
    result = borne("hub", "status", "--config", str(bad))
    assert result.returncode == 2
    assert "mqtt.share_group" in result.stderr

    bad.write_text('[store]\nurl = "mysql://x"\n')
    result = borne("hub", "serve", "--config", str(bad))
    assert result.returncode == 2
    assert "store.url" in result.stderr

    bad.write_text("[mqtt]\ncolour = 1\n")
    result = borne("hub", "status", "--config", str(bad))
    assert result.returncode == 2
    assert "mqtt.colour" in result.stderr


def test_hub_environment_overrides_name_their_variable(tmp_path: Path) -> None:
    config = load_hub_config(None, {"BORNE_HUB_MQTT__PORT": "8883", "BORNE_MQTT__PORT": "1"})
    assert config.mqtt.port == 8883
    with pytest.raises(ConfigError) as refused:
        load_hub_config(None, {"BORNE_HUB_MQTT__PORT": "0"})
    assert refused.value.where == "BORNE_HUB_MQTT__PORT"
    with pytest.raises(ConfigError) as unknown:
        load_hub_config(None, {"BORNE_HUB_STORE__COLOUR": "x"})
    assert unknown.value.where == "BORNE_HUB_STORE__COLOUR"


def test_serve_without_a_broker_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "hub.toml"
    config.write_text(f'[store]\ndata_dir = "{tmp_path / "data"}"\n')
    result = borne("hub", "serve", "--config", str(config))
    assert result.returncode == 2
    assert "mqtt.host" in result.stderr


def test_state_messages_parse() -> None:
    state = parse_state_message(
        "borne/v1/devices/k1/state", b'{"state":"online","boot":2,"since":"2026-11-30T10:00:00Z"}'
    )
    assert (state.device_id, state.state, state.boot) == ("k1", "online", 2)
    assert state.since is not None
    assert state.since.utcoffset() is not None
    offline = parse_state_message("borne/v1/devices/k1/state", b'{"state":"offline"}')
    assert offline.since is None
    assert offline.boot is None
    for topic, payload in [
        ("borne/v1/devices/k1/health", b'{"state":"online"}'),
        ("borne/v1/devices/k1/state", b'{"state":"online","boot":0}'),
        ("borne/v1/devices/k1/state", b'{"state":"online","since":"2026-11-30 10:00"}'),
        ("borne/v1/devices/k1/state", b"[]"),
    ]:
        with pytest.raises(MalformedStateError):
            parse_state_message(topic, payload)


@given(topic=st.text(max_size=80), payload=st.binary(max_size=200))
def test_state_parser_returns_a_state_or_a_typed_error(topic: str, payload: bytes) -> None:
    try:
        state = parse_state_message(topic, payload)
    except MalformedStateError:
        return
    assert state.state in ("online", "offline")
    assert topic == f"borne/v1/devices/{state.device_id}/state"


@given(
    state=st.sampled_from(["online", "offline", "other"]),
    boot=st.one_of(st.none(), st.integers(), st.text(max_size=5)),
    since=st.one_of(st.none(), st.text(max_size=30), st.datetimes().map(str)),
)
def test_state_parser_on_json_objects(state: str, boot: object, since: object) -> None:
    message = {"state": state, "boot": boot, "since": since}
    try:
        parsed = parse_state_message("borne/v1/devices/k/state", json.dumps(message).encode())
    except MalformedStateError:
        return
    assert parsed.state == state
    assert parsed.boot is None or parsed.boot >= 1


def test_unusable_tls_files_stop_the_service_with_a_typed_error(tmp_path: Path) -> None:
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("not a certificate\n")
    config = load_hub_config(
        None,
        {
            "BORNE_HUB_MQTT__HOST": "127.0.0.1",
            "BORNE_HUB_MQTT__TLS": "true",
            "BORNE_HUB_MQTT__CA_FILE": str(not_pem),
        },
    )
    store = SqliteEventStore(tmp_path / "events.sqlite")
    try:
        with pytest.raises(HubLinkError, match="TLS files"):
            asyncio.run(HubService(config.mqtt, store).run())
    finally:
        store.close()


@given(
    key=st.sampled_from(
        ["MQTT__PORT", "MQTT__SHARE_GROUP", "MQTT__SESSION_EXPIRY", "STORE__URL", "MQTT__TLS"]
    ),
    value=st.text(max_size=40).filter(lambda text: "\0" not in text),
)
def test_hub_environment_values_load_or_name_their_variable(key: str, value: str) -> None:
    variable = f"BORNE_HUB_{key}"
    refused: ConfigError | None = None
    try:
        load_hub_config(None, {variable: value})
    except ConfigError as error:
        refused = error
    if refused is not None:
        assert refused.where == variable
