"""The feed importers read retailers' real formats, reject bad rows and refuse bad files."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from edge.hub.feeds import (
    Availability,
    FeedError,
    FeedKind,
    FeedResult,
    LocalInventory,
    Money,
    OfferType,
    PickupMethod,
    PickupSla,
    Product,
    ProductApplicability,
    Promotion,
    RedemptionChannel,
    Review,
    StoreAvailability,
    detect_feed,
    read_feed,
)

FEEDS = Path(__file__).parent / "data" / "feeds"
PARIS = timezone(timedelta(hours=1))


def products(name: str) -> list[Product]:
    records = read_feed(FEEDS / name).records
    assert all(isinstance(record, Product) for record in records)
    return [record for record in records if isinstance(record, Product)]


def rejections(name: str) -> list[tuple[int, str, str]]:
    return [(row.line, row.field, row.reason) for row in read_feed(FEEDS / name).rejected]


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("products.tsv", FeedKind.PRODUCTS),
        ("products-spaces.tsv", FeedKind.PRODUCTS),
        ("products-rss.xml", FeedKind.PRODUCTS),
        ("products-atom.xml", FeedKind.PRODUCTS),
        ("inventory.tsv", FeedKind.LOCAL_INVENTORY),
        ("inventory.xml", FeedKind.LOCAL_INVENTORY),
        ("reviews.xml", FeedKind.REVIEWS),
        ("promotions.tsv", FeedKind.PROMOTIONS),
        ("promotions.xml", FeedKind.PROMOTIONS),
    ],
)
def test_each_feed_is_recognised_by_its_header_or_root(name: str, kind: FeedKind) -> None:
    assert detect_feed(FEEDS / name) is kind
    assert read_feed(FEEDS / name).kind is kind


def test_a_product_tsv_with_bom_crlf_and_extra_columns_gives_whole_products() -> None:
    sencha, cafetiere, pull = products("products.tsv")
    assert sencha == Product(
        id="THE-0001",
        title="Thé vert Sencha bio 100 g",
        description="Feuilles entières récoltées au printemps, goût végétal et iodé.",
        link="https://www.exemple.fr/the-sencha",
        image_link="https://www.exemple.fr/img/the-sencha.jpg",
        availability=Availability.IN_STOCK,
        price=Money(890, "EUR"),
        sale_price=Money(750, "EUR"),
        sale_price_effective_date=sencha.sale_price_effective_date,
        gtin="03760123450010",
        brand="Maison Léon",
        product_type=("Épicerie", "Thé"),
        size="100 g",
    )
    assert sencha.sale_price_effective_date is not None
    assert sencha.sale_price_effective_date.start == datetime(2026, 12, 1, tzinfo=PARIS)
    assert sencha.sale_price_effective_date.end == datetime(2026, 12, 31, 23, 59, 59, tzinfo=PARIS)
    assert cafetiere.product_type == ("Maison", "Cuisine", "Café")
    assert (cafetiere.item_group_id, cafetiere.color, cafetiere.size) == ("CAF", "noir", "1 l")
    assert cafetiere.availability is Availability.OUT_OF_STOCK
    assert (pull.price, pull.gtin, pull.availability) == (Money(5900, "EUR"), None, "preorder")


def test_a_bad_row_is_reported_with_line_and_field_and_the_rest_is_kept() -> None:
    assert rejections("products.tsv") == [
        (5, "price", "expected an amount and a currency, as in 15.00 EUR"),
        (6, "gtin", "wrong check digit"),
    ]
    assert [product.id for product in products("bad-rows.tsv")] == ["THE-0001", "MIE-0011"]
    assert rejections("bad-rows.tsv") == [
        (3, "gtin", "wrong check digit"),
        (4, "(row)", "more cells than the header names (a tab inside a value?)"),
    ]


def test_the_space_spelling_of_header_names_is_accepted() -> None:
    chocolat, miel = products("products-spaces.tsv")
    assert chocolat.image_link == "https://www.exemple.fr/img/chocolat.jpg"
    assert chocolat.sale_price == Money(290, "EUR")
    assert chocolat.sale_price_effective_date is not None
    assert chocolat.sale_price_effective_date.end == datetime(2026, 11, 30, 23, tzinfo=UTC)
    assert chocolat.product_type == ("Épicerie", "Chocolat")
    assert chocolat.availability is Availability.IN_STOCK  # written "in stock"
    assert chocolat.gtin == "03760123450034"
    assert (miel.sale_price, miel.product_type, miel.gtin) == (None, (), None)


def test_rss_and_atom_product_feeds_give_the_same_product_as_the_tsv() -> None:
    from_tsv = products("products.tsv")[0]
    rss_sencha, rss_cafetiere = products("products-rss.xml")
    atom_sencha, atom_cafetiere = products("products-atom.xml")
    assert rss_sencha.description == "Feuilles entières récoltées au printemps."
    for sencha in (rss_sencha, atom_sencha):
        assert (sencha.id, sencha.title, sencha.price, sencha.gtin, sencha.brand) == (
            from_tsv.id,
            from_tsv.title,
            from_tsv.price,
            from_tsv.gtin,
            from_tsv.brand,
        )
        assert sencha.link == from_tsv.link
        assert sencha.image_link == from_tsv.image_link
        assert sencha.product_type == ("Épicerie", "Thé")
    # the nested g:shipping's g:price is not the item's price
    assert rss_sencha.price == Money(890, "EUR")
    assert rss_sencha.sale_price_effective_date == from_tsv.sale_price_effective_date
    assert rss_cafetiere.availability is Availability.BACKORDER
    assert rss_cafetiere.title == "Cafetière à piston Brûlot"  # written g:title
    assert atom_cafetiere.link == "https://www.exemple.fr/cafetiere"  # Atom's href
    assert rejections("products-rss.xml") == [(36, "gtin", "wrong check digit")]
    assert rejections("products-atom.xml") == []


def test_local_inventory_tsv_and_xml() -> None:
    tsv = read_feed(FEEDS / "inventory.tsv")
    paris_the, paris_cafe, lyon_the = tsv.records
    assert paris_the == LocalInventory(
        store_code="paris-01",
        id="THE-0001",
        quantity=12,
        price=Money(890, "EUR"),
        availability=StoreAvailability.IN_STOCK,
        pickup_method=PickupMethod.BUY,
        pickup_sla=PickupSla.SAME_DAY,
        instore_product_location="Allée 3, étagère du haut",
    )
    assert isinstance(paris_cafe, LocalInventory)
    assert paris_cafe.quantity == 0
    assert isinstance(lyon_the, LocalInventory)
    assert lyon_the.store_code == "Lyon-01"  # case-sensitive, kept as written
    assert lyon_the.pickup_method is PickupMethod.SHIP_TO_STORE
    assert lyon_the.pickup_sla is PickupSla.THREE_DAY
    assert [(row.line, row.field) for row in tsv.rejected] == [(5, "quantity")]

    xml = read_feed(FEEDS / "inventory.xml")
    paris, lille = xml.records
    assert isinstance(paris, LocalInventory)
    assert isinstance(lille, LocalInventory)
    assert paris.sale_price == Money(750, "EUR")
    assert paris.pickup_sla is PickupSla.SAME_DAY  # written same_day
    assert lille.availability is StoreAvailability.ON_DISPLAY_TO_ORDER
    assert lille.pickup_sla is PickupSla.MULTI_WEEK
    assert [(row.line, row.field) for row in xml.rejected] == [(23, "quantity")]


def test_reviews_feed_normalises_ratings_and_keeps_product_ids() -> None:
    result = read_feed(FEEDS / "reviews.xml")
    helene, anonymous = result.records
    assert isinstance(helene, Review)
    assert isinstance(anonymous, Review)
    assert helene.review_id == "rv-1001"
    assert helene.stars == pytest.approx(1 + 8 / 9 * 4)  # 9 on a 1-10 scale
    assert helene.timestamp == datetime(2026, 10, 14, 7, 30, tzinfo=UTC)
    assert (helene.reviewer_name, helene.is_anonymous) == ("Hélène", False)
    assert helene.title == "Un thé délicat"
    assert helene.pros == ("arôme", "bio")
    assert helene.cons == ("sachet peu refermable",)
    assert helene.review_url == "https://www.exemple.fr/avis/rv-1001"
    assert helene.collection_method == "post_fulfillment"
    (product,) = helene.products
    assert (product.gtins, product.skus, product.brands) == (
        ("03760123450010",),
        ("THE-0001",),
        ("Maison Léon",),
    )
    assert anonymous.stars == pytest.approx(3.5)  # fractional, already on 1-5
    assert anonymous.is_anonymous
    assert anonymous.is_spam
    assert anonymous.products[0].mpns == ("BR-PIST-8",)
    assert [(row.line, row.field) for row in result.rejected] == [(67, "ratings/overall")]


def test_a_review_never_shows_a_persons_name_or_words() -> None:
    result = read_feed(FEEDS / "reviews.xml")
    shown = " ".join([*map(repr, result.records), *map(str, result.rejected)])
    for private in ("Hélène", "Un thé délicat", "Très parfumé", "arôme", "Marc", "impossible"):
        assert private not in shown


def test_promotions_tsv_and_xml() -> None:
    noel, bienvenue = read_feed(FEEDS / "promotions.tsv").records
    assert isinstance(noel, Promotion)
    assert isinstance(bienvenue, Promotion)
    assert noel.product_applicability is ProductApplicability.SPECIFIC_PRODUCTS
    assert noel.offer_type is OfferType.NO_CODE
    assert noel.long_title == "−20 % sur les thés de Noël"
    assert noel.redemption_channel == (RedemptionChannel.IN_STORE, RedemptionChannel.ONLINE)
    assert (noel.percent_off, noel.money_off_amount) == (20, None)
    assert noel.item_ids == ("THE-0001", "THE-0002")
    assert noel.promotion_effective_dates.start == datetime(2026, 12, 1, tzinfo=PARIS)
    assert bienvenue.offer_type is OfferType.GENERIC_CODE
    assert (bienvenue.money_off_amount, bienvenue.item_ids) == (Money(500, "EUR"), ())
    assert rejections("promotions.tsv") == [(4, "item_id", "required for specific_products")]

    (soldes,) = read_feed(FEEDS / "promotions.xml").records
    assert isinstance(soldes, Promotion)
    assert soldes.redemption_channel == (RedemptionChannel.IN_STORE, RedemptionChannel.ONLINE)
    assert (soldes.money_off_amount, soldes.item_ids) == (Money(1000, "EUR"), ("CAF-0002",))


@pytest.mark.parametrize(
    ("name", "line", "reason"),
    [
        ("bad-xxe.xml", 2, "declares a DTD or entities"),
        ("bad-billion-laughs.xml", 2, "declares a DTD or entities"),
        ("bad-malformed.xml", 6, "is not well-formed XML (mismatched tag)"),
        ("bad-latin1.tsv", 2, "is not UTF-8 text"),
        ("bad-unknown.tsv", 1, "is not a known feed"),
    ],
)
def test_a_bad_file_is_refused_whole_naming_file_and_line(
    name: str, line: int, reason: str
) -> None:
    path = FEEDS / name
    with pytest.raises(FeedError) as refused:
        read_feed(path)
    assert refused.value.file == str(path)
    assert refused.value.line == line
    assert refused.value.reason.startswith(reason)
    with pytest.raises(FeedError):
        detect_feed(path)


def test_the_xxe_target_is_never_read_into_a_record() -> None:
    with pytest.raises(FeedError) as refused:
        read_feed(FEEDS / "bad-xxe.xml")
    assert "root:" not in str(refused.value)


def test_a_file_over_the_size_limit_is_refused_before_parsing() -> None:
    path = FEEDS / "products.tsv"
    with pytest.raises(FeedError, match="larger than the limit of 100 bytes"):
        read_feed(path, max_bytes=100)
    assert read_feed(path, max_bytes=path.stat().st_size).kind is FeedKind.PRODUCTS


def test_a_missing_file_is_a_feed_error(tmp_path: Path) -> None:
    with pytest.raises(FeedError, match="cannot be read") as refused:
        read_feed(tmp_path / "absent.tsv")
    assert refused.value.file == str(tmp_path / "absent.tsv")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("<catalogue><produit/></catalogue>", "is not a known feed"),
        ("<feed><version>2.2</version><reviews/></feed>", "is a reviews feed of a version"),
        ("<feed><version>2.3</version><reviews/></feed>", "is a reviews feed without"),
        ("<?xml version='1.0'?>", "is not well-formed XML"),
        ('<!DOCTYPE rss SYSTEM "http://127.0.0.1/x.dtd"><rss/>', "declares a DTD"),
        ("<?xml version='1.0' encoding='ISO-8859-1'?><rss/>", "declares an encoding other"),
    ],
)
def test_unknown_or_unsafe_xml_is_refused(tmp_path: Path, text: str, reason: str) -> None:
    path = tmp_path / "feed.xml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(FeedError) as refused:
        read_feed(path)
    assert refused.value.reason.startswith(reason)


@pytest.mark.parametrize("encoding", ["UTF-8", "utf-8", "utf8"])
def test_xml_declaring_utf8_is_read(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "feed.xml"
    path.write_text(f'<?xml version="1.0" encoding="{encoding}"?><rss/>', encoding="utf-8")
    assert read_feed(path) == FeedResult(FeedKind.PRODUCTS, (), ())


@pytest.mark.parametrize(
    ("cells", "field", "reason"),
    [
        (["X", "T", "15,00 EUR"], "price", "expected an amount and a currency"),
        (["X", "T", "15.00"], "price", "expected an amount and a currency"),
        (["X", "T", "١٥.00 EUR"], "price", "expected an amount and a currency"),
        (["X", "T", "15.000 EUR"], "price", "expected an amount and a currency"),
        (["X" * 51, "T", "1.00 EUR"], "id", "longer than 50 characters"),
        (["X", "", "1.00 EUR"], "title", "required and missing"),
        (["X", "T", "1.00 EUR", "12345671"], "gtin", "wrong check digit"),
        (["X", "T", "1.00 EUR", "123"], "gtin", "expected 8, 12, 13 or 14 digits"),
        (["X", "T", "1.00 EUR", "", "soon"], "availability", "expected one of"),
        (
            ["X", "T", "1.00 EUR", "", "", "2026-12-01T00:00/2026-12-02T00:00"],
            "sale_price_effective_date",
            "needs",
        ),
        (
            ["X", "T", "1.00 EUR", "", "", "2026-12-02T00:00Z/2026-12-01T00:00Z"],
            "sale_price_effective_date",
            "ends before it starts",
        ),
        (
            ["X", "T", "1.00 EUR", "", "", "2026-12-01T00:00Z"],
            "sale_price_effective_date",
            "expected two",
        ),
    ],
)
def test_each_bad_product_value_names_its_field(
    tmp_path: Path, cells: list[str], field: str, reason: str
) -> None:
    path = tmp_path / "products.tsv"
    header = "id\ttitle\tprice\tgtin\tavailability\tsale_price_effective_date\n"
    path.write_text(header + "\t".join(cells) + "\n", encoding="utf-8")
    result = read_feed(path)
    assert result.records == ()
    (rejection,) = result.rejected
    assert (rejection.file, rejection.line, rejection.field) == (str(path), 2, field)
    assert rejection.reason.startswith(reason)


def test_money_takes_whole_amounts_one_decimal_and_lower_case_codes(tmp_path: Path) -> None:
    path = tmp_path / "products.tsv"
    rows = ["A\tT\t15 EUR", "B\tT\t15.5 eur", "C\tT\t0.07 JPY"]
    path.write_text("id\ttitle\tprice\n" + "\n".join(rows) + "\n", encoding="utf-8")
    prices = [record.price for record in read_feed(path).records if isinstance(record, Product)]
    assert prices == [Money(1500, "EUR"), Money(1550, "EUR"), Money(7, "JPY")]
