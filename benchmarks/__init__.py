"""Benchmarks of the tap against the offline sandbox (not part of the package)."""
