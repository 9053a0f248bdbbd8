"""The self-test's parts: the parsers of what the system and the hub say, the clock's
verdicts, the installer screen's entry point on a running kiosk, the outbox shared
with a running kiosk, and presence using the calibrated power."""

from __future__ import annotations

import asyncio
import datetime
import email.utils
import http.server
import ipaddress
import json
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from devices.barcode.decoder import as_frame
from devices.barcode.simulated_camera import SimulatedCamera
from devices.barcode.symbology import Symbology
from devices.nfc.card_formats import loyalty_records
from devices.readings import BeaconSighting
from edge.bootstrap import build_runtime
from edge.commands.handlers import doctor_command
from edge.commands.receiver import CommandFailed
from edge.commands.wire import Command
from edge.config import Config, load_config
from edge.doctor import Outcome, Output, run_doctor
from edge.doctor.clock_check import ClockCheckError, parse_http_date
from edge.doctor.context import CheckContext
from edge.doctor.device_source import DeviceSource
from edge.doctor.display import parse_connector
from edge.doctor.frames import sharpness
from edge.doctor.messages import SCREEN_MESSAGES
from edge.doctor.report import CheckResult
from edge.doctor.runtime_source import RuntimeSource, SelfTestBusy
from edge.doctor.storage_checks import OUTBOX_FILE, check_outbox
from edge.events import EventDraft, EventSource
from edge.outbox import OutboxStore
from edge.presence import PresenceEngine
from tests.conftest import write_config
from tests.test_outbox_damage import overwrite_pages, write_events
from tests.test_tls import make_pki

CARD = "9250000000017"
PRODUCT = "3760123450010"
APP = "b0a1e5e0-57a0-4b2e-9d1f-2c0b0e000001"


# --- what the hub and the kernel say -----------------------------------------------------


@given(st.text(max_size=80))
def test_any_date_header_is_a_time_or_a_clock_check_error(text: str) -> None:
    try:
        parsed = parse_http_date(text)
    except ClockCheckError:
        return
    assert isinstance(parsed, float)


@given(st.integers(min_value=0, max_value=4_000_000_000))
def test_a_date_header_reads_as_the_second_it_names(seconds: int) -> None:
    assert parse_http_date(email.utils.formatdate(seconds, usegmt=True)) == seconds


def test_a_date_without_time_zone_is_refused() -> None:
    with pytest.raises(ClockCheckError, match="no time zone"):
        parse_http_date("Tue, 01 Dec 2026 03:00:00 -0000")


@given(st.text(max_size=40), st.text(max_size=40), st.text(max_size=200))
def test_any_drm_connector_is_an_output_or_nothing(name: str, status: str, modes: str) -> None:
    output = parse_connector(name, status, modes)
    assert output is None or isinstance(output, Output)


def test_drm_connectors_say_which_output_is_connected_and_its_mode() -> None:
    assert parse_connector("card1-eDP-1", "connected\n", "1920x1200\n1280x800\n") == Output(
        "eDP-1", "1920x1200"
    )
    assert parse_connector("card0-HDMI-A-2", "disconnected\n", "") is None
    assert parse_connector("card0", "connected\n", "") is None  # the card, not a connector
    assert parse_connector("card0-DSI-1", "connected\n", "\x00garbage") == Output("DSI-1", "")


def test_a_blurred_picture_is_less_sharp_than_the_same_in_focus() -> None:
    camera = SimulatedCamera(fps=None)
    camera.show(PRODUCT, Symbology.EAN13, frames=1)
    frame = camera.read()
    assert frame is not None

    assert sharpness(as_frame(cv2.GaussianBlur(frame, (15, 15), 5))) < 100 <= sharpness(frame)


# --- the clock against the hub -------------------------------------------------------------


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("pki")
    make_pki(folder, "kiosk-07")
    return folder


@pytest.fixture
def hub_ahead(pki: Path) -> Iterator[tuple[str, list[float]]]:
    """A hub whose clock is ahead of ours by the number put in the list."""
    ahead = [0.0]

    class Handler(http.server.BaseHTTPRequestHandler):
        def date_time_string(self, timestamp: float | None = None) -> str:
            return email.utils.formatdate(time.time() + ahead[0], usegmt=True)

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki / "broker.pem", pki / "broker.key")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{server.server_address[1]}", ahead
    server.shutdown()
    server.server_close()


def clock_config(tmp_path: Path, pki: Path, hub_url: str) -> Config:
    path = write_config(
        tmp_path / "kiosk.toml",
        tmp_path / "data",
        device=f'store_id = "paris-01"\ndevice_id = "kiosk-07"\nhub_url = "{hub_url}"',
        mqtt=f'tls = true\nca_file = "{pki / "ca.pem"}"',
    )
    return load_config(path, environ={})


@pytest.mark.parametrize(
    ("ahead", "outcome"), [(0.0, Outcome.PASS), (15.0, Outcome.WARN), (600.0, Outcome.FAIL)]
)
def test_a_clock_off_the_hubs_is_a_warning_then_a_failure(
    tmp_path: Path, pki: Path, hub_ahead: tuple[str, list[float]], ahead: float, outcome: Outcome
) -> None:
    url, hub_is_ahead = hub_ahead
    hub_is_ahead[0] = ahead
    config = clock_config(tmp_path, pki, url)

    report = asyncio.run(run_doctor(config, source=_no_devices(config), checks=("clock",), wait=1))

    (clock,) = report.results
    assert clock.outcome is outcome, clock.summary_text
    if outcome is not Outcome.PASS:
        assert clock.summary_text.startswith("clock -")  # behind the hub
        assert "timedatectl set-ntp true" in clock.remedy_text


def test_a_hub_whose_certificate_is_not_the_enrolled_cas_is_not_trusted(
    tmp_path: Path, pki: Path, hub_ahead: tuple[str, list[float]]
) -> None:
    url, _ = hub_ahead
    other = tmp_path / "other"
    other.mkdir()
    make_pki(other, "kiosk-07")
    config = clock_config(tmp_path, other, url)

    report = asyncio.run(run_doctor(config, source=_no_devices(config), checks=("clock",), wait=1))

    (clock,) = report.results
    assert clock.outcome is Outcome.WARN
    assert "not trusted" in clock.summary_text


def future_hub_pki(folder: Path, starts_in: datetime.timedelta) -> Path:
    """A hub CA, and an HTTPS certificate for 127.0.0.1 it signs, valid only from
    `starts_in` from now: what a kiosk whose clock is that far behind sees."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Borne test hub CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + starts_in + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + starts_in)
        .not_valid_after(now + starts_in + datetime.timedelta(days=397))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    (folder / "ca.pem").write_bytes(ca.public_bytes(Encoding.PEM))
    (folder / "broker.pem").write_bytes(server.public_bytes(Encoding.PEM))
    (folder / "broker.key").write_bytes(
        key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    )
    return folder


def test_a_clock_years_behind_fails_with_its_skew_not_an_unreachable_hub(
    tmp_path: Path,
) -> None:
    """The kiosk's clock two years behind: the hub's certificate is not valid yet by it,
    so TLS refuses the hub. That is the clock's failure, measured, not a hub to check."""
    two_years = datetime.timedelta(days=730)
    hub_pki = future_hub_pki(tmp_path, two_years)
    server = https_hub(hub_pki, ahead=two_years.total_seconds() + 3600)
    try:
        url = f"https://127.0.0.1:{server.server_address[1]}"
        config = clock_config(tmp_path, hub_pki, url)
        report = asyncio.run(
            run_doctor(config, source=_no_devices(config), checks=("clock",), wait=1)
        )
    finally:
        server.shutdown()
        server.server_close()

    (clock,) = report.results
    assert clock.outcome is Outcome.FAIL, clock.summary_text
    assert clock.summary_text.startswith("clock 730 days behind the hub's (-63075")
    assert "timedatectl set-time" in clock.remedy_text
    assert clock.summary in SCREEN_MESSAGES
    assert clock.remedy in SCREEN_MESSAGES


def https_hub(pki: Path, ahead: float) -> http.server.ThreadingHTTPServer:
    """A hub answering HTTPS with pki's broker certificate, its clock `ahead` of ours."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def date_time_string(self, timestamp: float | None = None) -> str:
            return email.utils.formatdate(time.time() + ahead, usegmt=True)

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki / "broker.pem", pki / "broker.key")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _no_devices(config: Config) -> DeviceSource:
    """The source of the checks that use no device: the configuration names none."""
    return DeviceSource(config)


# --- the installer screen: a running kiosk's devices ----------------------------------------


def test_the_installer_screen_tests_the_kiosks_devices_without_a_shopper_session(
    tmp_path: Path,
) -> None:
    config = load_config(
        write_config(
            tmp_path / "kiosk.toml",
            tmp_path / "data",
            devices='camera = "simulated"\nnfc = "simulated"',
        ),
        environ={},
    )

    async def scenario() -> tuple[list[dict[str, Any]], list[str], bool, bool]:
        runtime, simulators = await build_runtime(config, simulators_allowed=True)
        await runtime.start()
        try:
            assert simulators.camera is not None
            assert simulators.card is not None
            source = RuntimeSource(runtime, config, window=(1080, 1920), rotation=90)
            checking = asyncio.Event()
            doctor = asyncio.create_task(
                run_doctor(
                    config,
                    source=source,
                    checks=("camera", "nfc", "display"),
                    wait=15,
                    progress=lambda check, found: checking.set(),
                )
            )
            await checking.wait()
            simulators.camera.show(PRODUCT, Symbology.EAN13, frames=8)
            simulators.card.tap(loyalty_records(CARD))
            source.touched()
            report = await doctor
            during = runtime.session.active  # the test's tap and scan opened no session
            await source.send(report)
            # Given back: the next card is a shopper's again.
            simulators.card.tap(loyalty_records(CARD))
            async with asyncio.timeout(10):
                await runtime.wait_for_view(lambda view: runtime.session.active)
            after = runtime.session.active
            events = await runtime.outbox.pending(0, 100)
        finally:
            await runtime.close()
            simulators.close()
        results = [result.as_json() for result in report.results]
        return results, [json.loads(e.payload)["type"] for e in events], during, after

    results, types, during, after = asyncio.run(scenario())

    camera, nfc, display = results
    assert camera["outcome"] == "warn"  # simulated
    assert isinstance(camera["params"]["fps"], float)  # the kiosk's camera is metered
    assert camera["params"]["fps"] > 0
    assert nfc["summary"] == "card read (type Type3Tag)"
    assert display["outcome"] == "pass"
    assert display["summary"] == "window 1080x1920 turned 90°, 1 touches seen"
    assert during is False
    assert after is True
    # The report first; the installer's card and barcode made no shopper event.
    assert types[0] == "io.borne.device.checked"
    assert "io.borne.product.scanned" not in types
    assert types.count("io.borne.card.tapped") == 1  # the shopper's, after the test


def test_a_second_self_test_is_refused_and_the_first_gives_the_readings_back(
    tmp_path: Path,
) -> None:
    """The hub's `doctor` command while the installer's panel tests: refused as busy. Two
    overlapping tests used to leave the readings with the finished one, every tap lost."""
    config = load_config(
        write_config(tmp_path / "kiosk.toml", tmp_path / "data", devices='nfc = "simulated"'),
        environ={},
    )

    async def scenario() -> tuple[str, bool]:
        runtime, simulators = await build_runtime(config, simulators_allowed=True)
        await runtime.start()
        try:
            assert simulators.card is not None
            panel = RuntimeSource(runtime, config)
            await panel.start()
            second = RuntimeSource(runtime, config)
            with pytest.raises(SelfTestBusy):
                await second.start()
            command = Command("doctor", "kiosk-07", 0, 0, "n1", {"only": ["disk"], "wait": 0})
            with pytest.raises(CommandFailed) as refused:
                await doctor_command(runtime, config)(command)
            await panel.stop()
            await second.stop()  # never started: gives back nothing
            simulators.card.tap(loyalty_records(CARD))
            async with asyncio.timeout(10):
                await runtime.wait_for_view(lambda view: runtime.session.active)
            return refused.value.problem, runtime.session.active
        finally:
            await runtime.close()
            simulators.close()

    problem, shopper_served = asyncio.run(scenario())

    assert problem == "busy: a self-test is already running on this kiosk"
    assert shopper_served
    assert "A self-test is already running." in SCREEN_MESSAGES


# --- the outbox, shared with a running kiosk -------------------------------------------------


def test_a_second_process_appending_keeps_the_sequence_gapless_and_distinct(
    tmp_path: Path,
) -> None:
    # borne doctor queues its report while borne kiosk may be running: each append
    # numbers its events inside SQLite's write lock, from the file's last sequence.
    path = tmp_path / "outbox.sqlite"
    source = EventSource("paris-01", "kiosk-07")
    kiosk = OutboxStore(path, source, synchronous="normal")
    doctor = OutboxStore(path, source, synchronous="normal")
    try:
        sequences = []
        for turn in range(6):
            store = kiosk if turn % 3 else doctor
            stored = store.append([EventDraft("io.borne.device.checked", {"turn": turn})])
            sequences += [event.sequence for event in stored]
        pending = [event.sequence for event in kiosk.pending(0, 100)]
    finally:
        kiosk.close()
        doctor.close()

    assert sequences == [1, 2, 3, 4, 5, 6]
    assert pending == sequences


def test_the_self_test_fails_a_damaged_outbox_then_says_where_its_copy_went(
    tmp_path: Path,
) -> None:
    config = load_config(write_config(tmp_path / "kiosk.toml", tmp_path / "data"), environ={})
    path = config.data_dir / OUTBOX_FILE
    write_events(path, 300)
    overwrite_pages(path, 3, seed=5)

    def outbox_check() -> CheckResult:
        context = CheckContext(config, DeviceSource(config), wait=0.0, deadline=0.0)
        return asyncio.run(check_outbox(context))

    damaged = outbox_check()
    assert damaged.outcome is Outcome.FAIL
    assert damaged.params["path"] == str(path)
    OutboxStore(path, EventSource("paris-01", "kiosk-07")).close()  # the kiosk's next start
    replaced = outbox_check()
    assert replaced.outcome is Outcome.WARN
    assert ".damaged-" in str(replaced.params["path"])
    assert Path(str(replaced.params["path"])).is_file()


# --- presence with the calibrated power --------------------------------------------------------


def test_a_calibrated_power_at_1m_places_the_store_apps_phones_by_it() -> None:
    # The phone advertises -59 dBm at 1 m; this kiosk's adapter hears it at -75 at 1 m.
    heard_at_1m = BeaconSighting(f"{APP}/1/7", APP, -75, -59, "test", 1000.0)

    def first_event(engine: PresenceEngine) -> dict[str, object]:
        (event,) = engine.observe(heard_at_1m)
        return dict(event.data)

    advertised = first_event(PresenceEngine(APP, lambda beacon: "p"))
    calibrated = first_event(PresenceEngine(APP, lambda beacon: "p", power_at_1m=-75))

    assert advertised["zone"] == "far"
    assert calibrated["zone"] == "near"
    assert calibrated["distance_m"] == 1.0
