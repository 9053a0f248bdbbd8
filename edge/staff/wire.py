"""What the kiosk and the hub must spell alike for staff mode: one definition each."""

from __future__ import annotations

import re

# A staff badge's NFC record is read as this prefix and the badge id (the reader's own
# format): the pseudonym the kiosk makes of a tap and the hub of its staff feed agree.
from devices.nfc.card_formats import STAFF_PREFIX

__all__ = ["ORDER_NUMBER", "STAFF_PREFIX", "TOPIC_LEVEL", "assist_topic"]
# A click & collect order's number, as printed in its confirmation e-mail and QR code.
ORDER_NUMBER = re.compile(r"[A-Z0-9-]{4,32}")
# A store or device id as one MQTT topic level: no wildcard, separator or control character.
TOPIC_LEVEL = re.compile(r"[^\x00-\x1f\x7f/+#]{1,64}")


def assist_topic(store_id: str) -> str:
    """Where the hub publishes, retained, a store's open advisor calls."""
    return f"borne/v1/stores/{store_id}/assist"
