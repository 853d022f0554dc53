"""Benchmark harnesses comparing ptn's engines with peer tools (see docs/benchmarks.md).

They need the ``bench`` extra (``pip install -e .[bench]``: AequilibraE, pytraf, pandas), which
the engines themselves never import.
"""
