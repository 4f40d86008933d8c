"""Benchmarks: each prints a table and writes JSON next to it (`python -m bench.<name> --help`)."""
