"""The hub enrols kiosks: one-time codes, certificates signed over HTTPS, refusals.

A kiosk (its key and CSR made here) talks to the hub's real HTTPS endpoint on loopback;
the hub's clock is the test's, so a code expires without waiting.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import select
import socket
import ssl
import stat
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.enrol.code import EnrolCode
from edge.hub.enrolment.broker_files import BrokerFiles, acl_text
from edge.hub.enrolment.errors import EnrolmentRefused
from edge.hub.enrolment.request import MAX_BODY, parse_enrol_request
from tests.conftest import borne
from tests.hub_enrolment import PSEUDONYM_KEY, Clock, Hub, Kiosk, running_hub

WAIT = 20.0  # seconds before a test gives up on something that should happen


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    with running_hub(tmp_path / "hub") as hub:
        yield hub


def certificate_of(answer: dict[str, object]) -> x509.Certificate:
    return x509.load_pem_x509_certificate(str(answer["certificate"]).encode())


def common_name(certificate: x509.Certificate) -> str:
    return str(certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def code_for(hub: Hub, store: str = "paris-01", device: str = "") -> EnrolCode:
    return hub.enroller.new_code(store, device)


def test_a_kiosk_gets_a_client_certificate_for_its_id_signed_by_the_hub_ca(hub: Hub) -> None:
    kiosk = Kiosk()
    status, answer = hub.enrol(code_for(hub).token, kiosk, "kiosk-07")

    assert status == 200, answer
    certificate = certificate_of(answer)
    certificate.verify_directly_issued_by(hub.ca.certificate)
    assert common_name(certificate) == "kiosk-07"
    usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert certificate.public_key() == kiosk.key.public_key()
    assert answer["device_id"] == "kiosk-07"
    assert answer["store_id"] == "paris-01"
    assert answer["store_name"] == "Paris Rivoli"
    assert answer["ca"] == hub.ca.certificate_pem.decode()
    assert answer["broker"] == {"host": "127.0.0.1", "port": 8883}
    assert answer["pseudonym_key"] == PSEUDONYM_KEY
    assert answer["command_key"] == hub.ca.command_public_pem().decode()
    assert [device.device_id for device in hub.enroller.registry.devices()] == ["kiosk-07"]


def test_the_ca_the_hub_serves_hashes_to_the_codes_fingerprint(hub: Hub) -> None:
    status, body = hub.request("GET", "/v1/ca")

    assert status == 200
    der = x509.load_pem_x509_certificate(body).public_bytes(serialization.Encoding.DER)
    assert hashlib.sha256(der).hexdigest() == code_for(hub).ca_sha256 == hub.ca.sha256


def test_an_expired_code_is_refused(hub: Hub) -> None:
    code = code_for(hub)
    hub.clock.advance(minutes=10, seconds=1)

    status, answer = hub.enrol(code.token, Kiosk())

    assert (status, answer["error"]) == (403, "expired_code")
    assert "expired" in answer["message"]
    assert hub.enroller.registry.devices() == []


def test_a_forged_code_is_refused(hub: Hub) -> None:
    code_for(hub)
    status, answer = hub.enrol("A" * 43, Kiosk())

    assert (status, answer["error"]) == (403, "unknown_code")


def test_a_used_code_enrols_no_other_kiosk(hub: Hub) -> None:
    code = code_for(hub)
    assert hub.enrol(code.token, Kiosk(), "kiosk-07")[0] == 200

    status, answer = hub.enrol(code.token, Kiosk(), "kiosk-07")

    assert (status, answer["error"]) == (409, "used_code")
    status, answer = hub.enrol(code.token, Kiosk(), "kiosk-08")
    assert (status, answer["error"]) == (409, "used_code")


def test_a_kiosk_that_lost_the_answer_gets_the_same_certificate_again(hub: Hub) -> None:
    code, kiosk = code_for(hub), Kiosk()
    first = hub.enrol(code.token, kiosk, "kiosk-07")
    hub.clock.advance(minutes=30)  # the code has expired meanwhile: a retry still works

    again = hub.enrol(code.token, kiosk, "kiosk-07")

    assert first == again
    assert first[0] == 200
    assert hub.enroller.registry.revoked() == []


def test_a_code_naming_a_device_enrols_only_that_device(hub: Hub) -> None:
    code = code_for(hub, device="kiosk-07")

    status, answer = hub.enrol(code.token, Kiosk(), "kiosk-08")
    assert (status, answer["error"]) == (403, "device_mismatch")

    status, answer = hub.enrol(code.token, Kiosk())  # no proposal: the code's device
    assert status == 200
    assert common_name(certificate_of(answer)) == answer["device_id"] == "kiosk-07"


def test_the_hub_names_kiosks_that_propose_no_id(hub: Hub) -> None:
    names = [hub.enrol(code_for(hub).token, Kiosk())[1]["device_id"] for _ in range(2)]

    assert names == ["paris-01-k01", "paris-01-k02"]


def test_a_replaced_kiosk_revokes_the_old_certificate_and_the_acl_follows(tmp_path: Path) -> None:
    broker_dir = tmp_path / "broker"
    with running_hub(tmp_path / "hub") as hub:
        BrokerFiles(broker_dir, hub.ca).write_all(
            hub.enroller.registry,
            broker_host="127.0.0.1",
            broker_port=8883,
            listen="127.0.0.1",
            hub_client_id="hub-1",
            certificate_days=2,
        )
    with running_hub(tmp_path / "hub", broker_dir=broker_dir) as hub:
        old = certificate_of(hub.enrol(code_for(hub, "paris-01").token, Kiosk(), "kiosk-07")[1])
        assert (
            "user kiosk-07\ntopic read borne/v1/stores/paris-01/#"
            in (broker_dir / "acl").read_text()
        )

        # The kiosk is replaced by a new one, in another store, with a new key: the
        # installer asks for a code made for kiosk-07.
        status, answer = hub.enrol(code_for(hub, "lyon-02", "kiosk-07").token, Kiosk())

        assert status == 200
        assert certificate_of(answer).serial_number != old.serial_number
        crl = x509.load_pem_x509_crl((broker_dir / "crl.pem").read_bytes())
        assert crl.is_signature_valid(hub.ca.certificate.public_key())  # type: ignore[arg-type]
        assert [entry.serial_number for entry in crl] == [old.serial_number]
        acl = (broker_dir / "acl").read_text()
        assert "user kiosk-07\ntopic read borne/v1/stores/lyon-02/#" in acl
        assert "paris-01" not in acl


def test_a_code_naming_no_device_cannot_take_over_an_enrolled_kiosk(tmp_path: Path) -> None:
    broker_dir = write_broker_files(tmp_path)
    with running_hub(tmp_path / "hub", broker_dir=broker_dir) as hub:
        assert hub.enrol(code_for(hub, "paris-01").token, Kiosk(), "kiosk-07")[0] == 200

        # Another store's code, and a kiosk proposing the enrolled kiosk's id.
        status, answer = hub.enrol(code_for(hub, "lyon-02").token, Kiosk(), "kiosk-07")

        assert (status, answer["error"]) == (409, "device_taken")
        assert "borne hub enrol-code --device kiosk-07" in answer["message"]
        assert hub.enroller.registry.revoked() == []
        assert hub.enroller.registry.store_of("kiosk-07") == "paris-01"
        assert [entry.serial_number for entry in crl_of(broker_dir)] == []


@pytest.mark.parametrize("name", ["hub-1", "borne-hub-shop", "BORNE-HUB-x", "hub-config-id"])
def test_no_kiosk_may_take_the_hubs_broker_name(tmp_path: Path, name: str) -> None:
    broker_dir = write_broker_files(tmp_path)  # hub.pem's CN: hub-1
    with running_hub(tmp_path / "hub", broker_dir=broker_dir, hub_client_id="hub-config-id") as hub:
        for code in (code_for(hub), code_for(hub, device=name)):
            status, answer = hub.enrol(code.token, Kiosk(), name)

            assert (status, answer["error"]) == (400, "bad_request")
            assert "reserved for the hub" in answer["message"]
        assert hub.enroller.registry.devices() == []
    assert "user hub-1\ntopic readwrite borne/#" in (broker_dir / "acl").read_text()


def test_the_acl_gives_no_device_named_like_a_hub_the_hubs_rights() -> None:
    acl = acl_text("hub-1", {"hub-1": "paris-01", "borne-hub-x": "paris-01", "k-1": "paris-01"})

    users = [line for line in acl.splitlines() if line.startswith("user ")]
    assert users == ["user hub-1", "user k-1"]


def write_broker_files(tmp_path: Path) -> Path:
    """broker-config's files for a hub whose broker name is hub-1."""
    broker_dir = tmp_path / "broker"
    with running_hub(tmp_path / "hub") as hub:
        BrokerFiles(broker_dir, hub.ca).write_all(
            hub.enroller.registry,
            broker_host="127.0.0.1",
            broker_port=8883,
            listen="127.0.0.1",
            hub_client_id="hub-1",
            certificate_days=2,
        )
    return broker_dir


def crl_of(broker_dir: Path) -> x509.CertificateRevocationList:
    return x509.load_pem_x509_crl((broker_dir / "crl.pem").read_bytes())


def crl_until(broker_dir: Path) -> datetime:
    """When the broker's CRL expires (and OpenSSL then refuses every kiosk)."""
    until = crl_of(broker_dir).next_update_utc
    assert until is not None
    return until


HOSTILE_BODIES = [
    (b"not json", "not a JSON document"),
    (b"[1, 2]", "not a JSON object"),
    (b'{"token": 7, "csr": ""}', "'token' must be a string"),
    (b'{"device_id": "kiosk-07"}', "'token' is missing"),
    (b"\xff\xfe", "not UTF-8"),
]


@pytest.mark.parametrize(("body", "message"), HOSTILE_BODIES)
def test_hostile_bodies_are_refused_and_store_nothing(hub: Hub, body: bytes, message: str) -> None:
    code = code_for(hub)

    status, answer = hub.request("POST", "/v1/enrol", body)

    assert status == 400
    assert json.loads(answer)["error"] == "bad_request"
    assert message in json.loads(answer)["message"]
    assert hub.enrol(code.token, Kiosk())[0] == 200  # the code is still unused


def test_a_huge_body_is_refused(hub: Hub) -> None:
    status, answer = hub.request("POST", "/v1/enrol", b" " * (MAX_BODY + 1))

    assert status == 400
    assert "over 65536 bytes" in json.loads(answer)["message"]


def test_a_csr_signed_by_another_key_is_refused(hub: Hub) -> None:
    code = code_for(hub)
    honest, thief = Kiosk(), Kiosk()
    # The thief's public key in a CSR signed by someone else: no proof of possession.
    csr = x509.load_pem_x509_csr(honest.csr().encode())
    forged = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(csr.subject)
        .sign(honest.key, hashes.SHA256())
        .public_bytes(serialization.Encoding.DER)
    )
    honest_key = honest.key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    thief_key = thief.key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert honest_key in forged
    tampered = forged.replace(honest_key, thief_key)
    pem = x509.load_der_x509_csr(tampered).public_bytes(serialization.Encoding.PEM).decode()
    body = json.dumps({"token": code.token, "device_id": "", "csr": pem}).encode()

    status, answer = hub.request("POST", "/v1/enrol", body)

    assert (status, json.loads(answer)["error"]) == (400, "bad_csr")
    assert "signature" in json.loads(answer)["message"]
    assert hub.enroller.registry.devices() == []


def test_a_csr_with_a_key_the_hub_does_not_sign_is_refused(hub: Hub) -> None:
    code = code_for(hub)
    kiosk = Kiosk(ec.generate_private_key(ec.SECP521R1()))

    status, answer = hub.enrol(code.token, kiosk)

    assert (status, answer["error"]) == (400, "bad_csr")


# Bodies an attacker may send: random bytes, JSON of any shape, near-valid requests.
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=12,
)
_NEAR_VALID = st.fixed_dictionaries(
    {"token": st.text(max_size=60) | _JSON, "csr": st.text(max_size=200) | _JSON},
    optional={"device_id": st.text(max_size=70) | _JSON},
)


@settings(max_examples=300, deadline=None)
@given(
    st.binary(max_size=200)
    | _JSON.map(json.dumps).map(str.encode)
    | _NEAR_VALID.map(lambda document: json.dumps(document).encode())
)
def test_the_request_parser_refuses_anything_malformed_with_a_typed_error(body: bytes) -> None:
    with pytest.raises(EnrolmentRefused) as refused:
        parse_enrol_request(body)

    assert refused.value.code in ("bad_request", "bad_csr")
    assert refused.value.http_status == 400
    assert refused.value.message


def test_the_ca_keys_are_private_and_the_ca_is_the_same_at_the_next_start(tmp_path: Path) -> None:
    with running_hub(tmp_path / "hub") as hub:
        first = hub.ca.sha256
    with running_hub(tmp_path / "hub", clock=Clock()) as hub:
        assert hub.ca.sha256 == first
    for name in ("ca.key", "command.key", "https.key"):
        assert stat.S_IMODE((tmp_path / "hub" / "ca" / name).stat().st_mode) == 0o600


def test_a_client_dripping_bytes_is_cut_at_the_deadline_and_others_are_served(
    tmp_path: Path,
) -> None:
    with running_hub(tmp_path / "hub", deadline=2.0) as hub:
        drip = hub.trust().wrap_socket(
            socket.create_connection(("127.0.0.1", hub.server.port), timeout=WAIT),
            server_hostname="127.0.0.1",
        )
        drip.sendall(b"POST /v1/enrol HTTP/1.1\r\nHost: 127.0.0.1\r\n")

        # Every byte comes well within the per-read timeout: only a total deadline ends it.
        closed_after = drip_until_closed(drip, hub, every=0.2, give_up=WAIT)

        assert closed_after is not None, f"the dripping connection was open after {WAIT} s"
        drip.close()


def drip_until_closed(
    connection: ssl.SSLSocket, hub: Hub, *, every: float, give_up: float
) -> float | None:
    """Send a header byte every `every` seconds, checking that the hub answers another
    client meanwhile; the seconds until the hub closed the connection (None: still open
    at `give_up`)."""
    started = time.monotonic()
    while time.monotonic() - started < give_up:
        assert hub.request("GET", "/v1/ca")[0] == 200  # the drip starves no one
        try:
            connection.sendall(b"X")
            readable, _, _ = select.select([connection], [], [], every)
            if readable and connection.recv(1024) == b"":
                return time.monotonic() - started
        except OSError:  # reset, or a TLS alert: closed all the same
            return time.monotonic() - started
    return None


def test_connections_over_the_cap_are_closed_at_once(tmp_path: Path) -> None:
    with running_hub(tmp_path / "hub", max_connections=2) as hub:
        idle = [socket.create_connection(("127.0.0.1", hub.server.port)) for _ in range(2)]
        third = socket.create_connection(("127.0.0.1", hub.server.port), timeout=WAIT)

        assert closed_by_peer(third)
        for connection in (third, *idle):
            connection.close()
        # Their slots are free again once the hub has seen them go.
        assert answered_within(hub, WAIT) == 200


def closed_by_peer(connection: socket.socket) -> bool:
    try:
        return connection.recv(1024) == b""
    except ConnectionResetError:
        return True


def answered_within(hub: Hub, seconds: float) -> int:
    deadline = time.monotonic() + seconds
    while True:
        try:
            return hub.request("GET", "/v1/ca")[0]
        except (OSError, http.client.HTTPException):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_a_failed_broker_reload_is_shown_until_a_reload_succeeds(tmp_path: Path) -> None:
    broker_dir = write_broker_files(tmp_path)
    config = tmp_path / "hub.toml"
    config.write_text(f'[store]\ndata_dir = "{tmp_path / "hub"}"\n')
    failing = ("sh", "-c", "echo 'Failed to reload mosquitto.service' >&2; exit 4")
    with running_hub(tmp_path / "hub", broker_dir=broker_dir, broker_reload=failing) as hub:
        assert hub.enrol(code_for(hub).token, Kiosk(), "kiosk-07")[0] == 200

    listed = borne("hub", "enrolled", "--config", str(config))
    as_json = borne("hub", "enrolled", "--config", str(config), "--json")

    assert "The broker reload failed at" in listed.stdout
    assert "exited 4: Failed to reload mosquitto.service" in listed.stdout
    failure = json.loads(as_json.stdout.splitlines()[0])["broker_reload_failed"]
    assert "exited 4: Failed to reload mosquitto.service" in failure["problem"]
    assert json.loads(as_json.stdout.splitlines()[1])["device_id"] == "kiosk-07"

    with running_hub(tmp_path / "hub", broker_dir=broker_dir, broker_reload=("true",)):
        pass  # it reloads the broker as it starts

    assert "reload failed" not in borne("hub", "enrolled", "--config", str(config)).stdout
    listed_json = borne("hub", "enrolled", "--config", str(config), "--json").stdout
    assert [json.loads(line)["device_id"] for line in listed_json.splitlines()] == ["kiosk-07"]


def test_the_crl_is_written_afresh_when_the_hub_starts_and_every_day(tmp_path: Path) -> None:
    broker_dir = write_broker_files(tmp_path)
    written = crl_until(broker_dir)
    clock = Clock()
    clock.advance(days=300)  # the hub was stopped for months: its CRL nears its end

    with running_hub(tmp_path / "hub", broker_dir=broker_dir, clock=clock, upkeep_every=0.2):
        at_start = crl_until(broker_dir)
        assert at_start >= written + timedelta(days=300)
        clock.advance(days=1)  # a day of serving later
        deadline = time.monotonic() + WAIT
        while crl_until(broker_dir) < at_start + timedelta(days=1):
            assert time.monotonic() < deadline, "the CRL was not written again"
            time.sleep(0.05)
