"""Benchmarks against the tools users would otherwise pick (see docs/performance.md).

Run ``python -m benchmarks`` (``--quick`` for a run under two minutes).
"""
