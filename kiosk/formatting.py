"""How numbers read on screen, French first (prices, ratings, counts). Pure functions."""

from __future__ import annotations

from datetime import date

NBSP = "\u00a0"


def _group(number: int, separator: str) -> str:
    return f"{number:,}".replace(",", separator)


def format_price(cents: int, currency: str = "EUR", language: str = "fr") -> str:
    """12,99 € in French; €12.99 in English."""
    units, hundredths = divmod(abs(cents), 100)
    sign = "-" if cents < 0 else ""
    symbol = {"EUR": "€"}.get(currency, currency)
    if language == "fr":
        return f"{sign}{_group(units, NBSP)},{hundredths:02d}{NBSP}{symbol}"
    return f"{sign}{symbol}{_group(units, ',')}.{hundredths:02d}"


def format_decimal(value: float, language: str = "fr", digits: int = 1) -> str:
    """4,5 in French; 4.5 in English."""
    text = f"{value:.{digits}f}"
    return text.replace(".", ",") if language == "fr" else text


def format_count(count: int, language: str = "fr") -> str:
    """1 250 in French; 1,250 in English."""
    return _group(count, NBSP if language == "fr" else ",")


_MONTHS = {
    "fr": "janvier février mars avril mai juin juillet août septembre octobre novembre décembre",
    "en": "January February March April May June July August September October November December",
}


def format_date(day: date, language: str = "fr") -> str:
    """31 décembre 2026 in French; 31 December 2026 in English."""
    month = _MONTHS.get(language, _MONTHS["fr"]).split()[day.month - 1]
    return f"{day.day}{NBSP}{month} {day.year}"
