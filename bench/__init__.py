"""Hearth benchmarks: standalone scripts (docs/benchmarks.md)."""
