"""Benchmarks: scripts that print medians and ratios measured side by side in one run.

Run them on demand (`python -m benchmarks.<name> --help`); tests/test_benchmarks_smoke.py runs
each at tiny sizes so they never rot. They are never timed tests.
"""
