"""`borne hub import`: a retailer's feeds become the stores' versioned streams.

A bad row is reported with its file, line and field and the rest is imported; a bad
file is refused whole and the other files still go in; a changed quantity becomes one
new version of the stock stream, holding only that product. The demo store's committed
feeds give every store of the demo its streams, in SQLite or in PostgreSQL; a loyalty
feed of card numbers goes in keyed by the retailer's secret, or is refused without it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.demo import DEMO_CATALOG, DEMO_SECRET
from edge.hub.config import load_hub_config
from edge.hub.feeds.demo_export import export_demo_store
from edge.hub.streams import STREAMS, StreamStore
from edge.sync.messages import ChangeSet, Stream, parse_message
from tests.conftest import TESTDATA, borne
from tests.postgres import SUPERUSER, PostgresServer

DEMO_FEEDS = DEMO_CATALOG.parent / "feeds"
DEMO_STORES = ("lille-01", "lyon-01", "paris-01")


def hub_config(folder: Path, *extra: str) -> Path:
    path = folder / "hub.toml"
    lines = ["[store]", f'data_dir = "{folder / "hub"}"', *extra]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL on loopback for this module, stopped by its pid."""
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.stop()


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


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_the_demo_stores_committed_feeds_give_every_demo_store_its_streams(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    extra: list[str] = []
    if backend == "postgres":
        server: PostgresServer = request.getfixturevalue("postgres_server")
        server.new_database()
        name = f"borne_{server.databases}"
        extra = [f'url = "postgresql://{SUPERUSER}@127.0.0.1:{server.port}/{name}"']
    # The demo's staff feed gives badges: the demo's key makes their pseudonyms.
    config = hub_config(tmp_path, *extra, "[privacy]", f'pseudonym_key_file = "{DEMO_SECRET}"')
    feeds = sorted(DEMO_FEEDS.iterdir())

    result = borne("hub", "import", "--config", str(config), *map(str, feeds))

    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["files"], summary["rows_left_out"]) == (len(feeds), 0)
    assert summary["versions"] == {
        f"{store_id}/{stream}": 1 for store_id in DEMO_STORES for stream in STREAMS
    }
    streams = load_hub_config(config).store.open_streams()
    try:
        assert streams.stores() == list(DEMO_STORES)
        demo = json.loads(DEMO_CATALOG.read_text(encoding="utf-8"))
        for store_id in DEMO_STORES:
            customers = streams.items(store_id, Stream.CUSTOMERS)
            assert set(customers) == {customer["pseudonym"] for customer in demo["customers"]}
            assert len(streams.items(store_id, Stream.CATALOG)) == len(demo["products"])
    finally:
        streams.close()


def test_a_loyalty_feed_of_card_numbers_goes_in_keyed_or_is_refused_without_the_key(
    tmp_path: Path,
) -> None:
    cards = TESTDATA / "feeds" / "customers-cards.jsonl"
    products, paris = DEMO_FEEDS / "products.tsv", DEMO_FEEDS / "inventory-paris-01.tsv"
    unkeyed = borne(
        "hub",
        "import",
        "--config",
        str(hub_config(tmp_path)),
        str(products),
        str(paris),
        str(cards),
    )
    assert unkeyed.returncode == 1
    assert "customers-cards.jsonl:1: gives card numbers" in unkeyed.stderr
    assert json.loads(unkeyed.stdout)["files"] == 2  # the other feeds still went in

    keyed_config = hub_config(tmp_path, "[privacy]", f'pseudonym_key_file = "{DEMO_SECRET}"')
    keyed = borne("hub", "import", "--config", str(keyed_config), str(cards))

    assert keyed.returncode == 0, keyed.stderr
    streams = StreamStore(tmp_path / "hub" / "streams.sqlite")
    try:
        customers = streams.items("paris-01", Stream.CUSTOMERS)
    finally:
        streams.close()
    demo = json.loads(DEMO_CATALOG.read_text(encoding="utf-8"))
    by_name = {customer["first_name"]: customer["pseudonym"] for customer in demo["customers"]}
    # The kiosks know Camille and Mehdi by these pseudonyms when they tap their cards.
    assert {value["first_name"]: key for key, value in customers.items()} == {
        "Camille": by_name["Camille"],
        "Mehdi": by_name["Mehdi"],
    }


def test_a_pseudonym_key_that_cannot_be_read_stops_the_import_before_any_file(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "absent.key"
    config = hub_config(tmp_path, "[privacy]", f'pseudonym_key_file = "{missing}"')
    result = borne("hub", "import", "--config", str(config), str(DEMO_FEEDS / "products.tsv"))
    assert result.returncode == 2
    assert "privacy.pseudonym_key_file" in result.stderr
    assert not (tmp_path / "hub" / "streams.sqlite").exists()
