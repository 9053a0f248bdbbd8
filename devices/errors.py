"""The exception root of Borne and the errors raised at the hardware boundary.

The root lives in the lowest layer so that every layer above can catch one type.
Whether a failure is worth retrying is a property of its type (`retryable`), not
something each caller decides.
"""

from __future__ import annotations


class BorneError(Exception):
    """Root of every error Borne raises on purpose."""

    retryable: bool = False


class DeviceError(BorneError):
    """A device is missing or failing; it is reported and retried with backoff."""

    retryable = True

    def __init__(self, device: str, message: str) -> None:
        super().__init__(f"{device}: {message}")
        self.device = device


class InputError(BorneError):
    """Outside input (a barcode, an NDEF record, a downlink message) is malformed.

    Retrying the same input cannot help. The message never contains the raw input,
    which may be shopper data: only its kind and the reason it was refused.
    """

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(f"invalid {kind}: {reason}")
        self.kind = kind
        self.reason = reason
