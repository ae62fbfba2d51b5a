"""Benchmarks of CareLoop's store paths; see docs/performance.md."""
