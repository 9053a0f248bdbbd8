"""The hub's answer to an enrolment, read by the kiosk: used whole, or refused with a reason."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given
from hypothesis import strategies as st

from edge.enrol.answer import BadAnswer, Enrolment, parse_enrolment, parse_refusal
from edge.lockdown import hash_pin
from tests.enrol_hub import Authority

AUTHORITY = Authority.create()
KIOSK_KEY = ec.generate_private_key(ec.SECP256R1())
COMMAND_KEY = Ed25519PrivateKey.generate().public_key()
PIN_HASH = hash_pin("7391")
ANSWER: dict[str, Any] = {
    "device_id": "kiosk-07",
    "store_id": "PARIS-01",
    "store_name": "Paris Opéra",
    "certificate": AUTHORITY.sign(KIOSK_KEY.public_key(), "kiosk-07")
    .public_bytes(Encoding.PEM)
    .decode(),
    "ca": AUTHORITY.pem.decode(),
    "broker": {"host": "broker.example", "port": 8883},
    "pseudonym_key": "5e" * 32,
    "command_key": COMMAND_KEY.public_bytes(
        Encoding.PEM, PublicFormat.SubjectPublicKeyInfo
    ).decode(),
    "installer_pin_hash": PIN_HASH,
}
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


def read(document: Any, device_id: str = "") -> Enrolment:
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    return parse_enrolment(
        body,
        public_key=KIOSK_KEY.public_key(),
        ca=AUTHORITY.certificate,
        store_id="PARIS-01",
        device_id=device_id,
        hub_url="https://hub.example:8443",
    )


def test_a_whole_answer_is_read() -> None:
    enrolment = read(ANSWER, device_id="kiosk-07")

    assert enrolment.device_id == "kiosk-07"
    assert enrolment.store_name == "Paris Opéra"
    assert (enrolment.broker_host, enrolment.broker_port) == ("broker.example", 8883)
    assert enrolment.installer_pin_hash == PIN_HASH
    assert enrolment.hub_url == "https://hub.example:8443"
    assert "5e5e" not in repr(enrolment)  # the retailer's secret stays out of logs


@given(st.binary(max_size=400))
def test_any_bytes_are_refused_with_a_reason(body: bytes) -> None:
    with pytest.raises(BadAnswer) as refused:
        read(body)
    assert refused.value.problem


# Fields the hub may leave empty: it knows no name for the store, or sets no PIN.
MAY_BE_EMPTY = ("store_name", "installer_pin_hash")


@given(st.sampled_from(sorted(ANSWER)), json_values)
def test_a_field_replaced_by_anything_is_refused_or_still_right(key: str, value: Any) -> None:
    try:
        enrolment = read({**ANSWER, key: value})
    except BadAnswer:
        return
    if key in MAY_BE_EMPTY and value == "":
        assert getattr(enrolment, key) == ""  # a store with no name, no installer PIN
        return
    assert enrolment == read(ANSWER)  # only an equal value may pass


@given(st.sampled_from(sorted(ANSWER)))
def test_a_missing_field_is_refused(key: str) -> None:
    document = {name: value for name, value in ANSWER.items() if name != key}
    with pytest.raises(BadAnswer, match=key.split("_")[0]):
        read(document)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"device_id": "kiosk-08"}, "the hub named the device 'kiosk-08', not 'kiosk-07'"),
        ({"broker": {"host": "broker.example", "port": True}}, "broker.port is not a port"),
        ({"broker": {"host": "broker example", "port": 8883}}, "broker.host is not a host"),
        ({"installer_pin_hash": "1234"}, "installer_pin_hash is not a hash"),
        ({"pseudonym_key": "5e" * 8}, "pseudonym_key is not 32 to 256 hex digits"),
        ({"store_name": "Paris\x1b[2J"}, "store_name is not a name"),
        ({"ca": Authority.create().pem.decode()}, "the answer's CA is not the one the code names"),
        ({"certificate": ANSWER["certificate"] * 2}, "certificate holds 2 certificates, not one"),
        (
            {
                "command_key": KIOSK_KEY.public_key()
                .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
                .decode()
            },
            "command_key is not an Ed25519 public key",
        ),
    ],
)
def test_a_wrong_field_is_named(change: dict[str, Any], problem: str) -> None:
    with pytest.raises(BadAnswer) as refused:
        read({**ANSWER, **change}, device_id="kiosk-07")
    assert problem in refused.value.problem


def test_an_answer_with_a_field_given_twice_is_refused() -> None:
    body = json.dumps(ANSWER).encode()[:-1] + b', "device_id": "kiosk-99"}'
    with pytest.raises(BadAnswer, match="not JSON"):
        read(body)


@given(st.binary(max_size=300) | json_values.map(lambda value: json.dumps(value).encode()))
def test_any_error_body_is_a_refusal_or_nothing(body: bytes) -> None:
    refusal = parse_refusal(403, body)
    if refusal is not None:
        assert refusal.message.isprintable()


@given(st.text(max_size=400))
def test_the_hubs_words_reach_the_terminal_printable_and_short(message: str) -> None:
    body = json.dumps({"error": "used_code", "message": message}).encode()
    refusal = parse_refusal(409, body)
    assert refusal is not None
    assert refusal.reason == "used_code"
    assert refusal.message.isprintable()
    assert len(refusal.message) <= 300


def test_an_unknown_error_code_is_not_taken_for_a_refusal() -> None:
    assert parse_refusal(403, b'{"error": "teapot", "message": "no"}') is None
