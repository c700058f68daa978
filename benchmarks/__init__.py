"""Benchmarks of the Ovopark integration against the simulator: `python -m benchmarks`."""
