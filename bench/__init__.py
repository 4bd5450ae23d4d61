"""Benchmarks (not timed tests): `python -m bench.reconcile --help`."""
