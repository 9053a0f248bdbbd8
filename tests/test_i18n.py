"""Every message the kiosk shows exists in French; the PO reader reads what msgfmt reads."""

from __future__ import annotations

import importlib
import re

import pytest

from edge.session import LANGUAGES
from kiosk.i18n import LOCALES, Translator, parse_po
from tests.conftest import ROOT

_MESSAGE = re.compile(r"""(?:app\.tr\.|self\.|\b)_\(\s*(?:\n\s*)?("(?:[^"\\]|\\.)*")""")


def messages_in_sources() -> set[str]:
    found = set()
    for path in (ROOT / "kiosk").rglob("*"):
        if path.suffix in (".py", ".kv"):
            for literal in _MESSAGE.findall(path.read_text(encoding="utf-8")):
                found.add(eval(literal))
    return found | screen_messages()


def screen_messages() -> set[str]:
    """The templates modules hand the screen as constants (`SCREEN_MESSAGES`): the
    installer's panel shows what enrolment and the self-test say."""
    found: set[str] = set()
    for path in [*(ROOT / "kiosk").rglob("*.py"), *(ROOT / "edge").rglob("*.py")]:
        if "\nSCREEN_MESSAGES = " in path.read_text(encoding="utf-8"):
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found.update(importlib.import_module(module).SCREEN_MESSAGES)
    return found


def test_every_message_on_screen_has_a_french_translation() -> None:
    messages = messages_in_sources()
    assert len(messages) > 25
    french = parse_po((LOCALES / "fr.po").read_text(encoding="utf-8"))
    assert sorted(messages - french.keys()) == []
    assert sorted(french.keys() - messages) == [], "translations nobody uses"


def test_placeholders_survive_translation() -> None:
    french = parse_po((LOCALES / "fr.po").read_text(encoding="utf-8"))
    for message, translation in french.items():
        assert re.findall(r"\{\w+\}", message) == re.findall(r"\{\w+\}", translation)


def test_po_parsing_and_switching() -> None:
    po = (
        'msgid ""\n'
        'msgstr "Language: fr\\n"\n'
        "\n"
        "# a comment\n"
        'msgid "Two\\n"\n'
        '"lines"\n'
        'msgstr "Deux\\n"\n'
        '"lignes"\n'
    )
    assert parse_po(po) == {"Two\nlines": "Deux\nlignes"}
    translator = Translator({"fr": {"Hello {name}!": "Bonjour {name} !"}, "en": {}})
    assert translator._("Hello {name}!", name="Camille") == "Bonjour Camille !"
    translator.switch("en")
    assert translator._("Hello {name}!", name="Camille") == "Hello Camille!"
    assert set(LANGUAGES) == {"fr", "en"}


def test_the_session_refuses_unknown_languages() -> None:
    from edge.session import ShopperSession

    session = ShopperSession(None, str, clock=lambda: 0.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unsupported language"):
        session.set_language("de")


def test_no_message_is_translated_twice() -> None:
    # A second entry would silently win over the first (msgfmt refuses the file).
    text = (LOCALES / "fr.po").read_text(encoding="utf-8")
    ids = re.findall(r'^msgid (".*")$', text, flags=re.MULTILINE)
    assert sorted(ident for ident in set(ids) if ids.count(ident) > 1) == []
