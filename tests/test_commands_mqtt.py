"""A signed command over a real mosquitto: `borne hub command resync` makes a running
`borne edge` ask the platform for every stream again; forged, misdirected and replayed
commands (a replay after a restart too) are refused and reported, and nothing runs.

The platform side is a recording subscriber: the kiosk's resync requests
(`.../req/sync`) are what the command visibly does. No hub answers them, and the
kiosk's re-ask and check intervals are long, so every request seen is one the kiosk
asked on connecting or on a command.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.commands.send import new_command
from edge.commands.wire import sign_command
from edge.hub.enrolment.ca import HubCA
from tests.asyncapi import check_message
from tests.conftest import BORNE, Subscriber, borne, write_config
from tests.mosquitto import Broker

pytestmark = pytest.mark.mqtt

DEVICE = "kiosk-07"
STREAMS = 6  # catalog, stock, reviews, offers, customers, staff
SYNC_REQUESTS = f"borne/v1/devices/{DEVICE}/req/sync"


class Kiosk:
    """`borne edge` with a broker, fed by the platform's streams, verifying with the hub's key."""

    def __init__(self, tmp_path: Path, broker: Broker, verify_key: Path) -> None:
        self.config = write_config(
            tmp_path / "kiosk.toml",
            tmp_path / "data",
            broker.port,
            catalog='source = ""',  # fed by the platform's streams: a downlink to resync
            sync="answer_within = 3600\ncheck_every = 3600",
            commands=f'verify_key_file = "{verify_key}"',
        )
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [*BORNE, "edge", "--config", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=os.environ | {"PYTHONUNBUFFERED": "1"},
        )

    def stop(self) -> str:
        """Stop it as systemd would; its log."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        _, log = self.process.communicate(timeout=60)
        assert self.process.returncode == 0, log
        return log

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.communicate()  # closes its pipe too


@pytest.fixture
def hub(tmp_path: Path, broker: Broker) -> tuple[Path, HubCA]:
    """The hub's configuration, and its CA (whose command key signs)."""
    config = tmp_path / "hub.toml"
    data = tmp_path / "hub"
    config.write_text(
        f'[mqtt]\nhost = "127.0.0.1"\nport = {broker.port}\n[store]\ndata_dir = "{data}"\n'
    )
    return config, HubCA.open(data / "ca")


def _requests(subscriber: Subscriber) -> int:
    with subscriber.lock:
        return sum(1 for topic, _, _ in subscriber.messages if topic == SYNC_REQUESTS)


def _command_events(subscriber: Subscriber) -> list[dict[str, Any]]:
    return [e for e in subscriber.events() if e["type"].startswith("io.borne.command.")]


def _publish(subscriber: Subscriber, topic: str, payload: bytes) -> None:
    assert subscriber.client is not None
    subscriber.client.publish(topic, payload, qos=1).wait_for_publish(10)


def test_a_signed_resync_makes_the_kiosk_ask_every_stream_again(
    tmp_path: Path, broker: Broker, subscriber: Subscriber, hub: tuple[Path, HubCA]
) -> None:
    hub_config, ca = hub
    verify_key = tmp_path / "command.pub"
    verify_key.write_bytes(ca.command_public_pem())
    kiosk = Kiosk(tmp_path, broker, verify_key)
    kiosk.start()
    try:
        subscriber.wait_for(lambda s: _requests(s) == STREAMS)  # asked on connecting
        sent = borne("hub", "command", "--config", str(hub_config), "--device", DEVICE, "resync")
        assert sent.returncode == 0, sent.stderr
        nonce = json.loads(sent.stdout)["nonce"]
        subscriber.wait_for(lambda s: len(_command_events(s)) == 1)
        assert _requests(subscriber) == 2 * STREAMS
        (executed,) = _command_events(subscriber)
        assert executed["type"] == "io.borne.command.executed"
        assert executed["data"] == {
            "name": "resync",
            "nonce": nonce,
            "outcome": "done",
            "result": {"streams_asked": STREAMS},
        }

        # What went over the wire is what the contract says.
        with subscriber.lock:
            seen = list(subscriber.messages)
        (command,) = [(t, p) for t, p, _ in seen if "/cmd/" in t]
        check_message(*command)
        for topic, payload, _ in seen:
            if "/events/command." in topic:
                check_message(topic, payload)

        # Refused: forged, for another kiosk, the same message again.
        forged = new_command("resync", DEVICE, lifetime=60)
        _publish(subscriber, command[0], sign_command(forged, Ed25519PrivateKey.generate()))
        other = new_command("resync", "kiosk-99", lifetime=60)
        _publish(subscriber, command[0], sign_command(other, ca.command_signing_key()))
        _publish(subscriber, command[0], command[1])
        subscriber.wait_for(lambda s: len(_command_events(s)) == 4)
        reasons = [e["data"].get("reason") for e in _command_events(subscriber)[1:]]
        assert reasons == ["bad_signature", "other_device", "replayed"]
        assert _requests(subscriber) == 2 * STREAMS  # nothing of them ran
        log = kiosk.stop()
        assert "refused" in log

        # After a restart, the command is still one already run.
        kiosk.start()
        subscriber.wait_for(lambda s: _requests(s) == 3 * STREAMS)  # connected again
        # Its sync requests may leave before its command subscription is in place (a
        # command published before it is not queued for a clean session): send it again
        # until heard; each copy is refused the same way.
        for _ in range(10):
            _publish(subscriber, command[0], command[1])
            try:
                subscriber.wait_for(lambda s: len(_command_events(s)) >= 5, timeout=3)
                break
            except TimeoutError:
                continue
        assert _command_events(subscriber)[-1]["data"]["reason"] == "replayed"
        assert _requests(subscriber) == 3 * STREAMS
        kiosk.stop()
    finally:
        kiosk.kill()


def test_a_hub_that_cannot_reach_the_broker_says_so(
    tmp_path: Path, broker: Broker, hub: tuple[Path, HubCA]
) -> None:
    hub_config, _ = hub
    broker.kill()
    sent = borne("hub", "command", "--config", str(hub_config), "--device", DEVICE, "resync")
    assert sent.returncode == 1
    assert "cannot reach the broker" in sent.stderr


def test_the_device_must_be_one_topic_level(hub: tuple[Path, HubCA]) -> None:
    hub_config, _ = hub
    sent = borne("hub", "command", "--config", str(hub_config), "--device", "kiosk/+", "resync")
    assert sent.returncode == 2
    assert "one topic level" in sent.stderr


def test_a_signed_doctor_runs_the_self_test_and_sends_its_report(
    tmp_path: Path, broker: Broker, subscriber: Subscriber, hub: tuple[Path, HubCA]
) -> None:
    hub_config, ca = hub
    verify_key = tmp_path / "command.pub"
    verify_key.write_bytes(ca.command_public_pem())
    kiosk = Kiosk(tmp_path, broker, verify_key)
    kiosk.start()
    try:
        subscriber.wait_for(lambda s: _requests(s) == STREAMS)  # connected
        sent = borne(
            "hub", "command", "--config", str(hub_config), "--device", DEVICE, "doctor",
            "--args", '{"only": ["disk", "outbox"], "wait": 0}',
        )  # fmt: skip
        assert sent.returncode == 0, sent.stderr
        subscriber.wait_for(lambda s: len(_command_events(s)) == 1)
        (executed,) = _command_events(subscriber)
        assert executed["data"]["outcome"] == "done", executed["data"]
        result = executed["data"]["result"]
        subscriber.wait_for(
            lambda s: any(e["type"] == "io.borne.device.checked" for e in s.events())
        )
        (report,) = [e for e in subscriber.events() if e["type"] == "io.borne.device.checked"]
        assert int(report["sequence"]) == result["report_sequence"]
        checks = {item["check"]: item["outcome"] for item in report["data"]["results"]}
        assert set(checks) == {"disk", "outbox"}
        assert result["failed"] == ("fail" in checks.values())
        kiosk.stop()
    finally:
        kiosk.kill()
