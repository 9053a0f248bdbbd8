"""`borne hub import`: a retailer's feeds become the stores' versioned streams.

A bad row is reported with its file, line and field and the rest is imported; a bad
file is refused whole and the other files still go in; a changed quantity becomes one
new version of the stock stream, holding only that product.
"""

from __future__ import annotations

import json
from pathlib import Path

from edge.demo import DEMO_CATALOG
from edge.hub.feeds.demo_export import export_demo_store
from edge.hub.streams import StreamStore
from edge.sync.messages import ChangeSet, Stream, parse_message
from tests.conftest import TESTDATA, borne


def hub_config(folder: Path) -> Path:
    path = folder / "hub.toml"
    path.write_text(f'[store]\ndata_dir = "{folder / "hub"}"\n')
    return path


def test_feeds_are_imported_bad_rows_and_files_reported_and_a_change_is_one_version(
    tmp_path: Path,
) -> None:
    feeds = export_demo_store(DEMO_CATALOG, tmp_path / "feeds")
    config = hub_config(tmp_path)
    xxe = TESTDATA / "feeds" / "bad-xxe.xml"

    first = borne("hub", "import", "--config", str(config), *map(str, feeds.all()), str(xxe))

    assert first.returncode == 1  # one file refused...
    assert "bad-xxe.xml" in first.stderr
    summary = json.loads(first.stdout)  # ...and every other one imported
    assert summary["files"] == len(feeds.all())
    assert summary["rows_left_out"] == 0
    assert summary["versions"]["paris-01/stock"] == 1
    assert summary["versions"]["lyon-01/catalog"] == 1

    # One quantity changes in the store's inventory feed: only that product moves.
    inventory = next(path for path in feeds.inventories if path.stem.endswith("paris-01"))
    lines = inventory.read_text(encoding="utf-8").splitlines()
    header, first_row = lines[0].split("\t"), lines[1].split("\t")
    quantity = header.index("quantity")
    first_row[quantity] = str(int(first_row[quantity]) + 5)
    broken_row = lines[2].split("\t")
    broken_row[quantity] = "-3"
    rows = [lines[0], "\t".join(first_row), *lines[2:], "\t".join(broken_row)]
    inventory.write_text("\n".join(rows) + "\n")

    second = borne("hub", "import", "--config", str(config), str(inventory))

    assert second.returncode == 0, second.stderr
    # A broken row: its file, line and field named, and the rest of the file imported.
    assert f"{inventory.name}:{len(rows)}: quantity:" in second.stderr
    assert json.loads(second.stdout)["versions"]["paris-01/stock"] == 2
    streams = StreamStore(tmp_path / "hub" / "streams.sqlite")
    try:
        changes = streams.changes_since("paris-01", Stream.STOCK, 1)
    finally:
        streams.close()
    assert changes is not None
    assert len(changes) == 1
    change_set = parse_message(json.dumps(changes[0]).encode(), "paris-01")
    assert isinstance(change_set, ChangeSet)
    assert change_set.version == 2
    assert len(change_set.changes) == 1
    assert change_set.changes[0].value is not None
    assert change_set.changes[0].value["here"] == int(first_row[quantity])


def test_a_hub_import_of_only_bad_files_imports_nothing(tmp_path: Path) -> None:
    config = hub_config(tmp_path)
    result = borne(
        "hub", "import", "--config", str(config), str(TESTDATA / "feeds" / "bad-latin1.tsv")
    )
    assert result.returncode == 1
    assert "bad-latin1.tsv" in result.stderr
    assert not (tmp_path / "hub" / "streams.sqlite").exists()
