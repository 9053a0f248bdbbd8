"""Loyalty numbers and beacon ids leave the device only as keyed pseudonyms (HMAC-SHA256).

The retailer provisions one secret; each purpose gets its own key derived from it
(HMAC-SHA256 of the secret over a domain label), so a pseudonym made for one purpose
can never be matched against another's: a card's pseudonym says nothing about a phone's
beacon, even if the same digits turned up in both.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from edge.errors import ConfigError

KEY_BYTES = 32
MIN_KEY_BYTES = 16


class Domain(StrEnum):
    """What a pseudonym stands for; one derived key each."""

    CARD = "card"  # loyalty card numbers, however they were read
    BEACON = "beacon"  # the store app's iBeacon ids (major/minor)


def derive_key(secret: bytes, domain: Domain) -> bytes:
    """The key for one purpose, derived from the provisioned secret."""
    return hmac.new(secret, f"borne.pseudonym.v1.{domain}".encode(), hashlib.sha256).digest()


class Pseudonymizer:
    """Maps an identifier to a stable pseudonym under a key.

    The same card gives the same pseudonym on every kiosk of the retailer (so the
    platform can join a shopper's journey), and nothing outside the retailer can
    reverse it: card numbers are short, so a plain hash would be brute-forced.
    """

    def __init__(self, key: bytes) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise ValueError("a pseudonym key needs at least 128 bits")
        self._key = key

    def __call__(self, identifier: str) -> str:
        normalized = "".join(identifier.split()).upper()
        return hmac.new(self._key, normalized.encode(), hashlib.sha256).hexdigest()

    def __repr__(self) -> str:
        return "Pseudonymizer(<key hidden>)"


@dataclass(frozen=True, slots=True)
class Pseudonyms:
    """One pseudonymizer per purpose, all from the retailer's secret."""

    card: Pseudonymizer
    beacon: Pseudonymizer

    @classmethod
    def from_secret(cls, secret: bytes) -> Pseudonyms:
        """Derive every purpose's key from one provisioned secret."""
        if len(secret) < MIN_KEY_BYTES:
            raise ValueError("a pseudonym secret needs at least 128 bits")
        return cls(
            card=Pseudonymizer(derive_key(secret, Domain.CARD)),
            beacon=Pseudonymizer(derive_key(secret, Domain.BEACON)),
        )


def load_secret(configured: str) -> bytes:
    """The retailer's secret from `configured`, a file of hex digits.

    There is no fallback: a kiosk that made up its own key would send pseudonyms that
    match no other kiosk's and no customer the platform knows.
    """
    key_name = "privacy.pseudonym_key_file"
    if not configured:
        raise ConfigError(key_name, "is required: the retailer's pseudonym secret (hex)")
    path = Path(configured)
    try:
        secret = bytes.fromhex(path.read_text(encoding="ascii").strip())
    except FileNotFoundError:
        raise ConfigError(key_name, f"{path} does not exist") from None
    except OSError as error:
        raise ConfigError(key_name, f"{path} cannot be read ({error.strerror})") from None
    except (ValueError, UnicodeDecodeError):
        raise ConfigError(key_name, f"{path} does not hold hex digits") from None
    if len(secret) < MIN_KEY_BYTES:
        raise ConfigError(key_name, f"{path}: a pseudonym secret needs at least 32 hex digits")
    return secret
