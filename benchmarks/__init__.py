"""Benchmarks that hold Ledgerflow to the contract in BENCHMARKS.md."""
