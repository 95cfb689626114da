"""Benchmarks: numbers printed by a script, never asserted by tests.

    python -m benchmarks                    # everything; writes benchmarks/results/latest.json
    python -m benchmarks --only demos       # rows whose group or name contains "demos"
    python -m benchmarks --list             # the available groups
"""
