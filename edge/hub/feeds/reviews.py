"""A `<review>` of a product reviews feed (schema 2.3) -> `Review`.

A review's name, title and text are a person's words: they are read into the record and
never put into an error or a log.
"""

from __future__ import annotations

from xml.etree.ElementTree import Element

from edge.hub.feeds import fields
from edge.hub.feeds.errors import FeedValueError
from edge.hub.feeds.records import Review, ReviewedProduct

STARS_MIN = 1.0
STARS_MAX = 5.0


def review_from_element(review: Element) -> Review:
    """The review an element holds; raises FeedValueError naming the first bad part."""
    reviewer = review.find("reviewer/name")
    anonymous = reviewer.get("is_anonymous") if reviewer is not None else None
    timestamp = _required(review, "review_timestamp")
    spam = _text(review.find("is_spam"))
    products = tuple(_product(product) for product in review.iterfind("products/product"))
    if not products:
        raise FeedValueError("products", "a review must name the product it is about")
    return Review(
        review_id=fields.identifier("review_id", _required(review, "review_id")),
        timestamp=fields.instant("review_timestamp", timestamp),
        stars=_stars(review.find("ratings/overall")),
        products=products,
        reviewer_name=_text(reviewer) or "",
        is_anonymous=False if anonymous is None else fields.boolean("is_anonymous", anonymous),
        title=_text(review.find("title")),
        content=_required(review, "content"),
        pros=_texts(review, "pros/pro"),
        cons=_texts(review, "cons/con"),
        review_url=_text(review.find("review_url")),
        is_spam=False if spam is None else fields.boolean("is_spam", spam),
        collection_method=_text(review.find("collection_method")),
    )


def _stars(overall: Element | None) -> float:
    """The rating moved linearly from the feed's [min, max] onto the kiosk's 1-5 stars."""
    if overall is None:
        raise FeedValueError("ratings/overall", "required and missing")
    value = fields.number("ratings/overall", _text(overall) or "")
    low = fields.number("ratings/overall@min", overall.get("min", ""))
    high = fields.number("ratings/overall@max", overall.get("max", ""))
    if low >= high:
        raise FeedValueError("ratings/overall", "min must be below max")
    if not low <= value <= high:
        raise FeedValueError("ratings/overall", "outside its min and max")
    return STARS_MIN + (value - low) / (high - low) * (STARS_MAX - STARS_MIN)


def _product(product: Element) -> ReviewedProduct:
    """The identifiers of one reviewed product; its GTINs' check digits are verified."""
    gtins = tuple(fields.gtin("gtin", gtin) for gtin in _texts(product, "product_ids/gtins/gtin"))
    return ReviewedProduct(
        gtins=gtins,
        skus=_texts(product, "product_ids/skus/sku"),
        mpns=_texts(product, "product_ids/mpns/mpn"),
        brands=_texts(product, "product_ids/brands/brand"),
        name=_text(product.find("product_name")),
        url=_text(product.find("product_url")),
    )


def _text(element: Element | None) -> str | None:
    """An element's stripped text, None when absent or blank."""
    if element is None or element.text is None:
        return None
    return element.text.strip() or None


def _required(parent: Element, path: str) -> str:
    """The text at `path`; refuses the review when it is absent."""
    text = _text(parent.find(path))
    if text is None:
        raise FeedValueError(path, "required and missing")
    return text


def _texts(parent: Element, path: str) -> tuple[str, ...]:
    """Every non-blank text at `path`, in order."""
    found = (_text(element) for element in parent.iterfind(path))
    return tuple(text for text in found if text is not None)
