"""Benchmarks: each prints its figures beside a peer's, measured in the same run."""
