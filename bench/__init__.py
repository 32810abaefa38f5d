"""Baton's benchmarks: ratios measured side by side, printed as one table (not a test)."""
