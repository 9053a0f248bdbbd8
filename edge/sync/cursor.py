"""Where the kiosk stands in each stream, and what to do with the next message.

Pure decisions, no I/O: the caller applies, stores and asks. A change applies only
on top of the version before it, in the same epoch; anything older is a duplicate
the broker redelivered; anything newer means changes were missed, and the kiosk
resyncs (changes since its version, or a snapshot when the platform no longer has
them). A snapshot is applied only once every one of its pages is in, and changes
that arrive meanwhile are held (a bounded number) and applied after it if they
follow on.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from edge.sync.messages import ChangeSet, SnapshotPage, Stream


@dataclass(frozen=True, slots=True)
class Position:
    """The last version of a stream the kiosk holds whole (version 0: nothing yet)."""

    stream: Stream
    epoch: str = ""
    version: int = 0


@dataclass(frozen=True, slots=True)
class Apply:
    """Apply these changes, then hold `position`."""

    changes: ChangeSet
    position: Position


@dataclass(frozen=True, slots=True)
class Skip:
    """Already held: a redelivery."""


@dataclass(frozen=True, slots=True)
class Resync:
    """Ask the platform for what is missing since `since` (a snapshot if it is too old)."""

    since: Position
    reason: str


Decision = Apply | Skip | Resync


def decide(position: Position, changes: ChangeSet) -> Decision:
    """What to do with a change set, given what the kiosk holds."""
    if not position.epoch:
        return Resync(position, "nothing held yet")
    if changes.epoch != position.epoch:
        return Resync(position, f"the platform renumbered (epoch {changes.epoch})")
    if changes.version <= position.version:
        return Skip()
    if changes.version > position.version + 1:
        missed = f"{position.version + 1}..{changes.version - 1}"
        return Resync(position, f"versions {missed} never came")
    return Apply(changes, replace(position, version=changes.version))


@dataclass(slots=True)
class SnapshotAssembly:
    """The pages of one snapshot coming in, and the change sets held meanwhile."""

    MAX_HELD = 1_000  # change sets held while a snapshot comes; beyond, resync again

    stream: Stream
    epoch: str = ""
    version: int = 0
    pages: int = 0
    received: dict[int, SnapshotPage] = field(default_factory=dict)
    held: dict[tuple[str, int], ChangeSet] = field(default_factory=dict)
    overflowed: bool = False

    def add_page(self, page: SnapshotPage) -> None:
        """Take a page; a page of another snapshot (newer) starts the assembly again."""
        if (page.epoch, page.version, page.pages) != (self.epoch, self.version, self.pages):
            self.epoch, self.version, self.pages = page.epoch, page.version, page.pages
            self.received = {}
        self.received[page.page] = page

    def hold(self, changes: ChangeSet) -> None:
        """Keep a change set that arrived during the snapshot, to apply after it."""
        if len(self.held) >= self.MAX_HELD:
            self.overflowed = True  # the snapshot will be followed by a resync
            return
        self.held[(changes.epoch, changes.version)] = changes

    @property
    def complete(self) -> bool:
        """Whether every page of the snapshot is in."""
        return self.pages > 0 and len(self.received) == self.pages

    def position(self) -> Position:
        """Where the kiosk stands once the snapshot is applied."""
        return Position(self.stream, self.epoch, self.version)

    def items(self) -> list[SnapshotPage]:
        """The pages in order (only when complete)."""
        if not self.complete:
            raise ValueError("the snapshot is not complete")
        return [self.received[number] for number in range(1, self.pages + 1)]

    def following(self) -> list[ChangeSet]:
        """The held change sets that follow on from the snapshot, in order."""
        after = []
        version = self.version
        while (found := self.held.get((self.epoch, version + 1))) is not None:
            after.append(found)
            version += 1
        return after
