"""The kiosk's lock: only a staff PIN closes the fullscreen kiosk.

The PIN is never stored: the configuration holds a salted PBKDF2-SHA256 hash
(`borne pin-hash` makes one). Guessing is slowed down: after `MAX_FAILURES` wrong
PINs in a row the lock refuses every PIN for `LOCKOUT_SECONDS`.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from edge.errors import ConfigError

ITERATIONS = 200_000
_HASH_FORMAT = re.compile(r"^pbkdf2-sha256\$(\d{4,7})\$([0-9a-f]{16,64})\$([0-9a-f]{64})$")
_PIN_FORMAT = re.compile(r"^[0-9]{4,12}$")


def hash_pin(pin: str, *, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    """The configuration value for `pin` (4 to 12 digits)."""
    if not _PIN_FORMAT.match(pin):
        raise ValueError("a staff PIN is 4 to 12 digits")
    salt = os.urandom(16) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), salt, iterations)
    return f"pbkdf2-sha256${iterations}${salt.hex()}${digest.hex()}"


def check_pin_hash(value: str, where: str) -> None:
    """Raise ConfigError unless `value` is empty or a hash made by `hash_pin`."""
    if value and not _HASH_FORMAT.match(value):
        raise ConfigError(where, "must be a hash made by `borne pin-hash` (pbkdf2-sha256$...)")


def pin_matches(pin_hash: str, pin: str) -> bool:
    """Whether `pin` is the PIN behind `pin_hash` (made by `hash_pin`); slow on purpose.

    Raises ValueError when `pin_hash` is not such a hash.
    """
    match = _HASH_FORMAT.match(pin_hash)
    if match is None:
        raise ValueError("not a PIN hash made by hash_pin()")
    iterations, salt, expected = int(match.group(1)), match.group(2), match.group(3)
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), bytes.fromhex(salt), iterations)
    return hmac.compare_digest(digest, bytes.fromhex(expected))


def is_pin_hash(value: str) -> bool:
    """Whether `value` is a hash made by `hash_pin`."""
    return _HASH_FORMAT.match(value) is not None


@dataclass(frozen=True, slots=True)
class Attempt:
    """What the lock said to one PIN."""

    granted: bool
    locked_out: bool  # refused without looking: too many wrong PINs lately


class ExitLock:
    """Checks staff PINs against a configured hash, with a lockout against guessing."""

    MAX_FAILURES = 5
    LOCKOUT_SECONDS = 300.0

    def __init__(self, pin_hash: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        match = _HASH_FORMAT.match(pin_hash)
        if match is None:
            raise ValueError("not a PIN hash made by hash_pin()")
        self._iterations = int(match.group(1))
        self._salt = bytes.fromhex(match.group(2))
        self._digest = bytes.fromhex(match.group(3))
        self._clock = clock
        self._failures = 0
        self._locked_until = 0.0

    def locked_out(self) -> bool:
        """Whether PINs are refused for now, after too many wrong ones."""
        return self._clock() < self._locked_until

    def attempt(self, pin: str) -> Attempt:
        """Check one PIN."""
        if self.locked_out():
            return Attempt(granted=False, locked_out=True)
        digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), self._salt, self._iterations)
        if hmac.compare_digest(digest, self._digest):
            self._failures = 0
            return Attempt(granted=True, locked_out=False)
        self._failures += 1
        if self._failures >= self.MAX_FAILURES:
            self._failures = 0
            self._locked_until = self._clock() + self.LOCKOUT_SECONDS
            return Attempt(granted=False, locked_out=True)
        return Attempt(granted=False, locked_out=False)
