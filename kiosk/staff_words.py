"""How the staff screens word orders, calls and people: pure functions, French first.

The hub's answers carry codes ("ready_for_pickup", "web") and decimal texts ("99.99");
an associate reads "Prête à retirer", "Site web", "99,99 €". Messages are looked up with
the `_` the screens pass in (the kiosk's translator), so they follow a language switch.
A value the hub sent that cannot be read is shown as it came, never dropped: an
associate with a customer in front of them is better served by "2026-13-45" than by
nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from edge.staff.view import AssistCall, Order, OrderLine
from kiosk.formatting import format_date, format_price

Translate = Callable[..., str]


def first_name(name: str) -> str:
    """ "Léa D." -> "Léa": how a colleague is named to a shopper and greeted."""
    return name.split()[0] if name.split() else name


def role_name(role: str, _: Translate) -> str:
    """The role as a badge says it."""
    if role == "manager":
        return _("Manager")
    return _("Sales associate")


def amount(text: str, currency: str, language: str) -> str:
    """ "99.99" EUR -> "99,99 €" in French; the hub's text as it came if not a number."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        return f"{text} {currency}".strip()
    if not value.is_finite():
        return f"{text} {currency}".strip()
    return format_price(int((value * 100).to_integral_value()), currency, language)


def order_date(placed: str, language: str) -> str:
    """ "2026-10-02T14:31:00+02:00" or "2026-10-02" -> "2 octobre 2026"."""
    try:
        day = datetime.fromisoformat(placed).date()
    except ValueError:
        try:
            day = date.fromisoformat(placed)
        except ValueError:
            return placed
    return format_date(day, language)


def channel_name(channel: str, _: Translate) -> str:
    """Where an order was placed, as a customer would say it."""
    names = {"store": _("In store"), "web": _("Website"), "app": _("App")}
    return names.get(channel, channel)


def status_name(status: str, _: Translate) -> str:
    """An order's status (edge.staff.view.ORDER_STATUSES) in words."""
    names = {
        "placed": _("Ordered"),
        "shipped": _("Shipped"),
        "delivered": _("Delivered"),
        "ready_for_pickup": _("Ready for pickup"),
        "handed_over": _("Handed over"),
        "cancelled": _("Cancelled"),
        "returned": _("Returned"),
    }
    return names.get(status, status)


def place_name(where: str, names: dict[str, str]) -> str:
    """A store's name for its code ("paris-01" -> "Paris République"); a site as it is."""
    return names.get(where, where)


def line_text(line: OrderLine, currency: str, language: str) -> str:
    """ "1 × Casque sans fil Nomade ANC — 99,99 €"."""
    return f"{line.quantity} × {line.title} — {amount(line.amount, currency, language)}"


def order_heading(order: Order, names: dict[str, str], language: str, _: Translate) -> str:
    """ "2 octobre 2026 · Site web · borne-demo.fr": when, how and where."""
    parts = [order_date(order.placed, language), channel_name(order.channel, _)]
    where = place_name(order.where, names)
    if where and where != parts[1]:
        parts.append(where)
    return " · ".join(parts)


def order_details(order: Order, language: str, _: Translate) -> str:
    """The items, the total and what came back: one text, one line each."""
    lines = [line_text(line, order.currency, language) for line in order.lines]
    lines.append(_("Total: {amount}", amount=amount(order.total, order.currency, language)))
    for line in order.returned:
        lines.append(_("Returned: {line}", line=line_text(line, order.currency, language)))
    return "\n".join(lines)


def minutes_ago(since: float, now: float) -> int:
    """Whole minutes between `since` and `now` (0 for a clock that went back)."""
    return max(0, int((now - since) // 60))


def call_text(call: AssistCall, now: float, _: Translate) -> str:
    """ "Borne kiosk-02 · depuis 14:32 (3 min)": which kiosk, since when."""
    at = datetime.fromtimestamp(call.since).astimezone()  # the kiosk's clock is the store's
    return _(
        "Kiosk {device} · since {time} ({minutes} min)",
        device=call.device,
        time=f"{at:%H:%M}",
        minutes=minutes_ago(call.since, now),
    )
