"""Reading a feed file safely: a size limit, UTF-8 only, TSV rows, JSON Lines, defused XML.

Everything here refuses the whole file with a `FeedError` naming it; judging rows is
left to the record builders.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element, ParseError, TreeBuilder

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from edge.hub.feeds.errors import FeedError
from edge.hub.feeds.fields import Row

MAX_FEED_BYTES = 256 * 1024 * 1024  # a whole chain's catalog is far below this
GOOGLE_NS = "http://base.google.com/ns/1.0"
ATOM_NS = "http://www.w3.org/2005/Atom"
_BOM = "\ufeff"
_DECLARED_ENCODING = re.compile(r"""<\?xml[^>]*?\sencoding\s*=\s*["']([^"']*)["']""")
_UTF8_NAMES = {"utf-8", "utf8"}


@dataclass(frozen=True, slots=True)
class TsvFeed:
    """A tab-separated feed: its normalised header and its rows with their line numbers."""

    header: tuple[str, ...]
    rows: tuple[tuple[int, Row | None], ...]  # None: more cells than the header names


@dataclass(frozen=True, slots=True)
class MalformedLine:
    """A line of a JSON Lines feed that is not JSON (why, never its text)."""

    reason: str


@dataclass(frozen=True, slots=True)
class JsonLinesFeed:
    """A JSON Lines feed: each non-blank line's number, and the value it holds."""

    lines: tuple[tuple[int, Any], ...]  # a MalformedLine where the line is not JSON

    def first_value(self) -> Any:
        """The first line's value (None for an empty file)."""
        return self.lines[0][1] if self.lines else None


@dataclass(frozen=True, slots=True)
class XmlFeed:
    """A parsed XML feed and the line each element starts on."""

    root: Element
    lines: dict[Element, int]

    def line_of(self, element: Element) -> int:
        """The line the element's start tag is on."""
        return self.lines.get(element, 0)


def read_text(path: Path, max_bytes: int = MAX_FEED_BYTES) -> str:
    """The file's text; refuses a file over `max_bytes`, unreadable or not UTF-8."""
    try:
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)  # never more than the limit, even if it grows
    except OSError as error:
        raise FeedError(str(path), f"cannot be read ({error.strerror or 'I/O error'})") from None
    if len(data) > max_bytes:
        raise FeedError(str(path), f"larger than the limit of {max_bytes} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise FeedError(str(path), "is not UTF-8 text", line) from None


def looks_like_xml(text: str) -> bool:
    """Whether the text starts (after a BOM and blank space) with a tag."""
    return text.lstrip(_BOM).lstrip().startswith("<")


def looks_like_json_lines(text: str) -> bool:
    """Whether the text starts (after a BOM and blank space) with a JSON object."""
    return text.lstrip(_BOM).lstrip().startswith("{")


def split_json_lines(text: str) -> JsonLinesFeed:
    """Parses each line of JSON Lines text; blank lines are skipped.

    Split on "\\n" only, as TSV is, so line numbers match an editor's. A line too deeply
    nested for the parser is malformed, like one that is not JSON at all.
    """
    lines: list[tuple[int, Any]] = []
    for number, line in enumerate(text.lstrip(_BOM).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            lines.append((number, json.loads(line)))
        except ValueError:
            lines.append((number, MalformedLine("not valid JSON")))
        except RecursionError:
            lines.append((number, MalformedLine("nested too deeply")))
    return JsonLinesFeed(lines=tuple(lines))


def header_name(cell: str) -> str:
    """ "Image Link" and "image_link" both name `image_link`."""
    return "_".join(cell.strip().lower().split())


def split_tsv(text: str) -> TsvFeed:
    """Splits tab-separated text into a header and rows; blank lines are skipped.

    Lines are split on "\\n" only (CRLF's "\\r" is dropped), so line numbers match what
    an editor shows; `str.splitlines` would also break on characters found inside values.
    """
    lines = text.lstrip(_BOM).split("\n")
    header = tuple(header_name(cell) for cell in lines[0].rstrip("\r").split("\t"))
    rows: list[tuple[int, Row | None]] = []
    for number, line in enumerate(lines[1:], start=2):
        cells = line.rstrip("\r").split("\t")
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) > len(header):
            rows.append((number, None))
            continue
        values: dict[str, tuple[str, ...]] = {}
        for name, cell in zip(header, cells, strict=False):
            if cell.strip():
                values[name] = (*values.get(name, ()), cell.strip())
        rows.append((number, Row(values)))
    return TsvFeed(header=header, rows=tuple(rows))


class _LineRecorder(TreeBuilder):
    """A tree builder that notes the line each element starts on, for error reports."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: dict[Element, int] = {}
        # set by parse_xml once the parser exists: the parser needs the builder first
        self.current_line: Callable[[], int] = lambda: 0

    def start(self, tag: str, attrs: dict[str, str]) -> Element:
        element = super().start(tag, attrs)
        self.lines[element] = self.current_line()
        return element


def parse_xml(path: Path, text: str) -> XmlFeed:
    """Parses XML with DTDs, entities and external references all refused."""
    declared = _DECLARED_ENCODING.match(text.lstrip(_BOM).lstrip())
    if declared is not None and declared.group(1).lower() not in _UTF8_NAMES:
        # the bytes were checked as UTF-8: another declared encoding would garble every accent
        raise FeedError(str(path), "declares an encoding other than UTF-8", 1)
    recorder = _LineRecorder()
    parser = DefusedXMLParser(
        target=recorder, forbid_dtd=True, forbid_entities=True, forbid_external=True
    )
    recorder.current_line = lambda: int(parser.parser.CurrentLineNumber)
    try:
        parser.feed(text.lstrip(_BOM).encode("utf-8"))
        root = parser.close()
    except ParseError as error:
        line, _column = error.position
        raise FeedError(
            str(path), f"is not well-formed XML ({_expat_reason(error)})", line
        ) from None
    except DefusedXmlException:
        line = int(parser.parser.CurrentLineNumber)
        raise FeedError(
            str(path), "declares a DTD or entities, refused (XML bombs, external entities)", line
        ) from None
    if not isinstance(root, Element):
        raise FeedError(str(path), "is not an XML document")
    return XmlFeed(root=root, lines=recorder.lines)


def _expat_reason(error: ParseError) -> str:
    """Expat's reason without its position (reported separately)."""
    return str(error).split(":", 1)[0]


def local_name(tag: str) -> str:
    """ "{http://base.google.com/ns/1.0}price" -> "price"."""
    return tag.rsplit("}", 1)[-1]


def namespace(tag: str) -> str:
    """ "{http://base.google.com/ns/1.0}price" -> "http://base.google.com/ns/1.0"."""
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


def item_row(item: Element) -> Row:
    """An RSS item's or Atom entry's attributes: `g:` elements and the plain RSS/Atom ones.

    An Atom `<link>` carries its address in `href`. Elements of other namespaces are
    someone else's extensions and ignored.
    """
    values: dict[str, tuple[str, ...]] = {}
    for child in item:
        if not isinstance(child.tag, str) or namespace(child.tag) not in {"", GOOGLE_NS, ATOM_NS}:
            continue
        name = local_name(child.tag)
        text = child.get("href") if namespace(child.tag) == ATOM_NS and name == "link" else None
        text = (text if text is not None else child.text or "").strip()
        if text:
            values[name] = (*values.get(name, ()), text)
    return Row(values)
