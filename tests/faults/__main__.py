"""`python -m tests.faults [--quick] [--json OUT] [--only 1,5]`: run the campaign, print
its table; exit 1 if a row does not read as it must."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tests.faults.campaign import as_json, needs_root, run_campaign
from tests.faults.report import print_table
from tests.faults.scenario import Row


def main() -> int:
    """Run the campaign from the command line."""
    parser = argparse.ArgumentParser(prog="python -m tests.faults", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="the short form (make test's)")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    parser.add_argument("--only", help="comma-separated scenario numbers")
    parser.add_argument("--keep", type=Path, help="run in this folder and keep its files")
    args = parser.parse_args()
    problem = needs_root()
    if problem:
        print(f"faults: {problem}", file=sys.stderr)
        return 2
    only = {int(n) for n in args.only.split(",")} if args.only else None

    def progress(row: Row) -> None:
        state = "ok" if row.ok else "FAILS"
        print(f"faults: {row.number} {row.name}: {state} ({row.seconds:.0f} s)", file=sys.stderr)

    rows = run_campaign(quick=args.quick, only=only, folder=args.keep, progress=progress)
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps(as_json(rows, quick=args.quick), indent=2, default=str))
    return 0 if all(row.ok for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
