"""The edge runtime: sessions, catalog, events, the durable outbox and the MQTT link.

Runs headless (`borne edge`) as well as under the kiosk; never imports Kivy.
"""
