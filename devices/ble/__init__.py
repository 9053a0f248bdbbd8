"""BLE beacons: pure frame parsers, and scanning through bleak (real or replayed)."""
