"""The platform link, downward: versioned streams the kiosk keeps a local copy of."""
