"""`borne hub import`: retailer feeds into the stores' streams, then out to the kiosks."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edge.hub.config import HubConfig
    from edge.hub.feeds import CardPseudonym


def hub_import(config: HubConfig, files: list[Path]) -> int:
    """Read every feed, report what is refused, import the rest in one transaction."""
    from edge.hub.feeds import FeedError, read_feed
    from edge.hub.publisher import ChangePublishError, new_change_sets, publish_change_sets

    card_pseudonym = _card_pseudonym(config)
    results, status = [], 0
    for path in files:
        try:
            result = read_feed(path, card_pseudonym=card_pseudonym)
        except FeedError as error:  # a bad file is refused whole; the others go on
            print(f"borne: refused: {error}", file=sys.stderr)
            status = 1
            continue
        for rejection in result.rejected:  # a bad row is reported, the rest imported
            print(f"borne: row left out: {rejection}", file=sys.stderr)
        results.append(result)
    if not results:
        return status
    streams = config.store.open_streams()
    try:
        report = streams.import_feeds(results)
        outgoing = new_change_sets(streams, report.versions)
    finally:
        streams.close()
    # Committed whatever happens next: a kiosk that misses a change set resyncs.
    published, link = 0, "no broker configured: kiosks get the changes when they resync"
    if config.mqtt.host:
        try:
            published = publish_change_sets(config.mqtt, outgoing)
            link = "published"
        except ChangePublishError as error:
            published, link = error.published, f"not published: {error.reason}"
            print(f"borne: change sets {link}; kiosks will resync", file=sys.stderr)
    summary = {
        "files": len(results),
        "records": sum(len(result.records) for result in results),
        "rows_left_out": sum(len(result.rejected) for result in results),
        "versions": {f"{store}/{stream}": v for (store, stream), v in report.versions.items()},
        "without_gtin": report.without_gtin,
        "unknown_ids": len(report.unknown_ids),
        "offers_of_unknown_products": report.unknown_offers,
        "refused_store_codes": list(report.refused_store_codes),
        "published": published,
        "link": link,
    }
    print(json.dumps(summary, ensure_ascii=False))
    return status


def _card_pseudonym(config: HubConfig) -> CardPseudonym | None:
    """The keyed pseudonym of a card number, when the retailer's secret is configured.

    Without it a loyalty feed must give pseudonyms (one giving card numbers is refused);
    a configured secret that cannot be read is a ConfigError, reported before any file.
    """
    from edge.pseudonym import Pseudonyms, load_secret

    if not config.privacy.pseudonym_key_file:
        return None
    return Pseudonyms.from_secret(load_secret(config.privacy.pseudonym_key_file)).card
