"""The campaign's table: rich on a terminal, plain text when piped (and in the README)."""

from __future__ import annotations

import json
import sys
from typing import TextIO

from tests.faults.scenario import Row

HEADERS = ("#", "scenario", "produced", "delivered", "missing", "dup", "two ids", "exits", "s")


def _cells(row: Row) -> list[str]:
    figures = row.figures
    counts = (
        [figures.produced, figures.delivered, figures.missing, figures.duplicated, figures.two_ids]
        if figures
        else ["-"] * 5
    )
    exits = ", ".join(row.exits) or "-"
    return [str(row.number), row.name, *map(str, counts), exits, f"{row.seconds:.0f}"]


def details(row: Row) -> list[str]:
    """What the row's figures do not say: its facts, then what the runtimes logged."""
    lines = [f"{key}: {json.dumps(value, default=str)}" for key, value in row.facts.items()]
    lines += [f"log: {line}" for line in row.errors[:6]]
    if len(row.errors) > 6:
        lines.append(f"log: ... {len(row.errors) - 6} more")
    return lines


def plain_table(rows: list[Row]) -> str:
    """The table as plain text: one line per scenario, its verdict and details below it."""
    cells = [list(HEADERS)] + [_cells(row) for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(HEADERS))]
    out = []
    for n, line in enumerate(cells):
        out.append("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))
        if n == 0:
            out.append("  ".join("-" * width for width in widths))
            continue
        row = rows[n - 1]
        out.append(f"     {'ok' if row.ok else 'FAILS'}: {row.verdict}")
        out += [f"       {line}" for line in details(row)]
    return "\n".join(out)


def print_table(rows: list[Row], stream: TextIO = sys.stdout) -> None:
    """Print the table: rich's on a terminal, the plain one otherwise."""
    if not stream.isatty():
        print(plain_table(rows), file=stream)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="A store's worst day: the fault campaign", show_lines=True)
    for header in (*HEADERS, "verdict"):
        table.add_column(header, overflow="fold")
    for row in rows:
        verdict = f"[green]{row.verdict}[/]" if row.ok else f"[red]{row.verdict}[/]"
        extra = "\n".join(details(row))
        table.add_row(*_cells(row), f"{verdict}\n[dim]{extra}[/]")
    Console(file=stream).print(table)
