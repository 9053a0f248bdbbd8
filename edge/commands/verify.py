"""The kiosk's checks of a command, in the order that reads the least untrusted data."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from edge.commands.nonces import NonceLedger
from edge.commands.wire import (
    MAX_LIFETIME,
    Command,
    CommandRefused,
    Refusal,
    check_signature,
    open_envelope,
    parse_command,
    topic_name,
)
from edge.errors import ConfigError

MAX_AHEAD = 300  # seconds a command may be issued ahead of the kiosk's clock


def load_verify_key(path: str) -> Ed25519PublicKey:
    """The hub's command-verification key (PEM); ConfigError naming the key otherwise."""
    where = "commands.verify_key_file"
    try:
        key = load_pem_public_key(Path(path).read_bytes())
    except OSError as error:
        raise ConfigError(where, f"{path!r} cannot be read ({error.strerror})") from None
    except ValueError:
        raise ConfigError(where, f"{path!r} is not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(where, f"{path!r} is not an Ed25519 key")
    return key


class CommandVerifier:
    """Tells a command to run from one to refuse (blocking: the ledger is on disk)."""

    def __init__(
        self,
        key: Ed25519PublicKey | None,
        device_id: str,
        nonces: NonceLedger,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = key  # None: no key was provisioned, every command is refused
        self._device_id = device_id
        self._nonces = nonces
        self._clock = clock

    def verify(self, topic: str, payload: bytes) -> Command:
        """The command to run; CommandRefused with the reason otherwise. A command
        that passes is recorded as used: the same message again is a replay."""
        signed, signature = open_envelope(payload)
        if self._key is None:
            raise CommandRefused(Refusal.NO_KEY, "no [commands] verify_key_file")
        check_signature(signed, signature, self._key)
        command = parse_command(signed)
        if command.device != self._device_id:
            raise CommandRefused(Refusal.OTHER_DEVICE)
        if command.name != topic_name(topic):
            raise CommandRefused(Refusal.WRONG_NAME)
        now = self._clock()
        if command.expires_at <= now:
            raise CommandRefused(Refusal.EXPIRED)
        if command.issued_at > now + MAX_AHEAD:
            raise CommandRefused(Refusal.FROM_THE_FUTURE)
        if not 0 < command.expires_at - command.issued_at <= MAX_LIFETIME:
            raise CommandRefused(Refusal.TOO_LONG_LIVED)
        if not self._nonces.first_use(command.nonce, command.expires_at, now):
            raise CommandRefused(Refusal.REPLAYED)
        return command
