"""A kiosk runs a platform command only when the hub signed it for this kiosk, now, once.

The checks are driven with real Ed25519 keys and the real nonce ledger on disk; the
receiver runs a recording handler, so "nothing run" is seen, not assumed. The parser
of the outside input is fuzzed.
"""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.commands.handlers import command_receiver
from edge.commands.nonces import NonceLedger
from edge.commands.receiver import EXECUTED, REFUSED, CommandReceiver
from edge.commands.send import new_command
from edge.commands.verify import CommandVerifier, load_verify_key
from edge.commands.wire import (
    MAX_PAYLOAD,
    Command,
    CommandRefused,
    Refusal,
    command_topic,
    open_envelope,
    parse_command,
    sign_command,
)
from edge.config import Config
from edge.errors import ConfigError
from edge.events import EventDraft

DEVICE = "kiosk-07"
NOW = 1_780_000_000.0
HUB_KEY = Ed25519PrivateKey.generate()
TOPIC = command_topic(DEVICE, "resync")


def _command(**changes: Any) -> Command:
    fields: dict[str, Any] = {
        "name": "resync",
        "device": DEVICE,
        "issued_at": int(NOW),
        "expires_at": int(NOW) + 300,
        "nonce": "n0nce-0123456789abcdef",
        "args": {},
    } | changes
    return Command(**fields)


def _verifier(tmp_path: Path, *, now: float = NOW) -> CommandVerifier:
    ledger = NonceLedger(tmp_path / "nonces.sqlite")
    return CommandVerifier(HUB_KEY.public_key(), DEVICE, ledger, clock=lambda: now)


def _refusal(verifier: CommandVerifier, payload: bytes, topic: str = TOPIC) -> Refusal:
    with pytest.raises(CommandRefused) as refused:
        verifier.verify(topic, payload)
    return refused.value.reason


def test_a_command_signed_for_this_kiosk_passes_once(tmp_path: Path) -> None:
    payload = sign_command(_command(), HUB_KEY)
    assert _verifier(tmp_path).verify(TOPIC, payload) == _command()
    assert _refusal(_verifier(tmp_path), payload) is Refusal.REPLAYED


def test_a_replay_after_a_reboot_is_refused(tmp_path: Path) -> None:
    payload = sign_command(_command(), HUB_KEY)
    _verifier(tmp_path).verify(TOPIC, payload)
    rebooted = _verifier(tmp_path, now=NOW + 60)  # a new process, the same ledger on disk
    assert _refusal(rebooted, payload) is Refusal.REPLAYED


@pytest.mark.parametrize(
    ("payload", "topic", "reason"),
    [
        (sign_command(_command(), Ed25519PrivateKey.generate()), TOPIC, Refusal.BAD_SIGNATURE),
        (sign_command(_command(device="kiosk-99"), HUB_KEY), TOPIC, Refusal.OTHER_DEVICE),
        (sign_command(_command(), HUB_KEY), command_topic(DEVICE, "doctor"), Refusal.WRONG_NAME),
        (
            sign_command(_command(issued_at=int(NOW) - 600, expires_at=int(NOW) - 1), HUB_KEY),
            TOPIC,
            Refusal.EXPIRED,
        ),
        (
            sign_command(_command(issued_at=int(NOW) + 3600, expires_at=int(NOW) + 3900), HUB_KEY),
            TOPIC,
            Refusal.FROM_THE_FUTURE,
        ),
        (
            sign_command(_command(expires_at=int(NOW) + 30 * 86_400), HUB_KEY),
            TOPIC,
            Refusal.TOO_LONG_LIVED,
        ),
        (
            sign_command(_command(args={"pad": "x" * MAX_PAYLOAD}), HUB_KEY),
            TOPIC,
            Refusal.OVERSIZED,
        ),
        (b"resync please", TOPIC, Refusal.MALFORMED),
        (b'{"command": "!!", "signature": ""}', TOPIC, Refusal.MALFORMED),
    ],
    ids=[
        "forged",
        "other-device",
        "other-name",
        "expired",
        "future",
        "month-long",
        "oversized",
        "not-json",
        "not-base64",
    ],
)
def test_a_command_that_fails_a_check_is_refused_with_its_reason(
    tmp_path: Path, payload: bytes, topic: str, reason: Refusal
) -> None:
    assert _refusal(_verifier(tmp_path), payload, topic) is reason


def test_signed_bytes_changed_on_the_way_are_refused(tmp_path: Path) -> None:
    document = json.loads(sign_command(_command(), HUB_KEY))
    other = sign_command(_command(name="doctor"), HUB_KEY)
    document["command"] = json.loads(other)["command"]  # another command, this signature
    assert _refusal(_verifier(tmp_path), json.dumps(document).encode()) is Refusal.BAD_SIGNATURE


def test_a_signed_document_that_is_not_a_command_is_malformed(tmp_path: Path) -> None:
    signed = json.dumps({"name": "resync", "device": DEVICE}).encode()
    payload = json.dumps(
        {
            "command": base64.b64encode(signed).decode(),
            "signature": base64.b64encode(HUB_KEY.sign(signed)).decode(),
        }
    ).encode()
    assert _refusal(_verifier(tmp_path), payload) is Refusal.MALFORMED


def test_without_a_verify_key_every_command_is_refused(tmp_path: Path) -> None:
    verifier = CommandVerifier(None, DEVICE, NonceLedger(tmp_path / "n.sqlite"))
    assert _refusal(verifier, sign_command(_command(), HUB_KEY)) is Refusal.NO_KEY


def test_a_verify_key_file_that_is_not_an_ed25519_pem_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "command.pub"
    bad.write_text("not a key\n")
    with pytest.raises(ConfigError, match=r"commands\.verify_key_file"):
        load_verify_key(str(bad))
    good = tmp_path / "good.pub"
    good.write_bytes(
        HUB_KEY.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    assert load_verify_key(str(good)) == HUB_KEY.public_key()


class _Recorder:
    def __init__(self) -> None:
        self.ran: list[Command] = []
        self.events: list[EventDraft] = []

    async def handler(self, command: Command) -> dict[str, Any]:
        self.ran.append(command)
        return {"streams_asked": 6}

    async def record(self, draft: EventDraft) -> None:
        self.events.append(draft)


def test_the_receiver_runs_the_good_command_only_and_reports_every_refusal(
    tmp_path: Path,
) -> None:
    recorder = _Recorder()
    receiver = CommandReceiver(
        DEVICE, _verifier(tmp_path), {"resync": recorder.handler}, record=recorder.record
    )
    good = sign_command(_command(), HUB_KEY)
    messages = [
        (TOPIC, sign_command(_command(nonce="forged-0123456789ab"), Ed25519PrivateKey.generate())),
        (TOPIC, good),
        (TOPIC, good),  # replayed
        (
            command_topic(DEVICE, "reboot"),
            sign_command(_command(name="reboot", nonce="reboot-0123456789abc"), HUB_KEY),
        ),
        (TOPIC, b"\xff" * 10),
    ]

    async def deliver() -> None:
        for topic, payload in messages:
            receiver.received(topic, payload, None)
        await receiver.idle()

    asyncio.run(deliver())
    assert recorder.ran == [_command()]
    assert [(e.type, e.data.get("reason") or e.data["outcome"]) for e in recorder.events] == [
        (REFUSED, "bad_signature"),
        (EXECUTED, "done"),
        (REFUSED, "replayed"),
        (REFUSED, "unknown_command"),
        (REFUSED, "malformed"),
    ]
    assert recorder.events[1].data["result"] == {"streams_asked": 6}
    assert receiver.counters.executed == 1
    assert sum(receiver.counters.refused.values()) == 4


def test_a_kiosk_without_the_platforms_streams_refuses_resync(tmp_path: Path) -> None:
    key_file = tmp_path / "command.pub"
    key_file.write_bytes(
        HUB_KEY.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    config = Config.model_validate(
        {
            "device": {"store_id": "paris-01", "device_id": DEVICE},
            "storage": {"data_dir": str(tmp_path)},
            "commands": {"verify_key_file": str(key_file)},
        }
    )
    recorder = _Recorder()
    receiver = command_receiver(config, downlink=None, record=recorder.record)
    fresh = new_command("resync", DEVICE, lifetime=60)

    async def deliver() -> None:
        receiver.received(TOPIC, sign_command(fresh, HUB_KEY), None)
        await receiver.idle()

    asyncio.run(deliver())
    assert [e.data["reason"] for e in recorder.events] == ["unknown_command"]


# --- the parser of outside input ------------------------------------------------------


@given(payload=st.binary(max_size=MAX_PAYLOAD + 64))
def test_any_bytes_open_as_an_envelope_or_are_refused(payload: bytes) -> None:
    reason = None
    try:
        open_envelope(payload)
    except CommandRefused as refused:
        reason = refused.reason
    assert reason in (None, Refusal.MALFORMED, Refusal.OVERSIZED)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


@given(
    document=st.dictionaries(
        st.sampled_from(["name", "device", "issued_at", "expires_at", "nonce", "args", "x"]),
        _json,
    )
)
def test_any_json_parses_as_a_command_or_is_refused_as_malformed(document: Any) -> None:
    signed = json.dumps(document).encode()
    try:
        command = parse_command(signed)
    except CommandRefused as refused:
        assert refused.reason is Refusal.MALFORMED  # noqa: PT017 - the one reason allowed
        return
    # Compared as text: a NaN would differ from itself, but the parser refuses it.
    assert json.dumps(command.as_json(), sort_keys=True) == json.dumps(document, sort_keys=True)


@settings(max_examples=50)
@given(
    name=st.from_regex(r"[a-z][a-z0-9-]{0,31}", fullmatch=True),
    nonce=st.from_regex(r"[A-Za-z0-9_-]{16,64}", fullmatch=True),
    lifetime=st.integers(1, 86_400),
    args=st.dictionaries(st.text(max_size=10), st.integers() | st.text(max_size=10), max_size=5),
)
def test_every_command_the_hub_signs_reads_back_the_same(
    name: str, nonce: str, lifetime: int, args: dict[str, Any]
) -> None:
    command = Command(name, DEVICE, int(NOW), int(NOW) + lifetime, nonce, args)
    signed, signature = open_envelope(sign_command(command, HUB_KEY))
    HUB_KEY.public_key().verify(signature, signed)
    assert parse_command(signed) == command
