"""Errors of the feed importers: a file refused whole, or one value refused in a row."""

from __future__ import annotations

from devices.errors import BorneError


class FeedError(BorneError):
    """A feed file is refused whole: unreadable, not UTF-8, too big, unsafe XML, unknown kind.

    Names the file, and the line when it is known. Never carries the file's content.
    """

    def __init__(self, file: str, reason: str, line: int | None = None) -> None:
        where = file if line is None else f"{file}:{line}"
        super().__init__(f"{where}: {reason}")
        self.file = file
        self.line = line
        self.reason = reason


class FeedValueError(BorneError):
    """One attribute of one row is refused; the row is rejected, the rest of the file goes on.

    The reason never quotes the value: reviews carry people's names and words.
    """

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
