"""A kiosk enrols itself: `borne enrol` against a hub on loopback HTTPS.

The hub here (tests/enrol_hub.py) follows the contract's wire format with a real CA;
the kiosk's key, CSR, TLS checks and files are the real ones.
"""

from __future__ import annotations

import dataclasses
import stat
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, load_pem_private_key

from edge.config import load_config
from edge.enrol.client import (
    EnrolFailed,
    HubUnreachable,
    enrol,
    install_enrolment,
)
from edge.lockdown import pin_matches
from tests.conftest import BORNE, borne
from tests.enrol_hub import INSTALLER_PIN, Answer, Authority, EnrolHub
from tests.mosquitto import free_port

STORE = "PARIS-01"
KIOSK_CONFIG = """\
[storage]
data_dir = "{data}"
synchronous = "normal"

[devices]
camera = "simulated"

[catalog]
store_names = {{ LYON-02 = "Lyon Part-Dieu" }}

[mqtt]
keepalive = 45
username = "hand-written"
"""
INSTALLED = {"device.key", "device.pem", "ca.pem", "pseudonym.key", "command.pub"}


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[EnrolHub]:
    folder = tmp_path / "hub"
    folder.mkdir()
    with EnrolHub(folder).running() as running:
        yield running


@pytest.fixture
def kiosk(tmp_path: Path) -> Path:
    """A kiosk's configuration as an installer wrote it before enrolment."""
    folder = tmp_path / "kiosk"
    folder.mkdir()
    config = folder / "borne.toml"
    config.write_text(KIOSK_CONFIG.format(data=tmp_path / "data"))
    return config


def enrol_cli(code: str, config: Path, *extra: str, stdin: str | None = None) -> tuple[int, str]:
    if stdin is None:
        result = borne("enrol", "--code", code, "--config-out", str(config), *extra)
    else:
        result = subprocess.run(
            [*BORNE, "enrol", "--code", "-", "--config-out", str(config), *extra],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    return result.returncode, result.stdout + result.stderr


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def assert_nothing_installed(config: Path, before: str) -> None:
    assert config.read_text() == before
    assert not INSTALLED & {path.name for path in config.parent.iterdir()}


def test_an_enrolled_kiosk_has_a_configuration_it_accepts(hub: EnrolHub, kiosk: Path) -> None:
    code = hub.issue(STORE)

    status, output = enrol_cli(code.text(), kiosk)

    assert status == 0, output
    assert f"Enrolled {STORE}-k01 in store {STORE} (Store {STORE})" in output
    config = load_config(kiosk, environ={})
    folder = kiosk.parent
    assert config.device.device_id == f"{STORE}-k01"
    assert config.device.store_id == STORE
    assert config.device.store_name == f"Store {STORE}"
    assert config.device.hub_url == code.hub_url
    assert config.mqtt.tls
    assert (config.mqtt.host, config.mqtt.port) == hub.broker
    assert config.mqtt.username == ""  # the certificate is the identity now
    for written in (config.mqtt.ca_file, config.mqtt.cert_file, config.mqtt.key_file):
        assert Path(written).parent == folder  # absolute: the kiosk may run from anywhere
    assert Path(config.mqtt.ca_file).read_bytes() == hub.authority.pem
    key = load_pem_private_key(Path(config.mqtt.key_file).read_bytes(), password=None)
    certificate = x509.load_pem_x509_certificate(Path(config.mqtt.cert_file).read_bytes())
    assert certificate == hub.issued[0]
    assert certificate.public_key() == key.public_key()
    secret = Path(config.privacy.pseudonym_key_file)
    assert secret.read_text().strip() == hub.pseudonym_key
    assert Path(config.commands.verify_key_file).read_bytes().startswith(b"-----BEGIN PUBLIC")
    assert pin_matches(config.kiosk.installer_pin_hash, INSTALLER_PIN)
    assert mode(Path(config.mqtt.key_file)) == 0o600
    assert mode(secret) == 0o600
    assert not (folder / "device.key.pending").exists()
    # What the installer had written is still there.
    assert config.devices.camera == "simulated"
    assert config.catalog.store_names == {"LYON-02": "Lyon Part-Dieu"}
    assert config.mqtt.keepalive == 45
    assert config.storage.synchronous == "normal"


@pytest.mark.parametrize(
    ("situation", "said"),
    [
        (
            "used",
            f"this code was already used (the hub says: this code was already used by {STORE}-k01",
        ),
        ("expired", "this code expired at "),
        ("forged", "this code is not one the hub issued"),
        ("other device", "this code is for another device"),
        ("enrolment off", "the hub does not enrol kiosks at the moment"),
    ],
)
def test_a_refused_code_exits_2_and_changes_nothing(
    hub: EnrolHub, kiosk: Path, tmp_path: Path, situation: str, said: str
) -> None:
    code = hub.issue(STORE, device="kiosk-07" if situation == "other device" else "")
    extra: tuple[str, ...] = ()
    if situation == "used":
        enrol(code, tmp_path / "another-kiosk")
    elif situation == "expired":
        code = hub.issue(STORE, minutes=-1)
    elif situation == "forged":
        code = dataclasses.replace(code, token="A" * 32)
    elif situation == "other device":
        extra = ("--device", "kiosk-08")
    else:
        hub.enrolling = False
    before = kiosk.read_text()

    status, output = enrol_cli(code.text(), kiosk, *extra)

    assert status == 2, output
    assert f"borne: enrolment refused: {said}" in output
    if situation in ("used", "expired", "forged"):
        assert (
            f"Ask for a new code: borne hub enrol-code --config HUB.toml --store {STORE}" in output
        )
    if situation == "expired":
        assert code.expires_at.astimezone().strftime("%Y-%m-%d %H:%M") in output
    assert_nothing_installed(kiosk, before)


def test_a_code_for_another_hub_is_refused_before_its_token_is_sent(
    hub: EnrolHub, kiosk: Path
) -> None:
    code = dataclasses.replace(hub.issue(STORE), ca_sha256=Authority.create().sha256)
    before = kiosk.read_text()

    status, output = enrol_cli(code.text(), kiosk)

    assert status == 2, output
    assert "borne: enrolment refused: the hub's CA does not match the code" in output
    assert hub.requests == ["GET /v1/ca"]
    assert_nothing_installed(kiosk, before)


def test_a_malformed_code_says_what_is_wrong(hub: EnrolHub, kiosk: Path) -> None:
    text = hub.issue(STORE).text().replace("store=", "shop=")
    before = kiosk.read_text()

    status, output = enrol_cli(text, kiosk)

    assert status == 2
    assert "borne: not an enrolment code: unknown field 'shop'" in output
    assert hub.requests == []
    assert_nothing_installed(kiosk, before)


def test_a_hub_that_cannot_be_reached_exits_1_naming_it(hub: EnrolHub, kiosk: Path) -> None:
    port = free_port()
    code = dataclasses.replace(hub.issue(STORE), hub_url=f"https://127.0.0.1:{port}")

    status, output = enrol_cli(code.text(), kiosk)

    assert status == 1, output
    assert f"the hub at https://127.0.0.1:{port} cannot be reached (connection refused)" in output


def test_a_lost_answer_is_asked_again_and_gives_the_same_certificate(
    hub: EnrolHub, kiosk: Path
) -> None:
    code = hub.issue(STORE)
    hub.lose_next_answer = True
    with pytest.raises(HubUnreachable):
        enrol(code, kiosk.parent)
    assert len(hub.issued) == 1  # the hub did enrol the kiosk

    enrolment = enrol(code, kiosk.parent)
    install_enrolment(enrolment, kiosk.parent, kiosk)

    assert x509.load_pem_x509_certificate(enrolment.certificate_pem.encode()) == hub.issued[0]
    assert len(hub.issued) == 1
    assert load_config(kiosk, environ={}).device.device_id == f"{STORE}-k01"


def test_a_reset_kiosk_enrols_again_with_a_new_key(hub: EnrolHub, kiosk: Path) -> None:
    folder = kiosk.parent
    status, output = enrol_cli(hub.issue(STORE, device="kiosk-07").text(), kiosk)
    assert status == 0, output
    first_key = (folder / "device.key").read_bytes()

    status, output = enrol_cli("", kiosk, stdin=hub.issue(STORE, device="kiosk-07").text() + "\n")

    assert status == 0, output
    config = load_config(kiosk, environ={})
    assert config.device.device_id == "kiosk-07"
    key = load_pem_private_key((folder / "device.key").read_bytes(), password=None)
    certificate = x509.load_pem_x509_certificate((folder / "device.pem").read_bytes())
    assert (folder / "device.key").read_bytes() != first_key
    assert certificate == hub.issued[1]
    assert certificate.public_key() == key.public_key()
    assert mode(folder / "device.key") == 0o600
    assert {path.name for path in folder.iterdir()} == INSTALLED | {kiosk.name}


def test_a_configuration_the_kiosk_would_refuse_is_left_alone_and_can_be_fixed(
    hub: EnrolHub, kiosk: Path
) -> None:
    code = hub.issue(STORE)
    kiosk.write_text(kiosk.read_text() + "\n[session]\nidle_timeout = -5\n")
    before = kiosk.read_text()

    status, output = enrol_cli(code.text(), kiosk)

    assert status == 2, output
    assert "session.idle_timeout" in output
    assert_nothing_installed(kiosk, before)
    # Fixed by the installer, the same code finishes the enrolment (same key, same answer).
    kiosk.write_text(before.replace("idle_timeout = -5", "idle_timeout = 90.0"))
    status, output = enrol_cli(code.text(), kiosk)
    assert status == 0, output
    assert load_config(kiosk, environ={}).session.idle_timeout == 90.0
    assert len(hub.issued) == 1


def signed_for_another_key(answer: Answer) -> Answer:
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    return replace_certificate(answer, Authority.create().sign(other, "x"), "other key")


def replace_certificate(answer: Answer, certificate: x509.Certificate, _: str) -> Answer:
    document = dict(answer.document)
    document["certificate"] = certificate.public_bytes(Encoding.PEM).decode()
    return Answer(answer.status, document)


@pytest.mark.parametrize(
    ("tamper", "problem"),
    [
        (signed_for_another_key, "the certificate is not for this kiosk's key"),
        (lambda answer: b"{" + b" " * 300_000 + b"}", "more than 262144 bytes"),
        (lambda answer: b"[]", "the answer is not a JSON object"),
        (
            lambda answer: Answer(200, {**answer.document, "store_id": "LYON-02"}),
            "the hub enrolled store 'LYON-02', not the code's 'PARIS-01'",
        ),
    ],
)
def test_an_answer_the_kiosk_cannot_use_installs_nothing(
    hub: EnrolHub, kiosk: Path, tamper: object, problem: str
) -> None:
    hub.tamper = tamper  # type: ignore[assignment]

    with pytest.raises(EnrolFailed) as failed:
        enrol(hub.issue(STORE), kiosk.parent)

    assert problem in failed.value.problem
    assert not failed.value.retryable


def test_a_certificate_for_another_device_or_from_another_ca_is_refused(
    hub: EnrolHub, kiosk: Path
) -> None:
    def wrong_cn(answer: Answer) -> Answer:
        pending = load_pem_private_key((kiosk.parent / "device.key.pending").read_bytes(), None)
        assert isinstance(pending, ec.EllipticCurvePrivateKey)
        return replace_certificate(answer, hub.authority.sign(pending.public_key(), "kiosk-99"), "")

    def other_ca(answer: Answer) -> Answer:
        pending = load_pem_private_key((kiosk.parent / "device.key.pending").read_bytes(), None)
        assert isinstance(pending, ec.EllipticCurvePrivateKey)
        certificate = Authority.create().sign(pending.public_key(), answer.document["device_id"])
        return replace_certificate(answer, certificate, "")

    for tamper, problem in (
        (wrong_cn, "is not for device 'PARIS-01-k"),
        (other_ca, "was not signed by the hub's CA"),
    ):
        hub.tamper = tamper
        with pytest.raises(EnrolFailed) as failed:
            enrol(hub.issue(STORE), kiosk.parent)
        assert problem in failed.value.problem


def test_an_answer_that_never_ends_is_given_up(hub: EnrolHub, kiosk: Path) -> None:
    hub.stall_answer = threading.Event()

    with pytest.raises(HubUnreachable) as failed:
        enrol(hub.issue(STORE), kiosk.parent, timeout=1.0)

    assert failed.value.retryable


def test_a_hub_whose_certificate_names_another_host_is_not_trusted(
    tmp_path: Path, kiosk: Path
) -> None:
    folder = tmp_path / "impostor"
    folder.mkdir()
    impostor = EnrolHub(folder, certificate_ip="127.0.0.2")
    with impostor.running() as hub, pytest.raises(HubUnreachable) as failed:
        enrol(hub.issue(STORE), kiosk.parent)
    assert "is not the one its CA certified" in failed.value.problem
    assert impostor.requests == ["GET /v1/ca"]  # the token never left on that connection
