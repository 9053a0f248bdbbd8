"""Benchmarks: one command (`make bench`), a table, JSON out, ratios to a same-run baseline."""
