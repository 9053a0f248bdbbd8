"""The enrolment code the installer scans: whatever the camera reads, a code or a clear no."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from urllib.parse import quote

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from edge.enrol.code import CODE_PREFIX, EnrolCode, EnrolCodeError, parse_enrol_code

LAST_SECOND = int(datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp())
HEX = "0123456789abcdef"
URLSAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"

topic_levels = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", fullmatch=True)
hosts = st.one_of(
    st.from_regex(r"[a-z0-9][a-z0-9.-]{0,40}", fullmatch=True),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(lambda address: f"[{address}]"),
)
hub_urls = st.builds(
    lambda host, port: f"https://{host}" + (f":{port}" if port else ""),
    hosts,
    st.one_of(st.none(), st.integers(1, 65535)),
)
codes = st.builds(
    EnrolCode,
    hub_url=hub_urls,
    store_id=topic_levels,
    ca_sha256=st.text(HEX, min_size=64, max_size=64),
    token=st.text(URLSAFE, min_size=22, max_size=128),
    expires_at=st.integers(0, LAST_SECOND).map(lambda second: datetime.fromtimestamp(second, UTC)),
    device_id=st.one_of(st.just(""), topic_levels),
)


def code_text(**fields: str) -> str:
    base = {
        "hub": "https://hub.example:8443",
        "store": "PARIS-01",
        "ca": "ab" * 32,
        "token": "T" * 32,
        "exp": "1800000000",
    }
    base.update(fields)
    return CODE_PREFIX + "&".join(f"{key}={quote(value, safe='')}" for key, value in base.items())


@given(codes)
def test_a_code_reads_back_as_the_hub_printed_it(code: EnrolCode) -> None:
    assert parse_enrol_code(code.text()) == code


@given(codes, st.randoms(use_true_random=False))
def test_the_order_of_the_fields_does_not_matter(code: EnrolCode, shuffler: random.Random) -> None:
    fields = code.text().removeprefix(CODE_PREFIX).split("&")
    shuffler.shuffle(fields)
    assert parse_enrol_code(CODE_PREFIX + "&".join(fields)) == code


@given(st.text(max_size=300))
@example(code_text(exp="999999999999"))  # past the year 9999: once a ValueError
@example(code_text(hub="https://hub.example:0"))
@example(code_text(hub="https://[::1"))
def test_any_text_is_a_code_or_a_clear_refusal(text: str) -> None:
    try:
        code = parse_enrol_code(text)
    except EnrolCodeError as error:
        problem = error.problem
    else:
        assert parse_enrol_code(code.text()) == code
        return
    assert 0 < len(problem) < 120  # a reason, never the hostile text itself


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["hub", "store", "ca", "token", "exp", "device", "x", ""]),
            st.one_of(st.text(max_size=80), st.sampled_from(["https://h:8443", "PARIS-01"])),
        ),
        max_size=8,
    )
)
def test_any_fields_after_the_prefix_are_a_code_or_a_clear_refusal(
    fields: list[tuple[str, str]],
) -> None:
    text = CODE_PREFIX + "&".join(f"{key}={quote(value, safe='')}" for key, value in fields)
    try:
        code = parse_enrol_code(text)
    except EnrolCodeError:
        return
    assert code.hub_url.startswith("https://")
    assert parse_enrol_code(code.text()) == code


@pytest.mark.parametrize(
    ("hub", "problem"),
    [
        ("https://hub.example:0", "field 'hub' has a port out of 1-65535"),
        ("https://hub.example:65536", "field 'hub' is not a URL"),
        ("http://hub.example", "field 'hub' must be an https:// address"),
        ("https://user@hub.example", "field 'hub' must be https://host[:port] only"),
        ("https://hub.example/enrol", "field 'hub' must be https://host[:port] only"),
        ("https://hub example", "field 'hub' has no valid host name"),
    ],
)
def test_a_hub_address_the_kiosk_cannot_reach_is_refused(hub: str, problem: str) -> None:
    with pytest.raises(EnrolCodeError) as refused:
        parse_enrol_code(code_text(hub=hub))
    assert refused.value.problem == problem


def test_a_port_written_with_leading_zeros_is_the_same_hub() -> None:
    assert parse_enrol_code(code_text(hub="https://hub.example:08443")).hub_url == (
        "https://hub.example:8443"
    )


def test_an_expiry_past_the_year_9999_is_refused() -> None:
    with pytest.raises(EnrolCodeError) as refused:
        parse_enrol_code(code_text(exp="999999999999"))
    assert refused.value.problem == "field 'exp' is not a time this kiosk can hold"
