"""Borne's loyalty feed: customers by pseudonym, or by card number keyed at import.

A card number is turned into the pseudonym the kiosks make of the same card, and is
never kept nor reported; without the retailer's key such a file is refused whole. A
bad line is reported with its line and field, never its value, and the rest is read.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.demo import DEMO_CATALOG, DEMO_SECRET
from edge.hub.feeds import (
    CardPseudonym,
    Customer,
    FeedError,
    FeedKind,
    FeedResult,
    LoyaltyOffer,
    detect_feed,
    read_feed,
)
from edge.hub.feeds.customers import MAX_POINTS
from edge.pseudonym import Pseudonyms, load_secret
from tests.conftest import TESTDATA

FEEDS = TESTDATA / "feeds"
CAMILLE = "a6797857962f0e1180da0ac74df5c76f703e1480f58ca2ee9bf9e15e9b3bbc52"
CARD = "9250000000017"  # Camille's demo card (assets/demo-store/loyalty-cards.json)


@pytest.fixture(scope="module")
def demo_key() -> CardPseudonym:
    return Pseudonyms.from_secret(load_secret(str(DEMO_SECRET))).card


def feed(folder: Path, *lines: Any) -> Path:
    """A loyalty feed file: objects written as JSON, strings as they are."""
    path = folder / "customers.jsonl"
    written = [line if isinstance(line, str) else json.dumps(line) for line in lines]
    path.write_text("\n".join(written) + "\n", encoding="utf-8")
    return path


def test_customers_are_read_by_pseudonym_with_their_points_and_offers() -> None:
    path = FEEDS / "customers.jsonl"
    assert detect_feed(path) is FeedKind.CUSTOMERS
    result = read_feed(path)
    assert result.rejected == ()
    camille, mehdi = result.records
    assert camille == Customer(
        pseudonym=CAMILLE,
        first_name="Camille",
        points=1250,
        personalisation=True,
        offers=(
            LoyaltyOffer(
                gtin="03760123450041",
                title={
                    "en": "Double points on kitchenware",
                    "fr": "Vos points doublés sur la cuisine",
                },
            ),
        ),
    )
    # A pseudonym in capitals is the same pseudonym; what a line leaves out has its default.
    assert isinstance(mehdi, Customer)
    assert mehdi.pseudonym == mehdi.pseudonym.lower()
    assert (mehdi.points, mehdi.personalisation, mehdi.offers) == (0, True, ())
    assert "Mehdi" not in repr(mehdi)  # a person's name stays out of logs


def test_a_card_number_becomes_the_pseudonym_the_kiosks_make_of_that_card(
    demo_key: CardPseudonym,
) -> None:
    result = read_feed(FEEDS / "customers-cards.jsonl", card_pseudonym=demo_key)
    assert result.rejected == ()
    known = {
        c["first_name"]: c["pseudonym"] for c in json.loads(DEMO_CATALOG.read_text())["customers"]
    }
    for customer in result.records:
        assert isinstance(customer, Customer)
        # The demo's catalog knows its customers by these same pseudonyms.
        assert customer.pseudonym == known[customer.first_name]
        assert CARD not in repr(customer)


def test_card_numbers_without_the_retailers_key_refuse_the_file_whole(tmp_path: Path) -> None:
    path = feed(
        tmp_path,
        {"pseudonym": CAMILLE, "first_name": "Camille", "points": 1},
        {"card": CARD, "first_name": "Camille", "points": 1},
    )
    with pytest.raises(FeedError) as refused:
        read_feed(path)
    assert (refused.value.file, refused.value.line) == (str(path), 2)
    assert "pseudonym_key_file" in str(refused.value)
    assert CARD not in str(refused.value)


BAD_LINES: list[tuple[Any, str]] = [
    ("{not json", "(line)"),
    ('{"pseudonym": "' + CAMILLE + '", "offers": ' + "[" * 100_000, "(line)"),  # too deep
    ("[1, 2]", "(line)"),
    ({"first_name": "Zoé", "points": 1}, "pseudonym"),
    ({"pseudonym": "abc123", "first_name": "Zoé", "points": 1}, "pseudonym"),
    ({"pseudonym": CAMILLE, "points": 1}, "first_name"),
    ({"pseudonym": CAMILLE, "first_name": "Zoé\u0007", "points": 1}, "first_name"),
    ({"pseudonym": CAMILLE, "first_name": "Zoé", "points": -4}, "points"),
    ({"pseudonym": CAMILLE, "first_name": "Zoé", "points": True}, "points"),
    ({"pseudonym": CAMILLE, "first_name": "Zoé", "points": "12"}, "points"),
    (
        {"pseudonym": CAMILLE, "first_name": "Zoé", "points": 1, "personalisation": "yes"},
        "personalisation",
    ),
    ({"pseudonym": CAMILLE, "first_name": "Zoé", "points": 1, "offers": {}}, "offers"),
    (
        {
            "pseudonym": CAMILLE,
            "first_name": "Zoé",
            "points": 1,
            "offers": [{"gtin": "3760123450042", "title": {"fr": "x"}}],
        },
        "offers[0].gtin",
    ),
    (
        {
            "pseudonym": CAMILLE,
            "first_name": "Zoé",
            "points": 1,
            "offers": [{"gtin": "3760123450041", "title": {"en": "x"}}],
        },
        "offers[0].title",
    ),
    (
        {
            "pseudonym": CAMILLE,
            "first_name": "Zoé",
            "points": 1,
            "offers": [{"gtin": "3760123450041", "title": {"fr": ""}}],
        },
        "offers[0].title.fr",
    ),
    ({"card": CARD, "pseudonym": CAMILLE, "first_name": "Zoé", "points": 1}, "card"),
    ({"card": "12 34", "first_name": "Zoé", "points": 1}, "card"),
    ({"card": 9250000000017, "first_name": "Zoé", "points": 1}, "card"),
]


def test_each_bad_line_is_reported_with_its_line_and_field_and_the_rest_is_read(
    tmp_path: Path, demo_key: CardPseudonym
) -> None:
    good = {"pseudonym": CAMILLE, "first_name": "Camille", "points": 5}
    lines = [good, *(line for line, _ in BAD_LINES), "", good]
    path = feed(tmp_path, *lines)
    result = read_feed(path, card_pseudonym=demo_key)
    assert len(result.records) == 2
    reported = [(rejection.line, rejection.field) for rejection in result.rejected]
    assert reported == [(number, field) for number, (_, field) in enumerate(BAD_LINES, start=2)]
    for rejection in result.rejected:
        # The values a line holds are people's: never quoted back.
        for secret in ("Zoé", CARD, "12 34", "abc123"):
            assert secret not in str(rejection)


def test_a_json_lines_file_that_names_no_customer_is_not_a_known_feed(tmp_path: Path) -> None:
    path = feed(tmp_path, {"sku": "A-1", "quantity": 3})
    with pytest.raises(FeedError, match="not a known feed"):
        detect_feed(path)


def test_points_above_any_scheme_are_refused(tmp_path: Path) -> None:
    path = feed(tmp_path, {"pseudonym": CAMILLE, "first_name": "C", "points": MAX_POINTS + 1})
    (rejection,) = read_feed(path).rejected
    assert rejection.field == "points"


names = st.text(
    alphabet=st.characters(exclude_categories=["Cc", "Cs", "Zl", "Zp"]), min_size=1, max_size=40
).filter(lambda text: text.strip() == text and text.isprintable())
customers = st.fixed_dictionaries(
    {
        "pseudonym": st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
        "first_name": names,
        "points": st.integers(0, MAX_POINTS),
        "personalisation": st.booleans(),
        "offers": st.lists(
            st.fixed_dictionaries(
                {
                    "gtin": st.sampled_from(["3760123450041", "03760123450010", "96385074"]),
                    "title": st.fixed_dictionaries({"fr": names}, optional={"en": names}),
                }
            ),
            max_size=3,
        ),
    }
)


@settings(max_examples=150, deadline=None)
@given(st.lists(customers, min_size=1, max_size=5))
def test_any_valid_customer_reads_back_as_written(written: list[dict[str, Any]]) -> None:
    lines = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in written)
    result = read_feed_text(lines)
    assert result.rejected == ()
    for line, customer in zip(written, result.records, strict=True):
        assert isinstance(customer, Customer)
        assert (customer.pseudonym, customer.first_name, customer.points) == (
            line["pseudonym"],
            line["first_name"],
            line["points"],
        )
        assert [dict(offer.title) for offer in customer.offers] == [
            offer["title"] for offer in line["offers"]
        ]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
lines_of_any_shape = st.dictionaries(
    st.sampled_from(
        ["pseudonym", "card", "first_name", "points", "personalisation", "offers", "x"]
    ),
    json_values,
)


@settings(max_examples=200, deadline=None)
@given(st.lists(lines_of_any_shape, min_size=1, max_size=6))
def test_any_json_line_is_kept_or_rejected_one_by_one_naming_a_field(
    lines: list[dict[str, Any]],
) -> None:
    first = {"pseudonym": CAMILLE, "first_name": "C", "points": 0}  # makes it a loyalty feed
    text = "".join(json.dumps(line) + "\n" for line in [first, *lines])
    key = Pseudonyms.from_secret(b"k" * 32).card
    result = read_feed_text(text, card_pseudonym=key)
    assert len(result.records) + len(result.rejected) == 1 + len(lines)
    for rejection in result.rejected:
        assert rejection.field
        assert rejection.reason


def read_feed_text(text: str, card_pseudonym: CardPseudonym | None = None) -> FeedResult:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "customers.jsonl"
        path.write_text(text, encoding="utf-8")
        return read_feed(path, card_pseudonym=card_pseudonym)
