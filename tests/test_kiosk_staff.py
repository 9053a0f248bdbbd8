"""Staff mode's screens, as a store employee uses them: one kiosk fed by the demo's real
platform (mosquitto and `borne hub`, the demo's feeds), resized from one display to the
next (tests/staff_journey.py). A shopper calls an advisor and is told who comes; Léa badges
in, gets her PIN wrong once, serves Camille's file, finds and hands over a click & collect
order, takes another kiosk's call and ends; the next shopper sees the attract loop.
Checked as on the shopper screens (tests/test_kiosk_sizes.py): the main texts read by
OCR, buttons whole, large and apart, no text cut, no empty quarter.

The whole journey is played at the two sizes a store hangs most (a portrait totem and a
landscape screen); the other four get its main screens, a click & collect order shown
by its QR code rather than typed: the layouts are the same, and the 4K screens are slow
to draw under Xvfb. English is played once, by a manager.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import cv2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.demo_platform import DemoPlatform
from edge.staff.view import AssistCall, Order, OrderLine
from kiosk.journey import JourneyError, load_journey
from kiosk.staff_words import amount, call_text, first_name, order_date, order_details
from tests.conftest import ROOT, assert_no_card_number
from tests.test_kiosk_sizes import (
    BLANK_LIMIT,
    SIZES,
    assert_buttons_whole_large_and_apart,
    largest_blank_share,
    listing,
    read,
    unit,
)
from tests.virtual_screen import virtual_screen

JOURNEYS = ROOT / "assets" / "journeys"
FULL = ("1080x1920", "1920x1080")  # the whole journey, every screen read
ENGLISH = "1280x800"
HANDOVER = "1920x1080"  # the pass that hands the order over (the hub remembers it)
# The 4K screens lay out as the 1080p ones of their shape, twice as large: Léa's file
# is checked there (the densest screen), and that nothing of her stays after Terminer.
QUICK_4K = [
    {"tap_badge": "LEA-0042"},
    *({"press": f"pin_{digit}"} for digit in "2468"),
    {"press": "pin_ok"},
    {"screenshot": "home"},
    {"press": "staff_customer"},
    {"tap_card": "9250000000017"},
    {"screenshot": "customer"},
    {"press": "staff_end"},
    {"screenshot": "after"},
]
# The tablet sizes: the main screens, the order shown by its QR code.
QUICK = [
    *QUICK_4K[:-2],
    {"press": "staff_back"},
    {"press": "staff_order"},
    {"scan": "CC-2026-104233"},
    {"screenshot": "order"},
    *QUICK_4K[-2:],
]
# Before Léa: a shopper here calls an advisor; Marc, at another kiosk, takes the call.
SHOPPER = [
    {"tap_card": "9250000000017"},
    {"scan": "3760123450010"},
    {"press": "assist"},
    {"other_kiosk_takes_call": "MARC-0007"},
    {"screenshot": "coming"},
]
# At the full sizes, once home shows the call of the store's other kiosk, Léa takes it.
TAKE_CALL = [{"press": "take_call_1"}, {"screenshot": "call_taken"}]
MAX_FAILURES = 2  # the kiosk's [staff] max_failures here: fewer presses to lock a badge
# Last, Léa's badge locks after wrong PINs and Marc, a manager, unlocks it.
UNLOCK = [
    {"tap_badge": "LEA-0042"},
    *(
        step
        for _ in range(MAX_FAILURES)
        for step in ({"press": "pin_1"},) * 4 + ({"press": "pin_ok"},)
    ),
    {"screenshot": "locked"},
    {"press": "staff_end"},
    {"tap_badge": "MARC-0007"},
    *({"press": f"pin_{digit}"} for digit in "1357"),
    {"press": "pin_ok"},
    {"screenshot": "unlock"},
    {"press": "unlock_1"},
    {"screenshot": "unlocked"},
    {"press": "staff_end"},
]
# What each screen is for, as OCR must read it (French, then the manager's English).
MAIN_TEXTS = {
    "coming": ["Marc arrive"],
    "pin": ["Bonjour Léa, tapez votre code", "Code incorrect"],
    "home": ["Mode vendeur", "Client", "Retrait", "Appels conseiller", "occupe"],
    "call_taken": ["Léa D. s'en occupe"],
    "customer_card": ["Demandez au client de poser sa carte"],
    "customer": ["Camille Martin", "Chaussures", "CC-2026-104233", "click & collect"],
    "order": ["Commande CC-2026-104233", "Pour Camille", "Remis au client"],
    "handed_over": ["enregistrée comme remise"],
    "after": ["Bienvenue"],
    "en-pin": ["Hello Marc, type your code"],
    "en-home": ["Staff mode", "Customer", "Pickup"],
    "en-declined": ["declined personalisation"],
    "en-customer": ["Mehdi Benali", "mehdi.benali@example.fr"],
    "en-order": ["Order CC-2026-104251", "For Mehdi", "Handed over to the customer"],
    "en-handed_over": ["recorded as handed over"],
    "locked": ["ce badge est bloqué"],
    "unlock": ["Badges bloqués", "Le badge de Léa D. est bloqué", "Débloquer"],
}
# What OCR reads at each size (it is the slow part; at 4K, what is drawn is the 1080p
# layout twice as large); the texts drawn are checked on every screenshot.
READ = {
    "1080x1920": tuple(name for name in MAIN_TEXTS if not name.startswith("en-")),
    "1920x1080": ("home", "customer", "order", "handed_over", "after"),
    ENGLISH: ("customer", "en-pin", "en-customer", "en-order"),
}
CONTENT = ("home", "call_taken", "customer", "order", "handed_over", "en-customer", "en-order")
STAFF_WORDS = ("Mode vendeur", "Léa", "Marc", "Camille", "Mehdi", "CC-2026", "Terminer")


def _renamed(steps: list[dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
    return [
        {"screenshot": f"{prefix}-{step['screenshot']}"} if "screenshot" in step else step
        for step in steps
    ]


def journey_steps(name: str) -> list[dict[str, Any]]:
    """A staff journey's steps, without its first wait: played alone, it gives the demo's
    platform time to send the staff directory; here `platform_ready` waits for it."""
    steps: list[dict[str, Any]] = json.loads((JOURNEYS / name).read_text())
    return steps[1:] if "wait" in steps[0] else steps


def plan() -> list[dict[str, Any]]:
    """The steps played, in one kiosk: what the store does, the journeys, the resizes."""
    french = journey_steps("staff.json")
    handover = ({"press": "staff_handover"}, {"screenshot": "handed_over"})
    steps: list[dict[str, Any]] = [{"platform_ready": "LEA-0042"}]
    for size in SIZES:
        steps += [{"resize": size}, {"other_kiosk_calls": "3760123450010"}]
        if size == SIZES[0]:
            steps += _renamed(SHOPPER, size)
        if size not in FULL:
            journey = QUICK if unit(size) < 2 else QUICK_4K
        elif size == HANDOVER:
            journey = french
        else:
            journey = [step for step in french if step not in handover]
        if size in FULL:
            at = journey.index({"screenshot": "home"}) + 1
            journey = [*journey[:at], *TAKE_CALL, *journey[at:]]
        steps += _renamed(journey, size)
    english = journey_steps("staff-en.json")
    steps += [{"resize": ENGLISH}, {"other_kiosk_calls": "3760123450010"}]
    return steps + _renamed(english, f"{ENGLISH}-en") + _renamed(UNLOCK, ENGLISH)


# Six displays, two of them 4K, rendered in software: more than the default five minutes
# on a loaded machine. The limit only stops a hang.
pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def staff_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The journeys played: the screenshots folder, and what the kiosk logged."""
    base = tmp_path_factory.mktemp("staff")
    platform = DemoPlatform(base / "platform")
    platform.start()
    try:
        config = base / "kiosk.toml"
        config.write_text(
            f'[storage]\ndata_dir = "{base / "data"}"\nsynchronous = "normal"\n'
            f"[staff]\nmax_failures = {MAX_FAILURES}\n"
        )
        steps = base / "plan.json"
        steps.write_text(json.dumps(plan()))
        shots = base / "shots"
        arguments = [str(config), str(platform.hub_config), str(platform.port), str(shots)]
        with virtual_screen("3840x3840x24") as display:
            result = subprocess.run(
                [sys.executable, "-m", "tests.staff_journey", *arguments, str(steps)],
                env={**os.environ, "DISPLAY": display, "KIVY_HOME": str(base / "kivy")},
                capture_output=True,
                text=True,
                timeout=840,
                check=False,
            )
    finally:
        platform.close()
    assert result.returncode == 0, result.stderr[-3000:]
    return shots, result.stderr


def shots_at(shots: Path, size: str) -> list[str]:
    """The names of the screenshots taken at `size` (without the size)."""
    return sorted(
        path.name.removeprefix(f"{size}-").removesuffix(".png")
        for path in shots.glob(f"{size}-*.png")
        if not path.name.endswith(".ocr.png")
    )


@pytest.mark.ui
@pytest.mark.parametrize("size", SIZES)
def test_staff_screens_say_what_they_are_for(staff_run: tuple[Path, str], size: str) -> None:
    shots, _ = staff_run
    names = shots_at(shots, size)
    assert {"home", "customer", "after"} <= set(names), names
    for name in names:
        if name in READ.get(size, ("customer",) if unit(size) < 2 else ()):
            text = read(shots, size, name)
            for words in MAIN_TEXTS[name]:
                assert words in text, f"{size} {name}: {words!r} not in {text!r}"


@pytest.mark.ui
def test_a_manager_works_in_english_and_sees_contact_details(
    staff_run: tuple[Path, str],
) -> None:
    shots, _ = staff_run
    for name in ("en-home", "en-declined", "en-handed_over"):
        texts = " ".join(t["text"] for t in listing(shots, ENGLISH, name, "texts"))
        for words in MAIN_TEXTS[name]:
            assert words in texts, f"{name}: {words!r} not in {texts!r}"
    english = " ".join(t["text"] for t in listing(shots, ENGLISH, "en-customer", "texts"))
    assert "07 98 76 54 32" in english  # a manager's file: the contact in full
    french = " ".join(t["text"] for t in listing(shots, FULL[0], "customer", "texts"))
    assert "camille.martin@example.fr" not in french  # an associate's: masked
    assert "c•••@example.fr" in french


@pytest.mark.ui
def test_a_locked_badge_is_unlocked_by_a_manager(staff_run: tuple[Path, str]) -> None:
    shots, _ = staff_run
    for name in ("locked", "unlock"):
        texts = " ".join(t["text"] for t in listing(shots, ENGLISH, name, "texts"))
        for words in MAIN_TEXTS[name]:
            assert words in texts, f"{name}: {words!r} not in {texts!r}"
    ids = {button["id"] for button in listing(shots, ENGLISH, "locked", "buttons")}
    assert "pin_ok" not in ids  # a locked badge's PIN is not asked
    after = {button["id"] for button in listing(shots, ENGLISH, "unlocked", "buttons")}
    assert "unlock_1" not in after
    # An associate sees no locked badges: only the manager's home lists them.
    home = " ".join(t["text"] for t in listing(shots, FULL[0], "home", "texts"))
    assert "Badges bloqués" not in home


@pytest.mark.ui
def test_a_declined_customer_is_told_so_and_nothing_of_them_shows(
    staff_run: tuple[Path, str],
) -> None:
    shots, _ = staff_run
    texts = " ".join(t["text"] for t in listing(shots, ENGLISH, "en-declined", "texts"))
    assert "declined personalisation" in texts
    for words in ("Louise", "Garnier", "Platine", "points", "Order"):
        assert words not in texts


@pytest.mark.ui
@pytest.mark.parametrize("size", SIZES)
def test_staff_buttons_are_whole_large_and_apart(staff_run: tuple[Path, str], size: str) -> None:
    shots, _ = staff_run
    for name in shots_at(shots, size):
        assert_buttons_whole_large_and_apart(listing(shots, size, name, "buttons"), size, name)


@pytest.mark.ui
@pytest.mark.parametrize("size", SIZES)
def test_no_staff_text_is_cut(staff_run: tuple[Path, str], size: str) -> None:
    shots, _ = staff_run
    for name in shots_at(shots, size):
        cut = [text["text"] for text in listing(shots, size, name, "texts") if not text["whole"]]
        assert not cut, f"{size} {name}: cut {cut}"


@pytest.mark.ui
@pytest.mark.parametrize("size", SIZES)
def test_staff_screens_use_their_space(staff_run: tuple[Path, str], size: str) -> None:
    shots, _ = staff_run
    for name in shots_at(shots, size):
        if name in CONTENT:
            pixels = cv2.imread(str(shots / f"{size}-{name}.png"))
            assert pixels is not None
            share = largest_blank_share(pixels)
            assert share <= BLANK_LIMIT, f"{size} {name}: a blank {share:.0%} of the screen"


@pytest.mark.ui
def test_every_staff_screen_is_marked_as_staff_mode_with_terminer_in_reach(
    staff_run: tuple[Path, str],
) -> None:
    shots, _ = staff_run
    for size in SIZES:
        for name in shots_at(shots, size):
            if name in ("after", "coming", "en-after"):
                continue
            ids = {button["id"] for button in listing(shots, size, name, "buttons")}
            texts = {text["text"] for text in listing(shots, size, name, "texts")}
            assert "staff_end" in ids, f"{size} {name}: no Terminer"
            assert texts & {"Mode vendeur", "Staff mode"}, f"{size} {name}: no banner"
            # The shopper's bar (accessibility, advisor) is not the staff's.
            assert not ids & {"assist", "accessibility"}, f"{size} {name}: {ids}"


@pytest.mark.ui
def test_after_terminer_the_next_shopper_sees_the_attract_loop_and_nothing_of_staff(
    staff_run: tuple[Path, str],
) -> None:
    shots, log = staff_run
    for size in FULL:
        assert "Bienvenue" in read(shots, size, "after")
    for size in SIZES:
        texts = " ".join(text["text"] for text in listing(shots, size, "after", "texts"))
        ids = {button["id"] for button in listing(shots, size, "after", "buttons")}
        for words in STAFF_WORDS:
            assert words not in texts, f"{size}: {words!r} after Terminer"
        assert {"assist", "language"} <= ids
        assert not any(i.startswith("staff_") for i in ids)
    english = " ".join(text["text"] for text in listing(shots, ENGLISH, "en-after", "texts"))
    assert "Mehdi" not in english
    assert "Staff mode" not in english
    assert_no_card_number(log)
    for pin in ("2468", "1357", "1111"):  # what was typed on the pads
        assert pin not in log


# --- what the staff screens make of the hub's values (no window needed) ----------------


def test_amounts_and_dates_read_as_in_france_and_odd_values_show_as_they_came() -> None:
    assert amount("99.99", "EUR", "fr") == "99,99\u00a0€"
    assert amount("1250", "EUR", "en") == "€1,250.00"
    assert amount("n/a", "EUR", "fr") == "n/a EUR"
    assert amount("NaN", "EUR", "fr") == "NaN EUR"
    assert order_date("2026-10-02T14:31:00+02:00", "fr") == "2\u00a0octobre 2026"
    assert order_date("2026-10-02", "en") == "2\u00a0October 2026"
    assert order_date("yesterday", "fr") == "yesterday"
    assert first_name("Léa D.") == "Léa"
    assert first_name("") == ""


def test_an_order_lists_its_items_total_and_returns() -> None:
    line = OrderLine("3760123450010", "Casque", 1, "99.99")
    order = Order(
        "W-1",
        "web",
        "2026-10-02",
        "borne-demo.fr",
        "returned",
        "99.99",
        "EUR",
        (line,),
        returned=(line,),
    )
    assert order_details(order, "en", lambda message, **values: message.format(**values)) == (
        "1 × Casque — €99.99\nTotal: €99.99\nReturned: 1 × Casque — €99.99"
    )


def test_a_call_says_which_kiosk_and_how_long_ago() -> None:
    call = AssistCall("c1", "kiosk-02", since=1000.0, gtin=None, title=None)
    text = call_text(call, 1000.0 + 185, lambda message, **values: message.format(**values))
    assert text.startswith("Kiosk kiosk-02 · since ")
    assert text.endswith("(3 min)")
    assert call_text(call, 900.0, lambda m, **v: m.format(**v)).endswith("(0 min)")


@given(st.text(max_size=40), st.sampled_from(["fr", "en"]))
def test_any_amount_or_date_from_the_hub_is_shown_never_raises(text: str, language: str) -> None:
    assert isinstance(amount(text, "EUR", language), str)
    assert isinstance(order_date(text, language), str)


def test_a_journey_taps_a_staff_badge(tmp_path: Path) -> None:
    journey = tmp_path / "journey.json"
    journey.write_text('[{"tap_badge": "LEA-0042"}]')
    assert [(step.kind, step.value) for step in load_journey(journey)] == [
        ("tap_badge", "LEA-0042")
    ]
    journey.write_text('[{"tap_badge": ""}]')
    with pytest.raises(JourneyError, match="non-empty string"):
        load_journey(journey)


def test_the_staff_journeys_load() -> None:
    for name in ("staff.json", "staff-en.json"):
        steps = load_journey(JOURNEYS / name)
        assert steps[1].kind == "tap_badge"
        assert ("press", "staff_end") in [(step.kind, step.value) for step in steps]
