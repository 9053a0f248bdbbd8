"""`borne doctor` against simulated devices, a real mosquitto over mutual TLS with an
ACL that isolates devices, and a hub answering HTTPS; then a kiosk with a camera that
is not there and a broker nobody runs."""

from __future__ import annotations

import asyncio
import http.server
import json
import sqlite3
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devices.barcode.symbology import Symbology
from devices.ble.replay import RecordedAdvert, ibeacon_payload
from devices.nfc.card_formats import loyalty_records
from edge.config import Config, load_config
from edge.doctor import CheckResult, Outcome, Report, run_doctor
from edge.doctor.device_source import DeviceSource
from edge.doctor.messages import SCREEN_MESSAGES
from tests.asyncapi import check_message
from tests.conftest import borne, write_config
from tests.mosquitto import Broker, free_port
from tests.test_tls import make_pki, openssl

pytestmark = pytest.mark.mqtt

DEVICE = "kiosk-07"
CARD = "9250000000017"  # a demo loyalty card: its number must appear nowhere
PRODUCT = "3760123450010"  # a demo product's EAN-13
HELD_AT_1M = [-60, -62, -61, -63, -61, -59, -61, -64, -61, -60]  # median -61


KIOSK_CERTIFICATE_DAYS = 397  # as the hub issues them


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    """make_pki's, with the kiosk's certificate issued for as long as the hub issues it."""
    folder = tmp_path / "pki"
    folder.mkdir()
    make_pki(folder, DEVICE)
    openssl(
        "x509",
        "-req",
        "-in",
        str(folder / "kiosk.csr"),
        "-CA",
        str(folder / "ca.pem"),
        "-CAkey",
        str(folder / "ca.key"),
        "-days",
        str(KIOSK_CERTIFICATE_DAYS),
        "-extfile",
        str(folder / "kiosk.ext"),
        "-out",
        str(folder / "kiosk.pem"),
    )
    return folder


def tls_broker(tmp_path: Path, pki: Path, acl_lines: str) -> Broker:
    """Mosquitto with mutual TLS: the certificate's CN is the username the ACL sees."""
    acl = tmp_path / "acl"
    acl.write_text(acl_lines)
    directory = tmp_path / "broker"
    directory.mkdir()
    broker = Broker(
        directory,
        free_port(),
        persistent=False,
        listener_options=(
            f"cafile {pki / 'ca.pem'}\n"
            f"certfile {pki / 'broker.pem'}\nkeyfile {pki / 'broker.key'}\n"
            f"require_certificate true\nuse_identity_as_username true\nacl_file {acl}\n"
        ),
    )
    broker.start()
    return broker


ISOLATING_ACL = "pattern write borne/v1/devices/%u/#\npattern read borne/v1/devices/%u/#\n"


@pytest.fixture
def hub_https(pki: Path) -> Iterator[str]:
    """The hub's HTTPS side as the clock check asks it: GET /v1/ca, with a Date."""
    ca = (pki / "ca.pem").read_bytes()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/v1/ca" else 404)  # sends Date
            self.send_header("Content-Length", str(len(ca)))
            self.end_headers()
            self.wfile.write(ca)

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki / "broker.pem", pki / "broker.key")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def fake_drm(folder: Path) -> Path:
    """A /sys/class/drm as the kernel shows one connected HDMI panel and an empty DP."""
    for name, status, modes in (
        ("card0-HDMI-A-1", "connected\n", "1920x1080\n1280x720\n"),
        ("card0-DP-1", "disconnected\n", ""),
    ):
        (folder / name).mkdir(parents=True)
        (folder / name / "status").write_text(status)
        (folder / name / "modes").write_text(modes)
    (folder / "version").write_text("drm 1.1.0\n")
    return folder


def kiosk_config(tmp_path: Path, pki: Path, port: int, hub_url: str) -> Path:
    return write_config(
        tmp_path / "kiosk.toml",
        tmp_path / "data",
        device=f'store_id = "paris-01"\ndevice_id = "{DEVICE}"\nhub_url = "{hub_url}"',
        mqtt=(
            f'host = "127.0.0.1"\nport = {port}\ntls = true\nca_file = "{pki / "ca.pem"}"\n'
            f'cert_file = "{pki / "kiosk.pem"}"\nkey_file = "{pki / "kiosk.key"}"'
        ),
        devices='camera = "simulated"\nnfc = "simulated"\nble = "simulated"',
    )


def held_phone(config: Config) -> list[RecordedAdvert]:
    """The store app on the installer's phone held still 1 m from the kiosk, and on a
    shopper's phone further away."""
    uuid = config.presence.store_app_uuid
    held = {0x004C: ibeacon_payload(uuid, 1, 7, -59)}
    shopper = {0x004C: ibeacon_payload(uuid, 1, 9, -59)}
    adverts = []
    for rssi in HELD_AT_1M:
        adverts.append(RecordedAdvert("4A:00:00:00:00:07", rssi, held, after=0.05))
        adverts.append(RecordedAdvert("4A:00:00:00:00:09", rssi - 25, shopper, after=0.05))
    return adverts


async def installer_at_work(source: DeviceSource, config: Config, path: Path) -> Report:
    """The doctor runs (and calibrates) while the installer shows a barcode and taps a card."""
    checking = asyncio.Event()  # the checks start once the devices are opened
    doctor = asyncio.create_task(
        run_doctor(
            config,
            source=source,
            wait=15,
            calibrate=True,
            config_path=path,
            progress=lambda check, found: checking.set(),
        )
    )
    async with asyncio.timeout(10):
        await checking.wait()
    assert source.simulators.camera is not None
    assert source.simulators.card is not None
    source.simulators.camera.show(PRODUCT, Symbology.EAN13, frames=8)
    source.simulators.card.tap(loyalty_records(CARD))
    return await doctor


def outbox_events(data: Path) -> list[tuple[str, bytes]]:
    with sqlite3.connect(data / "outbox.sqlite") as db:
        return [(t, bytes(p)) for t, p in db.execute("SELECT topic, payload FROM events")]


def assert_translatable(result: CheckResult) -> None:
    """The screen can translate whatever a result says."""
    assert result.summary in SCREEN_MESSAGES
    assert not result.remedy or result.remedy in SCREEN_MESSAGES


def test_a_ready_kiosk_passes_or_warns_and_calibrates_presence(
    tmp_path: Path, pki: Path, hub_https: str
) -> None:
    broker = tls_broker(tmp_path, pki, ISOLATING_ACL)
    try:
        path = kiosk_config(tmp_path, pki, broker.port, hub_https)
        config = load_config(path, environ={})
        source = DeviceSource(
            config, drm_root=fake_drm(tmp_path / "drm"), ble_replay=held_phone(config)
        )

        async def scenario() -> tuple[Report, int | None]:
            report = await installer_at_work(source, config, path)
            sending = await source.send(report)
            return report, sending.sequence

        report, sequence = asyncio.run(scenario())
    finally:
        broker.kill()

    by_check = {result.check: result for result in report.results}
    assert list(by_check) == [
        "camera",
        "nfc",
        "ble",
        "display",
        "broker",
        "clock",
        "disk",
        "outbox",
        "catalog",
    ]
    assert not report.failed, [r.summary_text for r in report.results]
    for result in report.results:
        assert result.outcome in (Outcome.PASS, Outcome.WARN), result.summary_text
        assert_translatable(result)
    # The devices worked, but they are simulated: not ready for shoppers.
    for kind in ("camera", "nfc", "ble"):
        assert by_check[kind].outcome is Outcome.WARN
        assert "simulated" in by_check[kind].remedy_text
    assert "barcode read (ean13)" in by_check["camera"].summary_text
    assert by_check["nfc"].summary_text == "card read (type Type3Tag)"
    assert by_check["ble"].params["rssi"] == -61
    assert "HDMI-A-1 1920x1080" in by_check["display"].summary_text
    # The ACL lets the kiosk write its own topics and refuses another device's.
    assert by_check["broker"].outcome is Outcome.PASS, by_check["broker"].summary_text
    assert "another device's refused" in by_check["broker"].summary_text
    assert by_check["clock"].outcome is Outcome.PASS, by_check["clock"].summary_text
    assert by_check["catalog"].outcome is not Outcome.FAIL
    # Calibrated: the median at 1 m is in the configuration the kiosk reads next.
    assert load_config(path, environ={}).presence.power_at_1m == -61
    # The report waits in the outbox for the platform, as the contract says, and holds
    # neither the card's number nor the product's.
    ((topic, payload),) = outbox_events(tmp_path / "data")
    assert sequence == 1
    assert topic == f"borne/v1/devices/{DEVICE}/events/device.checked"
    check_message(topic, payload)
    assert CARD not in payload.decode()
    assert PRODUCT not in payload.decode()


def test_a_kiosk_certificate_near_its_end_is_a_warning_and_an_expired_one_a_failure(
    tmp_path: Path, pki: Path
) -> None:
    broker = tls_broker(tmp_path, pki, ISOLATING_ACL)
    try:
        path = kiosk_config(tmp_path, pki, broker.port, hub_url="")
        config = load_config(path, environ={})

        def broker_check(days_from_now: float) -> CheckResult:
            def clock() -> float:
                return time.time() + days_from_now * 86400

            report = asyncio.run(
                run_doctor(config, source=DeviceSource(config), checks=("broker",), clock=clock)
            )
            return report.results[0]

        now, late, expired = broker_check(0), broker_check(387.5), broker_check(398)
    finally:
        broker.kill()

    assert now.outcome is Outcome.PASS, now.summary_text
    assert late.outcome is Outcome.WARN, late.summary_text
    assert "another device's refused" in late.summary_text
    assert "certificate expires in 9 days" in late.summary_text
    assert expired.outcome is Outcome.FAIL
    assert expired.summary_text.startswith("this kiosk's certificate expired on ")
    for result in (late, expired):
        assert_translatable(result)
        assert result.remedy_text.startswith(
            f"re-enrol the kiosk: borne hub enrol-code --device {DEVICE}"
        )


def test_a_broker_that_lets_a_kiosk_publish_as_another_is_a_warning(
    tmp_path: Path, pki: Path
) -> None:
    broker = tls_broker(tmp_path, pki, "pattern write borne/#\n")
    try:
        path = kiosk_config(tmp_path, pki, broker.port, hub_url="")
        config = load_config(path, environ={})
        report = asyncio.run(
            run_doctor(config, source=DeviceSource(config), checks=("broker", "clock"), wait=2)
        )
    finally:
        broker.kill()

    broker_result, clock_result = report.results
    assert broker_result.outcome is Outcome.WARN
    assert broker_result.summary_text == "the broker's ACL does not isolate devices"
    assert clock_result.outcome is Outcome.SKIP  # no hub to ask the time


def test_a_missing_camera_and_an_unreachable_broker_fail_with_their_remedy(
    tmp_path: Path,
) -> None:
    port = free_port()  # nobody listens there
    path = write_config(
        tmp_path / "kiosk.toml",
        tmp_path / "data",
        mqtt=f'host = "127.0.0.1"\nport = {port}',
        devices=f'camera = "{tmp_path / "video9"}"',
    )

    result = borne(
        "doctor", "--config", str(path), "--json", "--wait", "2", "--only", "camera,broker,disk"
    )

    assert result.returncode == 1, result.stderr
    document = json.loads(result.stdout)
    by_check = {r["check"]: r for r in document["results"]}
    assert set(by_check) == {"camera", "broker", "disk"}
    camera, broker = by_check["camera"], by_check["broker"]
    assert camera["outcome"] == "fail"
    assert str(tmp_path / "video9") in camera["summary"]
    assert "plugged in" in camera["remedy"]
    assert broker["outcome"] == "fail"
    assert broker["summary"] == f"broker 127.0.0.1:{port} unreachable: connection refused"
    assert "check [mqtt] host and port" in broker["remedy"]
    assert by_check["disk"]["outcome"] == "pass"
    assert document["outcome"] == "fail"
    assert document["report_event"]["queued"] is True


def test_plain_output_names_each_check_its_outcome_and_what_to_do(tmp_path: Path) -> None:
    path = write_config(
        tmp_path / "kiosk.toml",
        tmp_path / "data",
        mqtt=f'host = "127.0.0.1"\nport = {free_port()}',
    )

    result = borne("doctor", "--config", str(path), "--only", "broker,outbox", "--wait", "1")

    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert any(line.startswith("broker   FAIL") for line in lines)
    assert any("-> nothing listens on 127.0.0.1:" in line for line in lines)
    assert any(line.startswith("outbox   PASS") for line in lines)
    assert lines[-1].startswith("report: queued in the outbox as event 1")
