"""Hardware turned into typed, immutable readings.

Knows nothing of sessions, MQTT or Kivy. Each device kind is one facade over
backends: the real one and a simulated one that plugs in at the hardware boundary.
"""
