"""Benchmarks (``make bench``); results are recorded in ``bench/RESULTS.md``."""
