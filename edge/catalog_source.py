"""The catalog source file, validated whole before the cache takes any of it.

A source is refused at load, never at scan time: the first problem found is reported
with the product (its GTIN, or its index when it has no usable GTIN) and the field,
e.g. `catalog.json: product 3760123450010: stock.here: field required`.
Customers are known by the retailer's keyed pseudonym only: a source that still
carries raw card numbers is refused.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
)

from devices.barcode.gs1 import normalize_gtin
from devices.errors import InputError
from edge.catalog_split import SplitError, split_members
from edge.errors import CatalogError


def _has_french(texts: dict[str, str]) -> dict[str, str]:
    if "fr" not in texts:
        raise ValueError("needs a French text ('fr')")
    return texts


def _gtin14(text: str) -> str:
    try:
        return normalize_gtin(text)
    except InputError as error:
        raise ValueError(error.reason) from None


def _product_page(url: str) -> str:
    if url and (not url.startswith("https://") or "{gtin}" not in url):
        raise ValueError("must be an https URL with {gtin}")
    return url


def _https(url: str) -> str:
    if url and not url.startswith("https://"):
        raise ValueError("must be an https URL")
    return url


# Texts by language; French is the fallback of every screen, so it is required.
Texts = Annotated[dict[str, str], AfterValidator(_has_french)]
# Any GTIN length on the source's side; always stored as a GTIN-14.
Gtin = Annotated[str, AfterValidator(_gtin14)]
Count = Annotated[int, Field(ge=0)]
Name = Annotated[str, Field(min_length=1)]


class _Strict(BaseModel):
    # Strict: "12" is not a price, and a GTIN given as a number has lost its zeros.
    model_config = ConfigDict(strict=True, frozen=True, allow_inf_nan=False)


class NearbyStore(_Strict):
    """Another store of the chain whose stock the product screen shows."""

    id: Name
    name: Name


class Store(_Strict):
    """The store the kiosk stands in."""

    id: Name
    name: str = ""
    nearby: tuple[NearbyStore, ...] = ()
    product_page: Annotated[str, AfterValidator(_product_page)] = ""


class Shelf(_Strict):
    """A category of products, as the browse screen lists it."""

    id: Name
    name: Texts


class SourceReview(_Strict):
    """An online review of a product."""

    author: str
    rating: int = Field(ge=1, le=5)
    text: str
    helpful: Count


class SourceStock(_Strict):
    """Units here, in nearby stores (by store id) and online."""

    here: Count
    nearby: dict[str, Count] = {}
    online: Count
    delivery_days: Count | None = 3  # None: not known (the platform's streams say nothing)


class SourceProduct(_Strict):
    """A product of the source; fields other tools use (a colour, a picture name) pass."""

    model_config = ConfigDict(extra="ignore")

    gtin: Gtin
    name: Texts
    description: Texts | None = None
    brand: str
    category: Name
    price_cents: int = Field(gt=0)
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    rating: float = Field(ge=0, le=5)
    review_count: Count
    stock: SourceStock
    reviews: tuple[SourceReview, ...] = ()
    label: Literal["", "gs1-datamatrix", "gs1-qr"] = ""
    # The product's own page, when the retailer's feed names one; else the store's
    # `product_page` pattern.
    page_url: Annotated[str, AfterValidator(_https)] = ""


class SourcePromotion(_Strict):
    """A price cut on one product until `ends`, inclusive."""

    id: Name
    gtin: Gtin
    price_cents: int = Field(gt=0)
    title: Texts
    ends: date


class SourceOffer(_Strict):
    """A loyalty offer to one customer about one product."""

    gtin: Gtin
    title: Texts


class SourceCustomer(_Strict):
    """A loyalty customer, under the keyed pseudonym of their card."""

    # Declared only to be refused (see below), whatever else is wrong with the customer.
    card: object = Field(default=None, exclude=True, repr=False)
    pseudonym: str = Field(pattern=r"^[0-9a-f]{64}$")
    first_name: str
    points: Count
    personalisation: bool = True
    offers: tuple[SourceOffer, ...] = ()

    @field_validator("card")
    @classmethod
    def _no_card_number(cls, value: object) -> None:
        # Refused rather than hashed here: the platform must never ship raw numbers.
        raise ValueError("a raw card number: customers are keyed by 'pseudonym'")


# Validated this many items at a time: each call holds the GIL for a few milliseconds.
CHUNK = 128
# Each list of the source: what its items are called in a message, the member that
# identifies one, and its validator.
_LISTS: dict[str, tuple[str, str, TypeAdapter[list[Any]]]] = {
    "categories": ("shelf", "id", TypeAdapter(list[Shelf])),
    "products": ("product", "gtin", TypeAdapter(list[SourceProduct])),
    "promotions": ("promotion", "id", TypeAdapter(list[SourcePromotion])),
    "customers": ("customer", "", TypeAdapter(list[SourceCustomer])),
}
_REQUIRED = ("store", "products")
_DECODED = 1 << 20  # bytes decoded per call, for the same reason


class SourceReader:
    """A catalog source, read a part at a time: each part validated as it is taken.

    Products come a chunk at a time, so that a load in a worker thread never holds the
    GIL for long and never keeps 100,000 validated products alive at once. Every
    problem is a CatalogError naming the file, the item and the field.
    """

    def __init__(self, raw: bytes, name: str) -> None:
        self.name = name
        try:
            self._members = split_members(_decoded(raw), frozenset(_LISTS))
        except UnicodeDecodeError:
            raise CatalogError(f"{name}: not UTF-8 text") from None
        except SplitError as error:
            raise CatalogError(f"{name}: not a JSON object ({error})") from None
        for member in _REQUIRED:
            if member not in self._members:
                raise CatalogError(f"{name}: {member}: field required")
        try:
            self.store = Store.model_validate_json(_text(self._members["store"]))
        except ValidationError as error:
            raise CatalogError(f"{name}: store{_describe(error, '.')}") from None
        self.shelves: list[Shelf] = list(self._items("categories"))
        self._prices: dict[str, int] = {}  # of the products read so far

    def products(self) -> Iterator[SourceProduct]:
        """Every product, each one checked against the shelves and those before it."""
        shelves = {shelf.id for shelf in self.shelves}
        for product in self._items("products"):
            where = f"{self.name}: product {product.gtin.lstrip('0').zfill(13)}"
            if product.gtin in self._prices:
                raise CatalogError(f"{where}: gtin: appears twice")
            if product.category not in shelves:
                raise CatalogError(
                    f"{where}: category: {product.category!r} is not one of the store's shelves"
                )
            self._prices[product.gtin] = product.price_cents
            yield product

    def promotions(self) -> list[SourcePromotion]:
        """Every promotion, each a cut in the price of a product read before."""
        promotions = list(self._items("promotions"))
        for promotion in promotions:
            where = f"{self.name}: promotion {promotion.id}"
            if promotion.gtin not in self._prices:
                raise CatalogError(f"{where}: gtin: an unknown product")
            if promotion.price_cents >= self._prices[promotion.gtin]:
                raise CatalogError(f"{where}: price_cents: does not lower the price")
        return promotions

    def customers(self) -> Iterator[SourceCustomer]:
        """Every customer, each of their offers about a product read before."""
        for index, customer in enumerate(self._items("customers")):
            if any(offer.gtin not in self._prices for offer in customer.offers):
                raise CatalogError(
                    f"{self.name}: customer #{index}: offers: an offer for an unknown product"
                )
            yield customer

    def _items(self, member: str) -> Iterator[Any]:
        """The items of a list member, validated a chunk at a time."""
        what, identity, adapter = _LISTS[member]
        items = self._members.get(member, [])
        if isinstance(items, str):  # not an array: let the validator say so
            try:
                yield from adapter.validate_json(items)
            except ValidationError as error:
                raise CatalogError(f"{self.name}: {member}{_describe(error, ': ')}") from None
            return
        for start in range(0, len(items), CHUNK):
            try:
                chunk = adapter.validate_json(_text(items[start : start + CHUNK]))
            except ValidationError as error:
                index = start + int(error.errors()[0]["loc"][0])
                label = _identity(items[index], identity) or f"#{index}"
                detail = _describe(error, ": ", skip=1)
                raise CatalogError(f"{self.name}: {what} {label}{detail}") from None
            yield from chunk


def _decoded(raw: bytes) -> str:
    # A megabyte per call: decoding 100 MB at once would hold the GIL for 0.1 s.
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(raw)
    parts = [
        decoder.decode(view[start : start + _DECODED]) for start in range(0, len(raw), _DECODED)
    ]
    parts.append(decoder.decode(b"", final=True))
    return "".join(parts)


def _text(member: str | list[str]) -> str:
    return member if isinstance(member, str) else f"[{','.join(member)}]"


def _describe(error: ValidationError, lead: str, skip: int = 0) -> str:
    """`: stock.here: field required` from a pydantic error, its first `skip` places dropped.

    `lead` joins the place to what comes before it: ": " after a name, "." after a field.
    """
    first = error.errors(include_url=False)[0]
    message = first["msg"].removeprefix("Value error, ")
    message = message[:1].lower() + message[1:]
    field = ".".join(str(part) for part in first["loc"][skip:])
    return f"{lead}{field}: {message}" if field else f": {message}"


def _identity(item: str, key: str) -> str:
    """An item's GTIN or id, from its text ("" if it has none); read only when refusing."""
    try:
        document = json.loads(item)
    except (ValueError, RecursionError):
        return ""
    value = document.get(key) if key and isinstance(document, dict) else None
    if isinstance(value, str) and value.strip():
        return value[:40]  # enough to find it; a hostile source does not fill the log
    return ""
