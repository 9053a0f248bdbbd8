"""One-time enrolment tokens: made at random, kept only as their SHA-256."""

from __future__ import annotations

import hashlib
import secrets

__all__ = ["new_token", "token_sha256"]

TOKEN_BYTES = 32  # 256 bits: guessing one within its 10 minutes is hopeless


def new_token() -> str:
    """A fresh single-use token (43 URL-safe characters)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_sha256(token: str) -> str:
    """What the hub stores and looks a token up by: a stolen database enrols no one."""
    return hashlib.sha256(token.encode("ascii")).hexdigest()
