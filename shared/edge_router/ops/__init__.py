"""Operator tools' logic, apart from their command-line front ends in `cli/`.

    usage.py    the per-key usage report (`edge-router usage`, SPEC §13)
"""
