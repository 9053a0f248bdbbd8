"""Logging with shopper data redacted at the boundary.

Logs are shared with installers and support. Nothing Borne logs on purpose holds a
card number, but a library's message might (an NDEF dump, a decoder's text): every
record passes through the redactor before any handler sees it.
"""

from __future__ import annotations

import logging
import re

# Card numbers (8-19 digits, maybe spaced in groups of four) and tag UIDs.
_CARD = re.compile(r"(?<![\w/])(?:\d[ -]?){7,18}\d(?![\w/])")
_UID = re.compile(r"\buid:[0-9a-fA-F]{8,20}\b")


def redact(text: str) -> str:
    """Mask what could identify a shopper, keeping the last two digits for support."""
    text = _UID.sub("uid:<redacted>", text)
    return _CARD.sub(lambda m: "*" * 6 + re.sub(r"\D", "", m.group())[-2:], text)


class RedactingFilter(logging.Filter):
    """Rewrites each record's message with `redact` (arguments merged first)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


class QuietLibraries(logging.Filter):
    """Drops nfcpy's INFO chatter (a line per reader search; nfcpy forces its level on import)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or not record.name.startswith("nfc.")


def setup_logging(level: int = logging.INFO) -> None:
    """Log to stderr through the redactor."""
    handler = logging.StreamHandler()
    handler.addFilter(QuietLibraries())
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
