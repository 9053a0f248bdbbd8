"""Whatever a feed file holds, the importers answer with records or a FeedError, nothing else."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.hub.feeds import FeedError, FeedResult, Money, Product, detect_feed, read_feed

FEEDS = Path(__file__).parent / "data" / "feeds"
SAMPLES = sorted(path.name for path in FEEDS.iterdir())
# BORNE_FUZZ_EXAMPLES=2000 for a longer hunt than the suite does by default.
FUZZ = settings(
    max_examples=int(os.environ.get("BORNE_FUZZ_EXAMPLES", "150")),
    suppress_health_check=[HealthCheck.too_slow],
    deadline=None,
)


@contextmanager
def feed_file(data: bytes) -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "feed"
        path.write_bytes(data)
        yield path


def outcome(path: Path) -> FeedResult | FeedError:
    try:
        return read_feed(path)
    except FeedError as refused:
        return refused


def read_or_refuse(data: bytes) -> FeedResult | None:
    """The feed's result, or None when it was refused with a FeedError naming the file."""
    with feed_file(data) as path:
        result = outcome(path)
        if isinstance(result, FeedError):
            assert result.file == str(path)
            return None
        assert detect_feed(path) is result.kind
        for rejection in result.rejected:
            assert rejection.file == str(path)
            assert rejection.line >= 1
        return result


@FUZZ
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_give_records_or_a_feed_error(data: bytes) -> None:
    read_or_refuse(data)


# Bytes that matter to the formats: tabs, line ends, markup, entities, a BOM, a NUL, JSON.
_TOKENS = [
    b"\t",
    b"\n",
    b"\r\n",
    b"<",
    b">",
    b"&",
    b"&lt;",
    b"]]>",
    b"\xef\xbb\xbf",
    b"\x00",
    b"\xff",
    b" > ",
    b"/",
    b"<!DOCTYPE x>",
    b"<!ENTITY e 'x'>",
    b"-1",
    b"9" * 20,
    b" EUR",
    b"{",
    b"}",
    b'"card": "9250000000017", ',
    b'"points": true, ',
    b"[" * 50,
]


@st.composite
def mutated_samples(draw: st.DrawFn) -> bytes:
    """A real sample feed with a few slices cut, repeated or replaced by meaningful bytes."""
    data = (FEEDS / draw(st.sampled_from(SAMPLES))).read_bytes()
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        start = draw(st.integers(min_value=0, max_value=len(data)))
        end = draw(st.integers(min_value=start, max_value=min(len(data), start + 40)))
        replacement = draw(
            st.one_of(st.sampled_from(_TOKENS), st.just(data[start:end] * 2), st.binary(max_size=8))
        )
        data = data[:start] + replacement + data[end:]
    return data


@FUZZ
@given(mutated_samples())
def test_mutated_real_feeds_give_records_or_a_feed_error(data: bytes) -> None:
    read_or_refuse(data)


cells = st.text(
    alphabet=st.characters(exclude_characters="\t\n\r", exclude_categories=["Cs"]), max_size=30
)


@FUZZ
@given(st.lists(st.lists(cells, min_size=1, max_size=8), max_size=6))
def test_any_product_rows_are_kept_or_rejected_one_by_one(rows: list[list[str]]) -> None:
    header = "id\ttitle\tprice\tsale_price\tgtin\tavailability\tsale_price_effective_date\n"
    text = header + "".join("\t".join(row) + "\n" for row in rows)
    result = read_or_refuse(text.encode("utf-8"))
    assert result is not None  # a known header in UTF-8: never refused whole
    blank = sum(1 for row in rows if not "".join(row).strip())
    assert len(result.records) + len(result.rejected) == len(rows) - blank


@FUZZ
@given(st.integers(min_value=0, max_value=10**12 - 1), st.sampled_from(["EUR", "USD", "CHF"]))
def test_a_written_price_reads_back_as_its_cents(cents: int, currency: str) -> None:
    written = f"{cents // 100}.{cents % 100:02d} {currency}"
    result = read_or_refuse(f"id\ttitle\tprice\nX\tT\t{written}\n".encode())
    assert result is not None
    (product,) = result.records
    assert isinstance(product, Product)
    assert product.price == Money(cents, currency)
