"""Staff mode: a sales associate's badge and PIN, the customer's 360° view, pickups and
the store's advisor calls (see edge/staff/view.py for what the screens are given)."""
