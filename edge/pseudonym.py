"""Loyalty numbers leave the device only as keyed pseudonyms (HMAC-SHA256)."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path

from edge.errors import ConfigError

log = logging.getLogger(__name__)
KEY_BYTES = 32


class Pseudonymizer:
    """Maps a card number to a stable pseudonym under a per-retailer secret.

    The same card gives the same pseudonym on every kiosk of the retailer (so the
    platform can join a shopper's journey), and nothing outside the retailer can
    reverse it: card numbers are short, so a plain hash would be brute-forced.
    """

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("a pseudonym key needs at least 128 bits")
        self._key = key

    def __call__(self, card_number: str) -> str:
        normalized = "".join(card_number.split()).upper()
        return hmac.new(self._key, normalized.encode(), hashlib.sha256).hexdigest()

    def __repr__(self) -> str:
        return "Pseudonymizer(<key hidden>)"


def load_key(configured: str, data_dir: Path) -> bytes:
    """The retailer's key from `configured` (a file of hex), or a device-local one.

    Without provisioning, a random key is made once and kept in `data_dir`: the
    kiosk still never sends card numbers, but its pseudonyms match no other kiosk's.
    """
    path = Path(configured) if configured else data_dir / "pseudonym.key"
    if path.exists():
        try:
            key = bytes.fromhex(path.read_text().strip())
        except (OSError, ValueError) as error:
            raise ConfigError(str(path), f"is not a readable hex key ({error})") from None
        if len(key) < 16:
            raise ConfigError(str(path), "a pseudonym key needs at least 32 hex digits")
        return key
    if configured:
        raise ConfigError("privacy.pseudonym_key_file", f"{path} does not exist")
    log.warning("no retailer pseudonym key provisioned: using a device-local key")
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(KEY_BYTES)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(key.hex())
    return key
