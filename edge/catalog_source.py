"""The catalog source file, validated whole before the cache takes any of it.

A source is refused at load, never at scan time: the first problem found is reported
with the product (its GTIN, or its index when it has no usable GTIN) and the field,
e.g. `catalog.json: product 3760123450010: stock.here: field required`.
Customers are known by the retailer's keyed pseudonym only: a source that still
carries raw card numbers is refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
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
    delivery_days: Count = 3


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


@dataclass(frozen=True, slots=True)
class CatalogSource:
    """A whole catalog source, validated: the store, its shelves, products, promotions
    and customers."""

    store: Store
    categories: list[Shelf]
    products: list[SourceProduct]
    promotions: list[SourcePromotion]
    customers: list[SourceCustomer]


# Validated this many items at a time: each call holds the GIL for a few milliseconds.
CHUNK = 256
# Each list of the source: what its items are called in a message, the member that
# identifies one, and its validator.
_LISTS: dict[str, tuple[str, str, TypeAdapter[list[Any]]]] = {
    "categories": ("shelf", "id", TypeAdapter(list[Shelf])),
    "products": ("product", "gtin", TypeAdapter(list[SourceProduct])),
    "promotions": ("promotion", "id", TypeAdapter(list[SourcePromotion])),
    "customers": ("customer", "", TypeAdapter(list[SourceCustomer])),
}
_REQUIRED = ("store", "products")


def parse_source(raw: bytes, name: str) -> CatalogSource:
    """The validated source in `raw` (the file `name`), or CatalogError saying what is wrong.

    Validated a few hundred items at a time, so that a load in a worker thread leaves
    the other threads running.
    """
    try:
        members = split_members(raw.decode("utf-8"), frozenset(_LISTS))
    except UnicodeDecodeError:
        raise CatalogError(f"{name}: not UTF-8 text") from None
    except SplitError as error:
        raise CatalogError(f"{name}: not a JSON object ({error})") from None
    for member in _REQUIRED:
        if member not in members:
            raise CatalogError(f"{name}: {member}: field required")
    try:
        store = Store.model_validate_json(_text(members["store"]))
    except ValidationError as error:
        raise CatalogError(f"{name}: store{_describe(error, '.')}") from None
    lists = {member: _validated(members.get(member, []), member, name) for member in _LISTS}
    source = CatalogSource(store, **lists)
    problem = _cross_reference_problem(source)
    if problem:
        raise CatalogError(f"{name}: {problem}")
    return source


def _text(member: str | list[str]) -> str:
    return member if isinstance(member, str) else f"[{','.join(member)}]"


def _validated(items: str | list[str], member: str, name: str) -> list[Any]:
    """Every item of a list member, validated; CatalogError names the first bad one."""
    what, identity, adapter = _LISTS[member]
    if isinstance(items, str):  # not an array: let the validator say so
        try:
            return adapter.validate_json(items)
        except ValidationError as error:
            raise CatalogError(f"{name}: {member}{_describe(error, ': ')}") from None
    validated: list[Any] = []
    for start in range(0, len(items), CHUNK):
        try:
            validated += adapter.validate_json(_text(items[start : start + CHUNK]))
        except ValidationError as error:
            index = start + int(error.errors()[0]["loc"][0])
            label = _identity(items[index], identity) or f"#{index}"
            raise CatalogError(f"{name}: {what} {label}{_describe(error, ': ', skip=1)}") from None
    return validated


def _cross_reference_problem(source: CatalogSource) -> str:
    """What refers to something the source does not hold ("" if nothing)."""
    shelves = {shelf.id for shelf in source.categories}
    prices: dict[str, int] = {}
    for product in source.products:
        where = f"product {product.gtin.lstrip('0').zfill(13)}"
        if product.gtin in prices:
            return f"{where}: gtin: appears twice"
        if product.category not in shelves:
            return f"{where}: category: {product.category!r} is not one of the store's shelves"
        prices[product.gtin] = product.price_cents
    for promotion in source.promotions:
        where = f"promotion {promotion.id}"
        if promotion.gtin not in prices:
            return f"{where}: gtin: an unknown product"
        if promotion.price_cents >= prices[promotion.gtin]:
            return f"{where}: price_cents: does not lower the price"
    for index, customer in enumerate(source.customers):
        for offer in customer.offers:
            if offer.gtin not in prices:
                return f"customer #{index}: offers: an offer for an unknown product"
    return ""


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
