"""Backtests and optimisation: bar series, vectorised sweeps of a strategy over a parameter
grid, the event-driven replay through the one engine (`engine/`) the hot path runs, and the
metrics of both.

Pure computation (numpy, numba, polars); data comes in as arrays and frames, results leave
as plain objects. Activities and the CLI do the I/O around it.
"""
