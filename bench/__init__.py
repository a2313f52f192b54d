"""Benchmarks (not tests): each measures the app against a baseline taken in the same run."""
