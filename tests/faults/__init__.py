"""A store's worst day, scripted: the fault campaign behind `make faults`.

Each scenario runs the real runtime (`borne simulate`, `borne edge`) as a subprocess
against a real mosquitto on loopback and real SQLite files (on a small tmpfs where the
disk must fill), does to it what a store's bad day does (a full disk, a held lock,
damaged pages, a lost write-ahead log, a twin kiosk, a crashing broker, a clock that
jumps, a broker that refuses), then counts what a platform subscriber received against
what the outbox accepted. `python -m tests.faults [--quick] [--json OUT]`.
"""
