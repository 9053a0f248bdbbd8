"""The kiosk: a thin Kivy view over the edge runtime, and the `borne` command."""
