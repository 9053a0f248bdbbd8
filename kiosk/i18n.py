"""Translations: gettext PO catalogs, French first, switched live.

Messages are written in English in the code and kv files (`app.tr._(message)`) and
translated from `assets/locales/<language>.po`. The translator is a Kivy
`Observable`: kv rules that call `app.tr._` are re-evaluated when the language changes.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from kivy.event import Observable

LOCALES = Path(__file__).resolve().parent.parent / "assets" / "locales"
LANGUAGES = ("fr", "en")


def parse_po(text: str) -> dict[str, str]:
    """msgid -> msgstr of a PO file (no plurals or contexts: the kiosk needs none)."""
    catalog: dict[str, str] = {}
    entry: dict[str, list[str]] = {"msgid": [], "msgstr": []}
    field = "msgid"

    def keep() -> None:
        msgid, msgstr = "".join(entry["msgid"]), "".join(entry["msgstr"])
        if msgid and msgstr:
            catalog[msgid] = msgstr
        entry["msgid"], entry["msgstr"] = [], []

    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("msgid "):
            keep()
            field, line = "msgid", line.removeprefix("msgid ")
        elif line.startswith("msgstr "):
            field, line = "msgstr", line.removeprefix("msgstr ")
        if line.startswith('"'):
            entry[field].append(ast.literal_eval(line))  # a C-style quoted string
    keep()
    return catalog


class Translator(Observable):  # type: ignore[misc]
    """`_()` in the current language; kv rules bound to it follow a switch."""

    def __init__(self, catalogs: dict[str, dict[str, str]], language: str = "fr") -> None:
        super().__init__()
        self._catalogs = catalogs
        self.language = language
        self._observers: list[tuple[Any, tuple[Any, ...], dict[str, Any]]] = []

    @classmethod
    def load(cls, folder: Path = LOCALES) -> Translator:
        """The kiosk's catalogs: one PO file per language other than the source English."""
        catalogs: dict[str, dict[str, str]] = {language: {} for language in LANGUAGES}
        for language in LANGUAGES:
            path = folder / f"{language}.po"
            if path.exists():
                catalogs[language] = parse_po(path.read_text(encoding="utf-8"))
        return cls(catalogs)

    def _(self, message: str, **values: Any) -> str:
        """`message` translated, then formatted with `values`."""
        text = self._catalogs.get(self.language, {}).get(message, message)
        return text.format(**values) if values else text

    def switch(self, language: str) -> None:
        """Change language and refresh every kv rule that called `_`."""
        if language == self.language:
            return
        self.language = language
        gone = []
        for observer in list(self._observers):
            callback, args, _ = observer
            try:
                callback(*args, None, None)  # what kv bound: its rule, then instance and value
            except ReferenceError:
                # The widget that rule was for is gone (a row of a list that shrank):
                # kv only holds it weakly. Compared by identity: its proxy cannot be.
                gone.append(observer)
        if gone:
            self._observers = [kept for kept in self._observers if all(kept is not g for g in gone)]

    # kv binds to the attribute `_` of the translator when a rule calls `app.tr._(...)`.
    def fbind(self, name: str, func: Any, *args: Any, **kwargs: Any) -> Any:
        if name == "_":
            self._observers.append((func, args, kwargs))
            return 0
        return super().fbind(name, func, *args, **kwargs)

    def funbind(self, name: str, func: Any, *args: Any, **kwargs: Any) -> Any:
        if name == "_":
            entry = (func, args, kwargs)
            if entry in self._observers:
                self._observers.remove(entry)
            return None
        return super().funbind(name, func, *args, **kwargs)
