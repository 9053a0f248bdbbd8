"""The clock check: this kiosk's time against the `Date` of the hub's HTTPS answer.

Certificates are refused by a clock far off, and events carry the kiosk's time. The
hub that enrolled the kiosk (`[device] hub_url`) is asked for its CA (`GET /v1/ca`),
trusting only the hub's CA (`[mqtt] ca_file`, written at enrolment). `Date` counts
whole seconds: the hub's time is taken as the middle of its second, and the kiosk's
as the middle of the exchange.
"""

from __future__ import annotations

import asyncio
import http.client
import ssl
import time
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

from edge.doctor import messages as m
from edge.doctor.context import CheckContext, one_decimal, result
from edge.doctor.report import CheckResult, Outcome
from edge.errors import BorneError

WARN_AFTER = 2.0  # seconds off
FAIL_AFTER = 60.0
TIMEOUT = 5.0


class ClockCheckError(BorneError):
    """The hub's time could not be read: unreachable, refused, or no usable `Date`."""


def parse_http_date(text: str) -> float:
    """An HTTP `Date` header (RFC 9110 IMF-fixdate, or the obsolete forms) as Unix time.

    Raises ClockCheckError for anything else, including a date with no time zone.
    """
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        raise ClockCheckError(f"the hub's Date header is not a date: {text[:40]!r}") from None
    if moment.tzinfo is None:
        raise ClockCheckError(f"the hub's Date header has no time zone: {text[:40]!r}")
    try:
        return moment.timestamp()
    except (OverflowError, OSError, ValueError):
        raise ClockCheckError(f"the hub's Date header is out of range: {text[:40]!r}") from None


def hub_time(url: str, ca_file: str, timeout: float = TIMEOUT) -> tuple[float, float]:
    """(the hub's time, the kiosk's time at the same moment) from `GET {url}/v1/ca`."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise ClockCheckError(f"{url!r} is not an https:// address")
    context = ssl.create_default_context(cafile=ca_file or None)
    try:
        connection = http.client.HTTPSConnection(
            parts.hostname, parts.port or 443, timeout=timeout, context=context
        )
        try:
            sent = time.time()
            connection.request("GET", parts.path.rstrip("/") + "/v1/ca")
            response = connection.getresponse()
            received = time.time()
            date = response.getheader("Date")
            response.read()
        finally:
            connection.close()
    except ssl.SSLCertVerificationError as error:
        raise ClockCheckError(f"its certificate is not trusted ({error.verify_message})") from None
    except ConnectionRefusedError:
        raise ClockCheckError("connection refused") from None
    except TimeoutError:
        raise ClockCheckError(f"no answer in {timeout:.0f} s") from None
    except (OSError, http.client.HTTPException) as error:
        raise ClockCheckError(str(error) or type(error).__name__) from None
    if date is None:
        raise ClockCheckError("its answer has no Date header")
    return parse_http_date(date) + 0.5, (sent + received) / 2


async def check_clock(ctx: CheckContext) -> CheckResult:
    """The kiosk's clock is within 2 s of the hub's (fails past a minute)."""
    url = ctx.config.device.hub_url
    if not url:
        return result("clock", Outcome.SKIP, m.CLOCK_NO_HUB)
    try:
        theirs, ours = await asyncio.to_thread(hub_time, url, ctx.config.mqtt.ca_file)
    except ClockCheckError as error:
        return result(
            "clock",
            Outcome.WARN,
            m.CLOCK_UNREACHABLE,
            m.CLOCK_UNREACHABLE_FIX,
            url=url,
            cause=str(error),
        )
    skew = ours - theirs  # positive: the kiosk is ahead
    details = {"skew_seconds": one_decimal(skew)}
    if abs(skew) <= WARN_AFTER:
        return result("clock", Outcome.PASS, m.CLOCK_OK, "", details, skew=one_decimal(abs(skew)))
    outcome = Outcome.WARN if abs(skew) <= FAIL_AFTER else Outcome.FAIL
    return result("clock", outcome, m.CLOCK_OFF, m.CLOCK_OFF_FIX, details, skew=one_decimal(skew))
