"""Why the hub refuses an enrolment: one typed error per wire code."""

from __future__ import annotations

from edge.enrol.wire import REFUSAL_STATUS
from edge.errors import BorneError

__all__ = ["EnrolmentRefused", "HubCAError"]

# The wire code of each refusal, and the HTTP status it is answered with.
HTTP_STATUS = REFUSAL_STATUS


class EnrolmentRefused(BorneError):
    """The hub refuses this enrolment request; `code` is the wire code, `message` an
    English sentence for the installer (never echoing the request's content)."""

    def __init__(self, code: str, message: str) -> None:
        if code not in HTTP_STATUS:
            raise ValueError(f"unknown refusal code {code!r}")
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        """The HTTP status this refusal is answered with."""
        return HTTP_STATUS[self.code]


class HubCAError(BorneError):
    """The hub's CA folder cannot be used (unreadable, corrupt, keys that do not match)."""
