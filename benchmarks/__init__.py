"""Throughput harnesses; results are committed beside them."""
