"""Benchmarks and load tests (python -m loadtests.bench_*)."""
