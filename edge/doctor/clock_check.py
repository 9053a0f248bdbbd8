"""The clock check: this kiosk's time against the `Date` of the hub's HTTPS answer.

Certificates are refused by a clock far off, and events carry the kiosk's time. The
hub that enrolled the kiosk (`[device] hub_url`) is asked for its CA (`GET /v1/ca`),
trusting only the hub's CA (`[mqtt] ca_file`, written at enrolment). `Date` counts
whole seconds: the hub's time is taken as the middle of its second, and the kiosk's
as the middle of the exchange.

A clock far enough off refuses the hub's certificate itself (not yet valid, or
expired, by the kiosk's time): then the hub's `Date` is read again over a connection
that does not verify it, for this diagnosis only (nothing is sent but the request,
nothing read but the date), and the skew is reported as the failure it is.
"""

from __future__ import annotations

import asyncio
import http.client
import ssl
import time
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

from edge.doctor import messages as m
from edge.doctor.context import CheckContext, human_age, one_decimal, result
from edge.doctor.report import CheckResult, Outcome
from edge.errors import BorneError

WARN_AFTER = 2.0  # seconds off
FAIL_AFTER = 60.0
TIMEOUT = 5.0


class ClockCheckError(BorneError):
    """The hub's time could not be read: unreachable, refused, or no usable `Date`."""


class CertificateDatesError(ClockCheckError):
    """The hub's certificate (or its CA's) is outside its dates by this kiosk's clock."""


# OpenSSL's X509_V_ERR_CERT_NOT_YET_VALID and X509_V_ERR_CERT_HAS_EXPIRED.
DATE_ERRORS = frozenset({9, 10})


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


def hub_time(
    url: str, ca_file: str, timeout: float = TIMEOUT, *, verify: bool = True
) -> tuple[float, float]:
    """(the hub's time, the kiosk's time at the same moment) from `GET {url}/v1/ca`.

    Raises CertificateDatesError when the hub's certificate is refused for its dates;
    `verify=False` trusts any certificate (only to read the date, see the module).
    """
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise ClockCheckError(f"{url!r} is not an https:// address")
    context = ssl.create_default_context(cafile=ca_file or None)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
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
        if error.verify_code in DATE_ERRORS:
            raise CertificateDatesError(
                f"its certificate is refused by this clock ({error.verify_message})"
            ) from None
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
    except CertificateDatesError as error:
        return await _certificate_dates(url, ctx.config.mqtt.ca_file, error)
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


async def _certificate_dates(url: str, ca_file: str, refused: CertificateDatesError) -> CheckResult:
    """The hub's certificate was refused for its dates: the clock far off (a failure:
    no certificate is accepted), or, with the clock right, the certificate out of date."""
    try:
        theirs, ours = await asyncio.to_thread(hub_time, url, ca_file, verify=False)
    except ClockCheckError:
        return result(
            "clock",
            Outcome.WARN,
            m.CLOCK_UNREACHABLE,
            m.CLOCK_UNREACHABLE_FIX,
            url=url,
            cause=str(refused),
        )
    skew = ours - theirs
    details = {"skew_seconds": one_decimal(skew), "hub_certificate": str(refused)}
    if abs(skew) <= WARN_AFTER:
        return result(
            "clock",
            Outcome.WARN,
            m.CLOCK_HUB_CERTIFICATE,
            m.CLOCK_HUB_CERTIFICATE_FIX,
            details,
            skew=one_decimal(abs(skew)),
            cause=str(refused),
        )
    summary = m.CLOCK_BEHIND_CERTIFICATES if skew < 0 else m.CLOCK_AHEAD_CERTIFICATES
    return result(
        "clock",
        Outcome.FAIL,
        summary,
        m.CLOCK_CERTIFICATES_FIX,
        details,
        skew=one_decimal(skew),
        off=human_age(abs(skew)),
    )
